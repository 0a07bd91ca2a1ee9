package presence

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// publishReq is a checked PUBLISH, handed to the presentity's shard.
type publishReq struct {
	tx          *sipnet.ServerTx
	presentity  string
	event       string
	etag        string // SIP-If-Match, "" for an initial publication
	expires     int    // granted, seconds
	contentType string
	body        []byte // nil for a refresh
	sender      string
}

// handlePublish checks a PUBLISH as RFC 3903 section 6 orders it (event,
// body type and content, then entity-tag and expiry) and hands it to the
// presentity's shard. It runs on a SIP worker goroutine.
func (s *Server) handlePublish(tx *sipnet.ServerTx) {
	if tx.RejectUnsupported() {
		return
	}
	req := tx.Request()
	name, _, ok := eventHeader(req)
	pkg := s.pkgs[name]
	if !ok || pkg == nil {
		s.reply(tx, 489, "Bad Event", sip.NewHeader("Allow-Events", strings.Join(s.events, ", ")))
		return
	}
	if !s.domains.Serves(req.Recipient.Host) {
		s.reply(tx, 404, "Not Found (domain not served)")
		return
	}
	if req.Recipient.User == "" {
		s.reply(tx, 404, "Not Found (no user in Request-URI)")
		return
	}
	exp, err := expiresHeader(req)
	if err != nil {
		s.reply(tx, 400, "Bad Request (malformed Expires)")
		return
	}
	if exp < 0 {
		exp = s.cfg.DefaultExpiresPublish
	}
	etag, hasETag := header(req, "SIP-If-Match")
	etag = strings.TrimSpace(etag)
	if hasETag && etag == "" {
		s.reply(tx, 400, "Bad Request (empty SIP-If-Match)")
		return
	}
	r := publishReq{tx: tx, presentity: sipaddr.AOR(req.Recipient), event: name, etag: etag}
	body := req.Body()
	if len(body) > s.cfg.MaxBodySize {
		s.reply(tx, 413, "Request Entity Too Large")
		return
	}
	if len(body) > 0 {
		ct := contentType(req)
		if !slices.Contains(pkg.ContentTypes(), ct) {
			s.reply(tx, 415, "Unsupported Media Type", sip.NewHeader("Accept", strings.Join(pkg.ContentTypes(), ", ")))
			return
		}
		b, err := pkg.Prepare(ct, body)
		if err != nil {
			s.reply(tx, 400, phrase("Bad Request (invalid body)", err))
			return
		}
		r.contentType, r.body = ct, b
	} else if !hasETag && exp != 0 {
		s.reply(tx, 400, "Bad Request (initial PUBLISH needs a body)")
		return
	}
	if exp != 0 && exp < s.cfg.MinExpiresPublish {
		s.reply(tx, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(s.cfg.MinExpiresPublish)))
		return
	}
	r.expires = min(exp, s.cfg.MaxExpiresPublish)
	if name == "dialog;sla" {
		if v, ok := header(req, s.cfg.SLA.SenderHeader); ok {
			r.sender = strings.TrimSpace(v)
		}
	}
	sh := s.shardOf(r.presentity)
	sh.Do(func() { sh.publish(r) })
}

