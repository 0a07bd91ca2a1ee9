package puaxmpp

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/watcherinfo"
	"github.com/presenced/presenced/xmpp"
)

// onNotify hands a NOTIFY of one of pua_xmpp's subscriptions to the XMPP
// side. It runs on a pua shard goroutine; the NOTIFY is answered 200
// whatever its body.
func (m *Module) onNotify(sub pua.Subscription, _ *sip.Request) (int, string) {
	m.mu.Lock()
	stopped := m.stopped
	m.mu.Unlock()
	if stopped {
		return 0, ""
	}
	switch sub.Event {
	case "presence":
		m.presenceNotify(sub)
	case "presence.winfo":
		m.winfoNotify(sub)
	}
	return 0, ""
}

// presenceNotify forwards a SIP user's state to the XMPP user watching it.
func (m *Module) presenceNotify(sub pua.Subscription) {
	if sub.State != "active" {
		// pending: nothing to say yet; terminated: the pua core refreshes
		// (timeout, deactivated) or ends it (onSubscriptionEnded).
		return
	}
	to, err1 := m.mapper.SIPToJID(sub.Watcher)
	from, err2 := m.mapper.SIPToJID(sub.Presentity)
	if err1 != nil || err2 != nil {
		m.fail("notify for unmappable addresses", "watcher", sub.Watcher, "presentity", sub.Presentity)
		return
	}
	p, err := presenceOf(sub.NotifyBody)
	if err != nil {
		m.m.inc("notify_malformed")
		m.fail("notify body not forwarded", "presentity", sub.Presentity, "err", err)
		return
	}
	p.From, p.To = from, to
	key := subKey{sub.Watcher, sub.Presentity}
	m.mu.Lock()
	s := m.subs[key]
	if s == nil {
		s = &xsub{}
		m.subs[key] = s
	}
	first := !s.subscribed
	s.subscribed = true
	changed := s.last == nil || *s.last != p
	s.last = &p
	m.mu.Unlock()
	if first {
		m.send(xmpp.Presence{From: from, To: to, Type: xmpp.Subscribed})
	}
	if changed || first {
		m.m.inc("notify_forwarded")
		m.send(p)
	}
}

// presenceOf maps a PIDF body to an XMPP presence (RFC 7248 section 8):
// no body or no open tuple is unavailable; otherwise show from the RPID
// activities (or, for documents with none, from a note such as OpenSIPS
// reads), the note as status, the first open contact's priority.
func presenceOf(body []byte) (xmpp.Presence, error) {
	if len(strings.TrimSpace(string(body))) == 0 {
		return xmpp.Presence{Type: xmpp.Unavailable}, nil
	}
	d, err := pidf.Parse(body)
	if err != nil {
		return xmpp.Presence{}, err
	}
	open, activities, note := pidf.Summary(d)
	if !open {
		return xmpp.Presence{Type: xmpp.Unavailable, Status: note}, nil
	}
	p := xmpp.Presence{Show: showOf(activities, note), Status: note}
	for _, t := range d.Tuples {
		if t.Basic != pidf.BasicOpen || t.Priority == "" {
			continue
		}
		if q, err := strconv.ParseFloat(t.Priority, 64); err == nil && q >= 0 && q <= 1 {
			p.Priority, p.HasPrio = int(math.Round(q*127)), true
		}
		break
	}
	return p, nil
}

