// Package puaxmpp is pua_xmpp: the presence half of the SIP-XMPP gateway
// (RFC 7248/8048 presence mapping over the RFC 7247 architecture), on top
// of the pua core (SIP side) and the xmpp module (XMPP side).
//
// XMPP to SIP: an XMPP user's available or unavailable presence (sent by
// its server to the SIP users it accepted as contacts) becomes a PUBLISH
// for the user's SIP URI, one publication per XMPP resource, PIDF with
// basic open or closed, RPID activities from <show> (away and xa: away,
// dnd: busy), the <status> as note and the <priority> on the tuple's
// contact; the pua core keeps it refreshed until the resource goes
// unavailable. A subscribe or probe from an XMPP user becomes a SIP
// SUBSCRIBE from that user to the SIP user, kept refreshed until
// unsubscribe; the subscription's first active NOTIFY is answered to XMPP
// with subscribed, a refusal with a presence error carrying the RFC 7247
// condition of the SIP status.
//
// SIP to XMPP: each NOTIFY of those subscriptions becomes a presence from
// the SIP user to the XMPP user (basic, RPID activities and notes mapped
// to show and status, the contact's priority), unchanged states not
// repeated; a subscription the notifier ends (rejected, noresource) is
// answered unsubscribed, a timeout is refreshed by the pua core and not
// forwarded. pua_xmpp_req_winfo: when a SIP user subscribes to an XMPP
// user, the gateway subscribes to that user's presence.winfo for as long
// as the SIP watcher's subscription may last (plus winfo_expires), and
// every pending watcher it reports becomes an XMPP subscribe request from
// the watcher to the XMPP user; the XMPP user's subscribed or unsubscribed
// decides the watcher in the presence server (Authorize), which OpenSIPS
// does not do.
//
// When the XMPP link comes back after a drop, the gateway sends again the
// SIP users' presence the XMPP side subscribed to, asks again for the
// pending watchers, and probes the XMPP users it publishes for; those that
// do not confirm within resync_timeout are withdrawn.
//
// Concurrency: handlers run on the xmpp link goroutine, on pua shard
// goroutines and (ObserveSubscribe) on SIP workers. One mutex guards the
// module's state; it is never held while calling the pua core, the
// gateway or the presence server. The resync timer's function is waited
// for by Stop.
package puaxmpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/mi"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/xmpp"
)

// PUA is what pua_xmpp needs from the pua core.
type PUA interface {
	Publish(r pua.PublishRequest, done func(pua.Result))
	Subscribe(r pua.SubscribeRequest, done func(pua.Result))
	Register(src pua.Source, h pua.Handler)
	// Records lists the records (stored ones after a restart included).
	Records(ctx context.Context, pattern string) ([]pua.RecordInfo, error)
}

// Gateway is what pua_xmpp needs from the XMPP side.
type Gateway interface {
	Send(s xmpp.Stanza) error
	Handle(h xmpp.Handler)
	Mapper() *xmpp.Mapper
}

// Authorizer decides a pending watcher in the presence server.
type Authorizer interface {
	Authorize(ctx context.Context, presentity, watcher, event string, allow bool) error
}

var (
	_ PUA        = (*pua.Client)(nil)
	_ Gateway    = (*xmpp.Gateway)(nil)
	_ Authorizer = (*presence.Server)(nil)
)

