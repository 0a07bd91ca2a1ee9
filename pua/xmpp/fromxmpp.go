package puaxmpp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/xmpp"
)

// onPresence handles a presence stanza from an XMPP user to a SIP user's
// JID. It runs on the xmpp link goroutine.
func (m *Module) onPresence(p xmpp.Presence) {
	m.mu.Lock()
	stopped := m.stopped
	m.mu.Unlock()
	if stopped {
		return
	}
	from, err := m.mapper.JIDToSIP(p.From, false)
	if err == nil && m.mapper.IsGatewayJID(p.From) {
		err = fmt.Errorf("%w: %s is a SIP user's JID", xmpp.ErrNotMapped, p.From)
	}
	if err != nil {
		m.refuse(p, "forbidden", "sender has no SIP address at this gateway: "+err.Error())
		return
	}
	to, err := m.mapper.JIDToSIP(p.To, false)
	if err != nil {
		cond := "item-not-found"
		if errors.Is(err, xmpp.ErrMalformed) {
			cond = "jid-malformed"
		}
		m.refuse(p, cond, err.Error())
		return
	}
	switch p.Type {
	case xmpp.Available, xmpp.Unavailable:
		m.publish(from, p, time.Now())
	case xmpp.Subscribe:
		m.subscribe(from, to, p, true)
	case xmpp.Probe:
		m.probe(from, to, p)
	case xmpp.Unsubscribe:
		m.unsubscribe(from, to)
	case xmpp.Subscribed, xmpp.Unsubscribed:
		m.decide(from, to, p.Type == xmpp.Subscribed, "")
	case xmpp.TypeError:
		m.presenceError(from, to, p)
	}
}

// refuse answers a presence request the gateway cannot take with an
// error; other presences are only logged.
func (m *Module) refuse(p xmpp.Presence, cond, text string) {
	m.m.inc("refused")
	m.log.Info("xmpp presence refused", "from", p.From, "to", p.To, "type", p.Type, "condition", cond, "text", text)
	if p.Type == xmpp.Subscribe || p.Type == xmpp.Probe {
		m.send(xmpp.Presence{From: bare(p.To), To: p.From, ID: p.ID, Type: xmpp.TypeError, Error: &xmpp.StanzaError{Condition: cond, Text: text}})
	}
}

// publish turns an XMPP user's available or unavailable presence into the
// publication of that resource. Presence a user's server sends to several
// SIP contacts at once is published once.
func (m *Module) publish(uri string, p xmpp.Presence, received time.Time) {
	res := resourceOf(p.From)
	m.mu.Lock()
	m.gcAll()
	u := m.user(uri, bare(p.From))
	prune(u)
	u.via = bare(p.To)
	if p.Type == xmpp.Unavailable {
		var gone []string
		for id, r := range u.res {
			if (res == "" || id == res) && r.closed.IsZero() {
				gone = append(gone, id)
			}
		}
		if _, known := u.res[res]; !known && res != "" {
			gone = append(gone, res) // published before a restart
		}
		for _, id := range gone {
			u.res[id] = &resource{closed: time.Now()}
		}
		m.mu.Unlock()
		for _, id := range gone {
			m.withdraw(uri, u.jid, id, p.Status)
		}
		return
	}
	body := richPIDF(uri, u.jid, res, p)
	if r := u.res[res]; r != nil && r.closed.IsZero() && bytes.Equal(r.body, body) {
		r.stale = false
		m.mu.Unlock()
		return
	}
	u.res[res] = &resource{body: body}
	m.mu.Unlock()
	m.m.inc("publish")
	m.pua.Publish(pua.PublishRequest{
		Presentity: uri, Event: "presence", Source: pua.SourceXMPP, OwnerID: ownerOf(res),
		Expires: pua.Forever, ContentType: pidf.ContentType, Body: body,
	}, func(r pua.Result) {
		if r.OK() {
			m.m.publish.Observe(time.Since(received).Seconds())
			return
		}
		m.fail("publish failed", "presentity", uri, "resource", res, "code", r.Code, "reason", r.Reason)
		m.forget(uri, res, body)
	})
}