// showOf maps RPID activities (RFC 4480) to <show>: a busy kind of
// activity is dnd, a long absence xa, a short one away.
func showOf(activities []string, note string) string {
	rank := map[string]int{"": 0, xmpp.ShowAway: 1, xmpp.ShowXA: 2, xmpp.ShowDND: 3}
	show := ""
	for _, a := range activities {
		s := ""
		switch a {
		case "busy", "on-the-phone", "meeting", "presentation", "performance", "worship":
			s = xmpp.ShowDND
		case "vacation", "holiday", "permanent-absence", "sleeping", "travel":
			s = xmpp.ShowXA
		case "away", "appointment", "breakfast", "dinner", "lunch", "meal", "in-transit", "shopping", "steering":
			s = xmpp.ShowAway
		}
		if rank[s] > rank[show] {
			show = s
		}
	}
	if show != "" || len(activities) > 0 {
		return show
	}
	switch n := strings.ToLower(strings.TrimSpace(note)); {
	case n == "dnd" || strings.Contains(n, "do not disturb") || n == "busy" || strings.Contains(n, "on the phone"):
		return xmpp.ShowDND
	case n == "away":
		return xmpp.ShowAway
	case n == "xa" || strings.Contains(n, "extended away"):
		return xmpp.ShowXA
	}
	return ""
}

// onSubscriptionEnded: a SIP user's notifier ended an XMPP user's
// subscription (rejected, noresource, a refused refresh): unsubscribed.
// A lapsed watcher-info subscription is forgotten, to be made again.
func (m *Module) onSubscriptionEnded(sub pua.Subscription, r pua.Result) {
	switch sub.Event {
	case "presence":
		m.mu.Lock()
		delete(m.subs, subKey{sub.Watcher, sub.Presentity})
		m.mu.Unlock()
		to, err1 := m.mapper.SIPToJID(sub.Watcher)
		from, err2 := m.mapper.SIPToJID(sub.Presentity)
		m.log.Info("subscription for xmpp user ended", "watcher", sub.Watcher, "presentity", sub.Presentity, "code", r.Code, "reason", r.Reason)
		if err1 == nil && err2 == nil {
			m.m.inc("unsubscribed")
			m.send(xmpp.Presence{From: from, To: to, Type: xmpp.Unsubscribed})
		}
	case "presence.winfo":
		m.log.Info("watcher info subscription ended", "presentity", sub.Presentity, "code", r.Code, "reason", r.Reason)
		m.mu.Lock()
		if u := m.users[sub.Presentity]; u != nil {
			u.winfoUntil, u.winfoForever = time.Time{}, false
			m.gc(u)
		}
		m.mu.Unlock()
	}
}

// ObserveSubscribe is pua_xmpp_req_winfo: the server calls it with every
// SUBSCRIBE the local presence server receives, before the presence
// server handles it. A SUBSCRIBE for an XMPP user's presence makes the
// gateway follow that user's watcher information for as long as the
// watcher's subscription may last. It runs on a SIP worker and only
// queues.
func (m *Module) ObserveSubscribe(req *sip.Request) {
	ev := ""
	if h := req.GetHeader("Event"); h != nil {
		ev = h.Value()
	} else if h := req.GetHeader("o"); h != nil {
		ev = h.Value()
	}
	ev, _, _ = strings.Cut(ev, ";")
	// The presentity: the Request-URI of an initial SUBSCRIBE, the To of
	// a refresh (whose Request-URI is the presence server's Contact).
	pres := req.Recipient
	if to := req.To(); to != nil {
		if tag, _ := to.Params.Get("tag"); tag != "" {
			pres = to.Address
		}
	}
	if !strings.EqualFold(strings.TrimSpace(ev), "presence") || !m.mapper.IsXMPPUser(pres.String()) {
		return
	}
	expires := 3600
	if h := req.GetHeader("Expires"); h != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil && n >= 0 {
			expires = n
		}
	}
	if expires == 0 {
		return
	}
	m.ensureWinfo(sipaddr.AOR(pres), min(expires, 86400)+m.cfg.WinfoExpires)
}

