package presence

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// subscribeReq is a checked SUBSCRIBE, handed to the presentity's shard.
type subscribeReq struct {
	tx         *sipnet.ServerTx
	id         string // dialog id when in-dialog
	presentity string
	event      string
	eventID    string
	expires    int
	callID     string
	fromTag    string
	fromURI    string
	fromName   string
	toURI      string
	contact    string // "" when the request has none
	routeSet   []string
	cseq       uint32
	transport  string
	source     string
}

// handleSubscribe checks a SUBSCRIBE (RFC 6665 section 4.2.1) and hands it
// to the shard of the presentity it is for. It runs on a SIP worker
// goroutine.
func (s *Server) handleSubscribe(tx *sipnet.ServerTx) {
	if tx.RejectUnsupported() {
		return
	}
	req := tx.Request()
	name, eventID, ok := eventHeader(req)
	if !ok || (s.pkgs[name] == nil && !s.isWinfo(name)) {
		s.reply(tx, 489, "Bad Event", sip.NewHeader("Allow-Events", strings.Join(s.events, ", ")))
		return
	}
	exp, err := expiresHeader(req)
	if err != nil {
		s.reply(tx, 400, "Bad Request (malformed Expires)")
		return
	}
	if exp < 0 {
		exp = s.cfg.DefaultExpiresSubscribe
	}
	if exp != 0 && exp < s.cfg.MinExpiresSubscribe {
		s.reply(tx, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(s.cfg.MinExpiresSubscribe)))
		return
	}
	exp = min(exp, s.cfg.MaxExpiresSubscribe)
	if !s.acceptable(req, name) {
		s.reply(tx, 406, "Not Acceptable", sip.NewHeader("Accept", s.contentTypeOf(name)))
		return
	}
	from, to, callID, cseq := req.From(), req.To(), req.CallID(), req.CSeq()
	if from == nil || to == nil || callID == nil || cseq == nil {
		s.reply(tx, 400, "Bad Request (missing From, To, Call-ID or CSeq)")
		return
	}
	fromTag, _ := from.Params.Get("tag")
	if fromTag == "" {
		s.reply(tx, 400, "Bad Request (missing From tag)")
		return
	}
	r := subscribeReq{
		tx: tx, event: name, eventID: eventID, expires: exp,
		callID: string(*callID), fromTag: fromTag, fromURI: from.Address.String(), fromName: from.DisplayName,
		toURI: to.Address.String(), cseq: cseq.SeqNo, transport: tx.Transport(), source: tx.Source().String(),
	}
	contacts := req.GetHeaders("Contact")
	if len(contacts) > 1 {
		s.reply(tx, 400, "Bad Request (more than one Contact)")
		return
	}
	if c := req.Contact(); c != nil {
		if c.Address.Wildcard || c.Address.Host == "" || (c.Address.Scheme != "sip" && c.Address.Scheme != "sips") {
			s.reply(tx, 400, "Bad Request (Contact is not a SIP URI with a host)")
			return
		}
		r.contact = c.Address.String()
	} else if len(contacts) == 1 {
		s.reply(tx, 400, "Bad Request (malformed Contact)")
		return
	}
	if toTag, _ := to.Params.Get("tag"); toTag != "" {
		r.id = r.callID + ";" + toTag + ";" + fromTag
		pres, ok := s.subs.Get(r.id)
		if !ok {
			s.reply(tx, 481, "Subscription Does Not Exist")
			return
		}
		r.presentity = pres
		sh := s.shardOf(pres)
		sh.Do(func() { sh.resubscribe(r) })
		return
	}
	if r.contact == "" {
		s.reply(tx, 400, "Bad Request (missing Contact)")
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
	r.presentity = sipaddr.AOR(req.Recipient)
	if name == "dialog;sla" && s.cfg.SLA.PresentityFromContact {
		// Polycom phones address the line as Contact user @ From domain.
		if c := req.Contact(); c != nil && c.Address.User != "" {
			r.presentity = sipaddr.Make(c.Address.User, from.Address.Host)
		}
	}
	for _, h := range req.GetHeaders("Record-Route") {
		if rr, ok := h.(*sip.RecordRouteHeader); ok {
			r.routeSet = append(r.routeSet, "<"+rr.Address.String()+">")
		} else {
			r.routeSet = append(r.routeSet, h.Value())
		}
	}
	sh := s.shardOf(r.presentity)
	sh.Do(func() { sh.subscribe(r) })
}

// contentTypeOf returns the NOTIFY body type of an event package.
func (s *Server) contentTypeOf(event string) string {
	if s.isWinfo(event) {
		return s.winfo.ContentType()
	}
	if p := s.pkgs[event]; p != nil {
		return p.ContentTypes()[0]
	}
	return ""
}