// Deps are pua_xmpp's collaborators.
type Deps struct {
	PUA     PUA
	Gateway Gateway
	// Authorizer is the local presence server; nil (a remote one) leaves
	// the XMPP users' answers unapplied.
	Authorizer Authorizer
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Module is pua_xmpp.
type Module struct {
	cfg    Config
	log    *slog.Logger
	pua    PUA
	gw     Gateway
	auth   Authorizer
	mapper *xmpp.Mapper
	m      metrics

	mu      sync.Mutex
	users   map[string]*xuser // by XMPP user's SIP URI
	subs    map[subKey]*xsub  // XMPP users' subscriptions to SIP users
	stopped bool
	resync  *time.Timer
	sweeps  sync.WaitGroup
	lastErr string
	lastGC  time.Time
}

// xuser is what the gateway knows of an XMPP user.
type xuser struct {
	uri string // sip:alice@example.com
	jid string // alice@example.com
	via string // a JID of ours its presence came to (probes go from it)
	res map[string]*resource
	// Watcher information (presence.winfo), when followed.
	winfoUntil   time.Time // the subscription's desired end; zero: none
	winfoForever bool
	watchers     map[string]watcher // by subscription id
	asked        map[string]bool    // SIP watchers sent a subscribe request
}

type resource struct {
	body   []byte    // PIDF last published
	stale  bool      // not confirmed since the link came back
	closed time.Time // when it went unavailable; zero while available
}

// tombstone is how long the gateway remembers a resource that went
// unavailable, so that the unavailable presence its server sends to each
// SIP contact is published once.
const tombstone = time.Minute

type watcher struct{ uri, status string }

type subKey struct{ watcher, presentity string } // SIP URIs: XMPP user, SIP user

// xsub is an XMPP user's subscription to a SIP user.
type xsub struct {
	subscribed bool           // "subscribed" sent
	last       *xmpp.Presence // last presence forwarded
}

// New builds pua_xmpp and registers its handlers with the pua core and
// the gateway; call it before they start.
func New(cfg Config, deps Deps) (*Module, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("pua_xmpp config: %w", errors.Join(errs...))
	}
	if deps.PUA == nil || deps.Gateway == nil {
		return nil, errors.New("pua_xmpp: needs the pua core (pua.enabled) and the XMPP gateway (xmpp.enabled)")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Module{
		cfg: cfg, log: log.With("module", "pua_xmpp"), pua: deps.PUA, gw: deps.Gateway, auth: deps.Authorizer,
		mapper: deps.Gateway.Mapper(), users: map[string]*xuser{}, subs: map[subKey]*xsub{},
	}
	for i, u := range cfg.WinfoUsers {
		if !m.mapper.IsXMPPUser(u) {
			return nil, fmt.Errorf("pua_xmpp config: winfo_users[%d]: %q is not an XMPP user's SIP URI (see xmpp.xmpp_user_domains)", i, u)
		}
	}
	m.m.init(deps.Registerer, m.counts)
	deps.PUA.Register(pua.SourceXMPP, pua.Handler{
		Notify:            m.onNotify,
		PublicationEnded:  m.onPublicationEnded,
		SubscriptionEnded: m.onSubscriptionEnded,
	})
	deps.Gateway.Handle(xmpp.Handler{Presence: m.onPresence, Up: m.onUp, Down: m.onDown})
	return m, nil
}

// Start takes back what the pua core kept across a restart (the XMPP
// resources published for, to be confirmed when the link comes up; the
// watcher information followed) and follows the watcher information of
// winfo_users. The pua core must be started.
func (m *Module) Start(ctx context.Context) error {
	recs, err := m.pua.Records(ctx, "*")
	if err != nil {
		return fmt.Errorf("pua_xmpp: records: %w", err)
	}
	m.restore(recs)
	for _, u := range m.cfg.WinfoUsers {
		aor, _ := sipaddr.ParseAOR(u)
		m.ensureWinfo(aor, pua.Forever)
	}
	return nil
}

// Stop ignores what comes after it and waits for a resync sweep running.
func (m *Module) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.stopped = true
	if m.resync != nil && m.resync.Stop() {
		m.sweeps.Done() // the sweep it would have run
	}
	m.mu.Unlock()
	done := make(chan struct{})
	go func() {
		m.sweeps.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("pua_xmpp: stop: %w", ctx.Err())
	}
}

