package puaxmpp

import (
	"time"

	"github.com/presenced/presenced/xmpp"
)

// onUp runs when the XMPP link is (re)established, on the link
// goroutine: the XMPP side may have missed anything sent while the link
// was down, and the gateway may have missed XMPP users going away. It
// sends again the SIP users' presence the XMPP users subscribed to, asks
// again for the pending SIP watchers, and probes every XMPP user it
// publishes for; what is not confirmed within resync_timeout is
// withdrawn (sweep).
func (m *Module) onUp() {
	type ask struct {
		jid      string
		watchers []string
	}
	var presences []xmpp.Presence
	var asks []ask
	var probes []xmpp.Presence
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	for _, s := range m.subs {
		if s.last != nil {
			presences = append(presences, *s.last)
		}
	}
	stale := false
	for _, u := range m.users {
		u.asked = nil
		if w := m.toAsk(u); len(w) > 0 {
			asks = append(asks, ask{u.jid, w})
		}
		open := false
		for _, r := range u.res {
			if r.closed.IsZero() {
				r.stale, open = true, true
			}
		}
		stale = stale || open
		if open && u.via != "" {
			probes = append(probes, xmpp.Presence{From: u.via, To: u.jid, Type: xmpp.Probe})
		}
	}
	if stale {
		if m.resync != nil && m.resync.Stop() {
			m.sweeps.Done() // the sweep it would have run
		}
		m.sweeps.Add(1)
		m.resync = time.AfterFunc(time.Duration(m.cfg.ResyncTimeout)*time.Second, func() {
			defer m.sweeps.Done()
			m.sweep()
		})
	}
	m.mu.Unlock()
	if len(presences)+len(asks)+len(probes) > 0 {
		m.log.Info("xmpp link up: resending state", "presences", len(presences), "pending_watchers", len(asks), "probes", len(probes))
	}
	for _, p := range presences {
		m.send(p)
	}
	for _, a := range asks {
		m.ask(a.jid, a.watchers)
	}
	for _, p := range probes {
		m.send(p)
	}
}

func (m *Module) onDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastErr = "xmpp link down: " + err.Error()
}

// sweep withdraws the XMPP resources not confirmed since the link came
// back.
func (m *Module) sweep() {
	type gone struct{ uri, jid, res string }
	var list []gone
	m.mu.Lock()
	if m.stopped {
		m.mu.Unlock()
		return
	}
	for _, u := range m.users {
		for id, r := range u.res {
			if r.stale && r.closed.IsZero() {
				list = append(list, gone{u.uri, u.jid, id})
				u.res[id] = &resource{closed: time.Now()}
			}
		}
	}
	m.mu.Unlock()
	m.m.inc("resync")
	if len(list) > 0 {
		m.log.Info("xmpp resources not confirmed after reconnect: withdrawn", "count", len(list))
	}
	for _, g := range list {
		m.withdraw(g.uri, g.jid, g.res, "")
	}
}