// ensureWinfo makes the gateway follow an XMPP user's watcher
// information for at least lifetime seconds (pua.Forever: always).
func (m *Module) ensureWinfo(uri string, lifetime int) {
	j, err := m.mapper.SIPToJID(uri)
	if err != nil {
		return
	}
	now := time.Now()
	until := now.Add(time.Duration(lifetime) * time.Second)
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	u := m.user(uri, j)
	switch {
	case u.winfoForever:
		m.mu.Unlock()
		return
	case lifetime == pua.Forever:
		u.winfoForever = true
	case !u.winfoUntil.IsZero() && u.winfoUntil.After(until.Add(-time.Minute)):
		m.mu.Unlock()
		return // followed long enough already
	default:
		u.winfoUntil = until
	}
	m.mu.Unlock()
	m.m.inc("winfo_subscribe")
	m.pua.Subscribe(pua.SubscribeRequest{
		Presentity: uri, Watcher: uri, Event: "presence.winfo", Source: pua.SourceXMPP,
		Expires: lifetime, Contact: m.cfg.ServerAddress,
	}, func(r pua.Result) {
		if r.OK() || retrying(r) {
			return
		}
		m.fail("watcher info subscription refused", "presentity", uri, "code", r.Code, "reason", r.Reason)
		m.mu.Lock()
		if u := m.users[uri]; u != nil {
			u.winfoUntil, u.winfoForever = time.Time{}, false
			m.gc(u)
		}
		m.mu.Unlock()
	})
}

// winfoNotify reads an XMPP user's watcher information and sends a
// subscribe request, from the watcher, for each SIP watcher newly
// pending.
func (m *Module) winfoNotify(sub pua.Subscription) {
	if sub.State != "active" || len(sub.NotifyBody) == 0 {
		return
	}
	doc, err := watcherinfo.Parse(sub.NotifyBody)
	if err != nil {
		m.m.inc("notify_malformed")
		m.fail("watcher info not understood", "presentity", sub.Presentity, "err", err)
		return
	}
	j, err := m.mapper.SIPToJID(sub.Presentity)
	if err != nil {
		return
	}
	m.mu.Lock()
	u := m.user(sub.Presentity, j)
	if doc.State != watcherinfo.Partial || u.watchers == nil {
		u.watchers = map[string]watcher{}
	}
	for _, l := range doc.Lists {
		if l.Package != "" && l.Package != "presence" {
			continue
		}
		for _, w := range l.Watchers {
			aor, err := sipaddr.ParseAOR(w.URI)
			if err != nil {
				continue
			}
			if w.Status == watcherinfo.StatusTerminated {
				delete(u.watchers, w.ID)
				continue
			}
			u.watchers[w.ID] = watcher{uri: aor, status: w.Status}
		}
	}
	ask := m.toAsk(u)
	m.mu.Unlock()
	m.ask(u.jid, ask)
}

// toAsk marks and returns the pending SIP watchers of u not asked for
// yet; m.mu is held.
func (m *Module) toAsk(u *xuser) []string {
	var out []string
	for _, w := range pendingOf(u) {
		if u.asked == nil {
			u.asked = map[string]bool{}
		}
		if !u.asked[w] {
			u.asked[w] = true
			out = append(out, w)
		}
	}
	return out
}

// pendingOf lists the SIP watchers of u with a pending subscription, each
// once; m.mu is held.
func pendingOf(u *xuser) []string {
	seen := map[string]bool{}
	var out []string
	for _, w := range u.watchers {
		if w.status == watcherinfo.StatusPending && !seen[w.uri] {
			seen[w.uri] = true
			out = append(out, w.uri)
		}
	}
	return out
}

// ask sends an XMPP subscribe request from each SIP watcher to the XMPP
// user.
func (m *Module) ask(userJID string, watchers []string) {
	for _, w := range watchers {
		if m.mapper.IsXMPPUser(w) {
			continue
		}
		from, err := m.mapper.SIPToJID(w)
		if err != nil {
			m.log.Info("sip watcher has no xmpp address; its request cannot reach the xmpp user", "watcher", w, "presentity", userJID, "err", err)
			continue
		}
		m.m.inc("subscribe_request")
		if err := m.gw.Send(xmpp.Presence{From: from, To: userJID, Type: xmpp.Subscribe}); err != nil {
			m.m.inc("xmpp_send_failed")
			// Asked again when the link comes back.
			m.mu.Lock()
			for _, u := range m.users {
				if u.jid == userJID {
					delete(u.asked, w)
				}
			}
			m.mu.Unlock()
		}
	}
}