// restore rebuilds the state of the records of source xmpp: open
// publications become resources to confirm (stale) and the SIP users the
// XMPP user subscribed to the JIDs to probe from; followed watcher
// information stays followed until its desired end.
func (m *Module) restore(recs []pua.RecordInfo) {
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		if r.Source != pua.SourceXMPP {
			continue
		}
		j, err := m.mapper.SIPToJID(r.Presentity)
		if err != nil {
			continue
		}
		switch {
		case r.Kind == "publication" && r.Event == "presence" && r.Desired == pua.Forever:
			u := m.user(r.Presentity, j)
			u.res[strings.TrimPrefix(r.OwnerID, "xmpp:")] = &resource{stale: true}
		case r.Kind == "subscription" && r.Event == "presence.winfo":
			u := m.user(r.Presentity, j)
			if r.Desired == pua.Forever {
				u.winfoForever = true
			} else {
				u.winfoUntil = now.Add(time.Duration(r.Desired) * time.Second)
			}
		}
	}
	// Probes come from a SIP user the XMPP user subscribed to: in the
	// usual mutual subscription, that SIP user may see its presence.
	for _, r := range recs {
		if r.Source != pua.SourceXMPP || r.Kind != "subscription" || r.Event != "presence" {
			continue
		}
		if u := m.users[r.Watcher]; u != nil && u.via == "" {
			if via, err := m.mapper.SIPToJID(r.Presentity); err == nil {
				u.via = via
			}
		}
	}
	n := 0
	for _, u := range m.users {
		n += len(u.res)
	}
	if n > 0 {
		m.log.Info("xmpp resources kept across a restart, to be confirmed", "count", n)
	}
}

// user returns (creating it) the state of an XMPP user; m.mu is held.
func (m *Module) user(uri, jid string) *xuser {
	u := m.users[uri]
	if u == nil {
		u = &xuser{uri: uri, jid: jid, res: map[string]*resource{}}
		m.users[uri] = u
	}
	return u
}

// prune forgets the resources of u that went unavailable a while ago;
// m.mu is held.
func prune(u *xuser) {
	for id, r := range u.res {
		if !r.closed.IsZero() && time.Since(r.closed) > tombstone {
			delete(u.res, id)
		}
	}
}

// gcAll runs gc over every user once per tombstone period; m.mu is held.
func (m *Module) gcAll() {
	if time.Since(m.lastGC) < tombstone {
		return
	}
	m.lastGC = time.Now()
	for _, u := range m.users {
		m.gc(u)
	}
}

// gc forgets an XMPP user the gateway has nothing on; m.mu is held.
func (m *Module) gc(u *xuser) {
	prune(u)
	if len(u.res) == 0 && u.winfoUntil.IsZero() && !u.winfoForever && len(u.watchers) == 0 {
		delete(m.users, u.uri)
	}
}

// send writes a stanza to the XMPP side, counting what is lost.
func (m *Module) send(st xmpp.Stanza) {
	if err := m.gw.Send(st); err != nil {
		m.m.inc("xmpp_send_failed")
		m.log.Debug("stanza not sent", "err", err)
	}
}

func (m *Module) fail(msg string, args ...any) {
	m.log.Warn(msg, args...)
	m.mu.Lock()
	m.lastErr = msg + fmt.Sprint(args...)
	m.mu.Unlock()
}

// Status is what pua_xmpp_status returns.
type Status struct {
	XMPPUsers     int               `json:"xmpp_users"`    // XMPP users known (publishing, followed)
	Resources     int               `json:"resources"`     // XMPP resources published for
	Subscriptions int               `json:"subscriptions"` // XMPP users' subscriptions to SIP users with state
	Winfo         int               `json:"winfo"`         // XMPP users whose watcher info is followed
	Pending       int               `json:"pending"`       // SIP watchers waiting for an XMPP user's answer
	Events        map[string]uint64 `json:"events"`
	LastError     string            `json:"last_error,omitempty"`
}

func (m *Module) counts() (users, subs int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.users), len(m.subs)
}

// Status reports what the gateway holds and its counters.
func (m *Module) Status() Status {
	m.mu.Lock()
	st := Status{XMPPUsers: len(m.users), Subscriptions: len(m.subs), LastError: m.lastErr}
	for _, u := range m.users {
		for _, r := range u.res {
			if r.closed.IsZero() {
				st.Resources++
			}
		}
		if !u.winfoUntil.IsZero() || u.winfoForever {
			st.Winfo++
		}
		st.Pending += len(pendingOf(u))
	}
	m.mu.Unlock()
	st.Events = m.m.snapshot()
	return st
}

// Commands returns pua_xmpp_status.
func (m *Module) Commands() []mi.Command {
	return []mi.Command{{
		Name: "pua_xmpp_status",
		Help: "the presence gateway: XMPP users published for, subscriptions, followed watcher info, pending watchers, counters",
		Run:  func(context.Context, mi.Args) (any, error) { return m.Status(), nil },
	}}
}