// acceptable reports whether the SUBSCRIBE's Accept headers, if any,
// allow the package's body type (RFC 6665 section 4.2.1.1: else 406).
func (s *Server) acceptable(req *sip.Request, event string) bool {
	want := s.contentTypeOf(event)
	major, _, _ := strings.Cut(want, "/")
	seen := false
	for _, h := range req.Headers() {
		if !strings.EqualFold(h.Name(), "Accept") {
			continue
		}
		for _, v := range strings.Split(h.Value(), ",") {
			mt := mediaType(v)
			if mt == "" {
				continue
			}
			seen = true
			if mt == want || mt == "*/*" || mt == major+"/*" {
				return true
			}
			// multipart/related and application/rlmi+xml wrappers (RFC 4662)
			// are not ours to refuse.
		}
	}
	return !seen
}

// subscribe creates a subscription, or answers a fetch (Expires 0), on the
// shard goroutine.
func (sh *pshard) subscribe(r subscribeReq) {
	s := sh.srv
	t := now()
	p := sh.presentity(r.presentity, true)
	watcher, err := sipaddr.ParseAOR(r.fromURI)
	if err != nil {
		watcher = r.fromURI
	}
	watched := r.event
	if s.isWinfo(r.event) {
		watched = "presence"
	}
	var status, reason string
	var newAuth *Authorization
	if s.isWinfo(r.event) && watcher == p.uri {
		// A presentity may always see its own watchers (RFC 3857),
		// whatever the rules: a confirm rule must not leave the owner (or
		// the XMPP gateway acting for it) waiting for its own approval.
		status = StatusActive
	} else {
		status, reason, newAuth = sh.authorize(p, watcher, watched)
	}
	sub := &subState{
		Subscription: Subscription{
			CallID: r.callID, LocalTag: newTag(), RemoteTag: r.fromTag,
			LocalURI: r.toURI, RemoteURI: r.fromURI, RemoteName: r.fromName,
			Presentity: r.presentity, Event: r.event, EventID: r.eventID,
			RemoteTarget: r.contact, RouteSet: r.routeSet, RemoteCSeq: r.cseq,
			Transport: r.transport, Source: r.source,
			Created: t, Expires: t.Add(time.Duration(r.expires) * time.Second),
			Status: status, Reason: reason,
		},
		pres:     p,
		needFull: true,
		held:     true,
	}
	sub.ID = sub.CallID + ";" + sub.LocalTag + ";" + sub.RemoteTag
	// The dialog's identifiers share the ID's memory, and the SUBSCRIBE's
	// parsed header lines are not kept alive by them.
	sub.CallID = sub.ID[:len(sub.CallID)]
	sub.LocalTag = sub.ID[len(sub.CallID)+1 : len(sub.CallID)+1+len(sub.LocalTag)]
	sub.RemoteTag = sub.ID[len(sub.ID)-len(sub.RemoteTag):]
	sub.EventID = strings.Clone(sub.EventID)
	sub.RemoteName = strings.Clone(sub.RemoteName)

	if r.expires == 0 || status == StatusTerminated {
		// A fetch, or a watcher already refused: one NOTIFY, nothing kept.
		term := reasonTimeout
		if status == StatusTerminated {
			term = reason
		}
		sub.gone = true
		sub.held = false
		s.replySubscribe(r.tx, sub, 0)
		sh.queueNotify(sub, pendingNotify{full: true, terminal: true, reason: term})
		if newAuth != nil {
			s.commit.Submit(&Batch{PutAuthorizations: []*Authorization{newAuth}}, nil)
		}
		sh.gc(p)
		return
	}

	es := sh.eventState(p, r.event, true)
	es.subs.put(sub)
	s.subs.Put(sub.ID, sub.Presentity)
	sub.timer.Fire = func(now time.Time) { sh.subExpired(sub, now) }
	sh.Schedule(&sub.timer, sub.Expires)
	s.m.subscriptions.Inc()
	sub.queue = append(sub.queue, pendingNotify{full: true})

	b := &Batch{PutSubscriptions: []*Subscription{sub.record()}}
	if newAuth != nil {
		b.PutAuthorizations = []*Authorization{newAuth}
	}
	s.commit.Submit(b, func(err error) {
		if err != nil {
			s.reply(r.tx, 500, "Server Internal Error (store)")
			sh.Do(func() { sh.dropSub(sub, false, "") })
			return
		}
		s.replySubscribe(r.tx, sub, r.expires)
		sh.Do(func() {
			sub.held = false
			sh.sendNext(sub)
		})
	})
	if !s.isWinfo(r.event) {
		sh.notifyWatcherInfo(p, sub, "subscribe")
	}
}