// withdraw publishes a resource's closed state, with the unavailable
// status as note, for offline_expires (then the publication goes), or
// removes the publication at once when offline_expires is 0.
func (m *Module) withdraw(uri, jid, res, status string) {
	m.m.inc("withdraw")
	r := pua.PublishRequest{Presentity: uri, Event: "presence", Source: pua.SourceXMPP, OwnerID: ownerOf(res)}
	if m.cfg.OfflineExpires > 0 {
		r.Expires, r.ContentType = m.cfg.OfflineExpires, pidf.ContentType
		r.Body = richPIDF(uri, jid, res, xmpp.Presence{Type: xmpp.Unavailable, Status: status})
	}
	m.pua.Publish(r, nil)
}

// forget drops a resource whose publication failed, so that the next
// presence publishes again.
func (m *Module) forget(uri, res string, body []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u := m.users[uri]; u != nil {
		if r := u.res[res]; r != nil && (body == nil || bytes.Equal(r.body, body)) {
			delete(u.res, res)
			m.gc(u)
		}
	}
}

func (m *Module) onPublicationEnded(p pua.Publication, r pua.Result) {
	m.fail("publication ended", "presentity", p.Presentity, "owner", p.OwnerID, "code", r.Code, "reason", r.Reason)
	m.forget(p.Presentity, strings.TrimPrefix(p.OwnerID, "xmpp:"), nil)
}

// subscribe makes an XMPP user's subscription to a SIP user a SIP
// subscription, refreshed until unsubscribe. The XMPP user hears
// "subscribed" at its first active NOTIFY (at once when it is active
// already), or an error when the SIP side refuses.
func (m *Module) subscribe(watcher, presentity string, p xmpp.Presence, request bool) {
	key := subKey{watcher, presentity}
	m.mu.Lock()
	s := m.subs[key]
	var last *xmpp.Presence
	if s != nil && s.subscribed && s.last != nil {
		last = s.last
	}
	m.mu.Unlock()
	if request {
		m.m.inc("subscribe")
	}
	if last != nil {
		// Active already: answer as the XMPP server of a contact would.
		if request {
			m.send(xmpp.Presence{From: last.From, To: bare(p.From), Type: xmpp.Subscribed})
		}
		l := *last
		l.To = p.From
		m.send(l)
		return
	}
	m.pua.Subscribe(pua.SubscribeRequest{
		Presentity: presentity, Watcher: watcher, Event: "presence", Source: pua.SourceXMPP,
		Expires: pua.Forever, Contact: m.cfg.ServerAddress,
	}, func(r pua.Result) {
		switch {
		case r.OK():
		case retrying(r):
			// The pua core retries on.
			m.log.Info("subscribe for xmpp user retrying", "watcher", watcher, "presentity", presentity, "code", r.Code, "reason", r.Reason)
		default:
			m.fail("subscribe for xmpp user refused", "watcher", watcher, "presentity", presentity, "code", r.Code, "reason", r.Reason)
			m.mu.Lock()
			delete(m.subs, key)
			m.mu.Unlock()
			cond := xmpp.ConditionOf(r.Code)
			if r.Code == 0 {
				cond = "internal-server-error"
			}
			m.m.inc("subscribe_refused")
			m.send(xmpp.Presence{From: bare(p.To), To: bare(p.From), ID: p.ID, Type: xmpp.TypeError,
				Error: &xmpp.StanzaError{Condition: cond, Text: fmt.Sprintf("SIP %d %s", r.Code, r.Reason)}})
		}
	})
}

// retrying reports the failures after which the pua core keeps the
// subscription and tries again: no answer, 408, 5xx.
func retrying(r pua.Result) bool {
	var te *sipnet.TransportError
	return r.Code == 408 || r.Code >= 500 && r.Code < 600 || r.Code == 0 && errors.As(r.Err, &te)
}

// probe answers an XMPP server's probe for a SIP user with the state the
// gateway has, or (re)subscribes to get it.
func (m *Module) probe(watcher, presentity string, p xmpp.Presence) {
	m.m.inc("probe")
	m.subscribe(watcher, presentity, p, false)
}