// publish applies a checked PUBLISH on the shard goroutine.
func (sh *pshard) publish(r publishReq) {
	s := sh.srv
	t := now()
	if r.etag == "" {
		if r.expires == 0 {
			// An initial PUBLISH asking for no time at all: nothing to keep.
			s.reply(r.tx, 200, "OK", sip.NewHeader("Expires", "0"))
			return
		}
		p := sh.presentity(r.presentity, true)
		es := sh.eventState(p, r.event, true)
		ps := &pubState{
			Publication: Publication{
				ID: newID(), Presentity: r.presentity, Event: r.event, ETag: s.newETag(),
				Expires: t.Add(time.Duration(r.expires) * time.Second), Updated: t,
				ContentType: r.contentType, Body: r.body, Sender: r.sender,
			},
		}
		ps.timer.Fire = func(now time.Time) { sh.pubExpired(p, es, ps, now) }
		es.pubs = append(es.pubs, ps)
		sh.Schedule(&ps.timer, ps.Expires)
		s.m.publications.Inc()
		sh.persistPub(ps, r.tx, r.expires)
		sh.notifyChange(p, es, Change{Pub: &ps.Publication})
		return
	}

	p := sh.presentity(r.presentity, false)
	var es *eventState
	var ps *pubState
	if p != nil {
		if es = p.event(r.event); es != nil {
			ps = es.pubByETag(r.etag)
		}
	}
	if ps == nil {
		s.reply(r.tx, 412, "Conditional Request Failed")
		return
	}
	if r.expires == 0 {
		old := ps.Publication
		if r.body != nil {
			// A final body, e.g. the dialogs as terminated: watchers see it.
			old.Body, old.ContentType, old.Updated = r.body, r.contentType, t
		}
		sh.removePub(p, es, ps)
		b := &Batch{DeletePublications: []PublicationKey{{ps.ID}}}
		s.commit.Submit(b, func(err error) {
			if err != nil {
				s.reply(r.tx, 500, "Server Internal Error (store)")
				return
			}
			s.reply(r.tx, 200, "OK", sip.NewHeader("SIP-ETag", old.ETag), sip.NewHeader("Expires", "0"))
		})
		sh.notifyChange(p, es, Change{Pub: &old, Removed: true})
		sh.gc(p)
		return
	}
	ps.ETag = s.newETag()
	ps.Expires = t.Add(time.Duration(r.expires) * time.Second)
	sh.Schedule(&ps.timer, ps.Expires)
	if r.body == nil {
		sh.persistPub(ps, r.tx, r.expires)
		return
	}
	old := ps.Publication
	ps.Body, ps.ContentType, ps.Updated = r.body, r.contentType, t
	if r.sender != "" {
		ps.Sender = r.sender
	}
	es.touchPub(ps)
	sh.persistPub(ps, r.tx, r.expires)
	sh.notifyChange(p, es, Change{Pub: &ps.Publication, Old: &old})
}

// persistPub writes a publication and answers its PUBLISH once committed.
func (sh *pshard) persistPub(ps *pubState, tx *sipnet.ServerTx, expires int) {
	s := sh.srv
	rec := ps.Publication.stored()
	s.commit.Submit(&Batch{PutPublications: []*Publication{&rec}}, func(err error) {
		if err != nil {
			s.reply(tx, 500, "Server Internal Error (store)")
			return
		}
		s.reply(tx, 200, "OK", sip.NewHeader("SIP-ETag", rec.ETag), sip.NewHeader("Expires", strconv.Itoa(expires)))
	})
}

// removePub takes a publication out of the state (not the store).
func (sh *pshard) removePub(p *presentity, es *eventState, ps *pubState) {
	es.removePub(ps)
	sh.Cancel(&ps.timer)
	sh.srv.m.publications.Dec()
}

// pubExpired removes a publication that was not refreshed in time and
// tells its watchers.
func (sh *pshard) pubExpired(p *presentity, es *eventState, ps *pubState, now time.Time) {
	if ps.Expires.After(now) {
		sh.Schedule(&ps.timer, ps.Expires)
		return
	}
	sh.removePub(p, es, ps)
	sh.srv.commit.Submit(&Batch{DeletePublications: []PublicationKey{{ps.ID}}}, nil)
	sh.notifyChange(p, es, Change{Pub: &ps.Publication, Removed: true})
	sh.gc(p)
}

// reply answers a request (the SIP stack counts the responses by method
// and code: presenced_sip_responses_total).
func (s *Server) reply(tx *sipnet.ServerTx, code int, reason string, hdrs ...sip.Header) {
	if err := tx.Reply(code, reason, hdrs...); err != nil {
		s.log.Debug("reply failed", "code", code, "err", err)
	}
}