// resubscribe handles an in-dialog SUBSCRIBE: a refresh, or an
// unsubscribe (Expires 0).
func (sh *pshard) resubscribe(r subscribeReq) {
	s := sh.srv
	sub := sh.findSub(r.presentity, r.id)
	if sub == nil || sub.gone {
		s.reply(r.tx, 481, "Subscription Does Not Exist")
		return
	}
	if r.event != sub.Event || r.eventID != sub.EventID {
		s.reply(r.tx, 489, "Bad Event (not the event of this subscription)", sip.NewHeader("Allow-Events", sub.Event))
		return
	}
	if r.cseq <= sub.RemoteCSeq {
		s.reply(r.tx, 500, "Server Internal Error (CSeq out of order)")
		return
	}
	sub.RemoteCSeq = r.cseq
	if r.contact != "" && r.contact != sub.RemoteTarget {
		sub.RemoteTarget = r.contact // target refresh
	}
	if r.expires == 0 {
		// The final NOTIFY waits for the 200, as the initial one does:
		// subscribers (and SIPp scenarios) expect the answer first.
		sub.held = true
		s.commit.Submit(&Batch{DeleteSubscriptions: []string{sub.ID}}, func(err error) {
			if err != nil {
				s.reply(r.tx, 500, "Server Internal Error (store)")
			} else {
				s.replySubscribe(r.tx, sub, 0)
			}
			sh.Do(func() {
				sub.held = false
				sh.sendNext(sub)
			})
		})
		sh.dropSub(sub, true, reasonTimeout)
		return
	}
	sub.Expires = now().Add(time.Duration(r.expires) * time.Second)
	sh.Schedule(&sub.timer, sub.Expires)
	sub.held = true
	s.commit.Submit(&Batch{PutSubscriptions: []*Subscription{sub.record()}}, func(err error) {
		if err != nil {
			s.reply(r.tx, 500, "Server Internal Error (store)")
		} else {
			s.replySubscribe(r.tx, sub, r.expires)
		}
		sh.Do(func() {
			sub.held = false
			sh.sendNext(sub)
		})
	})
	// RFC 6665 4.2.1.2: a refresh is answered with a NOTIFY carrying the
	// full state.
	sh.queueNotify(sub, pendingNotify{full: true})
}

// replySubscribe sends the 200 to a SUBSCRIBE: our tag, Expires and
// Contact (RFC 6665 says 200, 202 is deprecated).
func (s *Server) replySubscribe(tx *sipnet.ServerTx, sub *subState, expires int) {
	res := tx.NewResponse(200, "OK")
	if to := res.To(); to != nil {
		to.Params.Remove("tag")
		to.Params.Add("tag", sub.LocalTag)
	}
	res.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	c := s.sip.ContactURI(sub.Transport, s.cfg.ContactUser)
	res.AppendHeader(&sip.ContactHeader{Address: c})
	if err := tx.Respond(res); err != nil {
		s.log.Debug("reply failed", "code", 200, "err", err)
	}
}

func (sh *pshard) findSub(presentity, id string) *subState {
	p := sh.pres[presentity]
	if p == nil {
		return nil
	}
	for _, es := range p.events {
		if sub := es.subs.get(id); sub != nil {
			return sub
		}
	}
	return nil
}

// subExpired ends a subscription that was not refreshed in time with a
// final NOTIFY (terminated;reason=timeout).
func (sh *pshard) subExpired(sub *subState, now time.Time) {
	if sub.Expires.After(now) {
		sh.Schedule(&sub.timer, sub.Expires)
		return
	}
	sh.srv.commit.Submit(&Batch{DeleteSubscriptions: []string{sub.ID}}, nil)
	sh.dropSub(sub, true, reasonTimeout)
}

// dropSub removes a subscription from the state (the caller removes it
// from the store), optionally queueing a final NOTIFY, and tells the
// presentity's watcherinfo subscribers.
func (sh *pshard) dropSub(sub *subState, final bool, reason string) {
	if sub.gone {
		return
	}
	s := sh.srv
	p := sub.pres
	if es := p.event(sub.Event); es != nil {
		es.subs.del(sub.ID)
	}
	s.subs.Delete(sub.ID)
	sh.Cancel(&sub.timer)
	s.m.subscriptions.Dec()
	// Gone before the final NOTIFY is queued: sending it must not write
	// the record back after the caller deleted it.
	sub.gone = true
	if final {
		sh.queueNotify(sub, pendingNotify{full: true, terminal: true, reason: reason})
	} else {
		sub.queue = nil
	}
	prev := sub.Status
	sub.Status = StatusTerminated
	if reason == "" {
		reason = reasonNoResource
	}
	if !s.isWinfo(sub.Event) && prev != StatusTerminated {
		sh.notifyWatcherInfo(p, sub, reason)
	}
	sh.gc(p)
}

// record returns a copy of the subscription for the store.
// record returns a copy of the subscription for the store, and notes the
// CSeq and version it carries as saved.
func (sub *subState) record() *Subscription {
	r := sub.Subscription
	sub.savedCSeq, sub.savedVersion = sub.LocalCSeq, sub.Version
	return &r
}