// unsubscribe ends an XMPP user's subscription to a SIP user.
func (m *Module) unsubscribe(watcher, presentity string) {
	m.m.inc("unsubscribe")
	m.mu.Lock()
	delete(m.subs, subKey{watcher, presentity})
	m.mu.Unlock()
	m.pua.Subscribe(pua.SubscribeRequest{
		Presentity: presentity, Watcher: watcher, Event: "presence", Source: pua.SourceXMPP, Expires: 0,
	}, nil)
}

// decide applies an XMPP user's answer to a SIP watcher: subscribed
// allows, unsubscribed (or an error to our request) denies.
func (m *Module) decide(xmppUser, sipWatcher string, allow bool, why string) {
	m.mu.Lock()
	if u := m.users[xmppUser]; u != nil {
		delete(u.asked, sipWatcher)
	}
	m.mu.Unlock()
	if !m.cfg.Authorize {
		m.log.Debug("xmpp answer not applied (authorize: false)", "presentity", xmppUser, "watcher", sipWatcher, "allow", allow)
		return
	}
	if m.auth == nil {
		m.log.Info("xmpp answer not applied: no local presence server", "presentity", xmppUser, "watcher", sipWatcher, "allow", allow)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.auth.Authorize(ctx, xmppUser, sipWatcher, "presence", allow); err != nil {
		m.fail("authorize failed", "presentity", xmppUser, "watcher", sipWatcher, "err", err)
		return
	}
	if allow {
		m.m.inc("authorize_allow")
	} else {
		m.m.inc("authorize_deny")
	}
	m.log.Info("sip watcher decided by xmpp user", "presentity", xmppUser, "watcher", sipWatcher, "allow", allow, "why", why)
}

// presenceError handles a presence error from an XMPP user: the answer to
// a subscribe request of a SIP watcher denies it.
func (m *Module) presenceError(xmppUser, sipWatcher string, p xmpp.Presence) {
	m.mu.Lock()
	asked := false
	if u := m.users[xmppUser]; u != nil {
		asked = u.asked[sipWatcher]
	}
	m.mu.Unlock()
	m.log.Info("xmpp presence error", "from", p.From, "to", p.To, "err", p.Error)
	if asked {
		m.decide(xmppUser, sipWatcher, false, "error "+p.Error.Condition)
	}
}

// richPIDF is the PIDF of an XMPP resource's presence (RFC 7248 section
// 7): one tuple with basic open or closed and the resource's XMPP URI as
// contact (with the priority), the status as note, and the RPID activity
// of the show in a person.
func richPIDF(uri, jid, res string, p xmpp.Presence) []byte {
	id := tupleID(res)
	t := pidf.Tuple{ID: id, Basic: pidf.BasicClosed, Contact: "xmpp:" + jid}
	if res != "" {
		t.Contact += "/" + res
	}
	d := pidf.Document{Entity: uri}
	if p.Status != "" {
		d.Notes = []pidf.Note{{Text: p.Status}}
	}
	if p.Type != xmpp.Unavailable {
		t.Basic = pidf.BasicOpen
		if p.HasPrio {
			t.Priority = priorityOf(p.Priority)
		}
		if a := activityOf(p.Show); a != "" {
			d.Persons = []pidf.Person{{ID: "p" + id, Activities: []string{a}, Notes: d.Notes}}
		}
	}
	d.Tuples = []pidf.Tuple{t}
	return pidf.Marshal(&d)
}

// activityOf maps <show> to an RPID activity: away and xa (extended away)
// are away, dnd is busy; chat is plain availability.
func activityOf(show string) string {
	switch show {
	case xmpp.ShowAway, xmpp.ShowXA:
		return pidf.ActivityAway
	case xmpp.ShowDND:
		return pidf.ActivityBusy
	}
	return ""
}

// priorityOf maps an XMPP priority (-128..127, negative: never the
// target of messages) to a PIDF contact priority (0..1).
func priorityOf(p int) string {
	if p <= 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(min(p, 127))/127, 'f', 3, 64)
}

// tupleID is a stable, valid XML id for a resource.
func tupleID(res string) string {
	h := fnv.New64a()
	h.Write([]byte(res))
	return "x" + strconv.FormatUint(h.Sum64(), 36)
}

func ownerOf(res string) string { return "xmpp:" + res }

func resourceOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[i+1:]
	}
	return ""
}

func bare(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}
