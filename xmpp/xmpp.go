// Package xmpp is the XMPP side of the SIP-XMPP gateway: an XEP-0114
// component link to an XMPP server, the address mapping between JIDs and
// SIP URIs (RFC 7247), the error mapping between SIP statuses and stanza
// error conditions (RFC 7247 section 8), and instant messages both ways
// (SIP MESSAGE text/plain and message/cpim to and from XMPP chat
// messages: OpenSIPS's xmpp_send_message() and its receiver). Presence is
// pua_xmpp's (package pua/xmpp), which uses this package through a small
// interface.
//
// mellium.im/xmpp is used for the component session only, behind this
// package's own types (Presence, Message, StanzaError), so that it can be
// replaced by our own XEP-0114 code (a stream header, a SHA-1 handshake
// and stanzas) without touching the rest.
//
// The link is opened by Start and kept open: when it drops or cannot be
// opened it is tried again after a backoff doubling from
// reconnect_min_ms to reconnect_max, with jitter. Nothing is queued while
// it is down: Send drops and counts, and the owners of state (pua_xmpp)
// send it again from their Up handler.
//
// Goroutines: the link goroutine (run) connects, serves the stream and
// calls the handlers, one stanza at a time; each established session has
// a writer goroutine, started and ended by the link goroutine. Stop ends
// both. SIP MESSAGE handlers run on sipnet's workers and only queue.
// Lock order: Gateway.mu is never held while calling out, but for the
// non-blocking queueing in Send.
package xmpp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/usrloc"
)

// SIP is what the gateway needs from the SIP layer: sending MESSAGEs.
type SIP interface {
	Send(req *sip.Request, opts sipnet.SendOptions, done func(*sip.Response, error)) error
}

// Locations finds the contacts of a SIP user for MESSAGEs from XMPP when
// no outbound proxy is set.
type Locations interface {
	Lookup(ctx context.Context, aor string) ([]usrloc.Binding, error)
}

var (
	_ SIP       = (*sipnet.Stack)(nil)
	_ Locations = (*usrloc.Service)(nil)
)

// Deps are the gateway's collaborators.
type Deps struct {
	SIP SIP // nil: no messages from XMPP to SIP
	// Locations, when set, routes MESSAGEs to registered contacts.
	Locations  Locations
	Logger     *slog.Logger
	Registerer prometheus.Registerer // nil: no metrics
}

// Handler is what a module hears from the link. The funcs run on the link
// goroutine, in order, and must return promptly; Send may be called from
// them.
type Handler struct {
	// Presence gets each well-formed presence stanza for a JID of the
	// component.
	Presence func(Presence)
	// Up is called each time the link is established, before anything is
	// read from it.
	Up func()
	// Down is called each time an established link is lost.
	Down func(err error)
}

// Gateway is the xmpp module: the component link and the message
// gateway.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	mapper   *Mapper
	sip      SIP
	loc      Locations
	handlers []Handler
	c        counters
	// writeTime is the time from Send to the stanza written; nil
	// without metrics.
	writeTime prometheus.Histogram

	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	sess    *session // nil while down
	stopped bool
	started bool
	state   string
	since   time.Time
	retryAt time.Time
}

// New builds the gateway. Register handlers with Handle, then Start.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("xmpp config: %w", errors.Join(errs...))
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		cfg:    cfg,
		log:    log.With("module", "xmpp"),
		mapper: NewMapper(cfg),
		sip:    deps.SIP,
		loc:    deps.Locations,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		state:  StateStopped,
		since:  time.Now(),
	}
	if deps.Registerer != nil {
		g.c.register(deps.Registerer, g.Up)
		g.writeTime = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "presenced_xmpp_write_seconds",
			Help:    "Time from a stanza queued for the XMPP server to its write (queue wait included).",
			Buckets: prometheus.ExponentialBucketsRange(0.0001, 1, 13),
		})
		deps.Registerer.MustRegister(g.writeTime)
	}
	return g, nil
}

// Handle adds a handler of the link's events. Call it before Start.
func (g *Gateway) Handle(h Handler) { g.handlers = append(g.handlers, h) }

// Mapper returns the address mapping.
func (g *Gateway) Mapper() *Mapper { return g.mapper }

// Start starts the link goroutine and returns at once: the link is
// opened in the background, and again whenever it drops.
func (g *Gateway) Start(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.started {
		return errors.New("xmpp: started twice")
	}
	g.started = true
	go g.run()
	return nil
}

// Stop closes the stream and ends the link goroutine, waiting for it
// within ctx.
func (g *Gateway) Stop(ctx context.Context) error {
	g.mu.Lock()
	if !g.started || g.stopped {
		g.mu.Unlock()
		return nil
	}
	g.stopped = true
	close(g.stop)
	sess := g.sess
	g.mu.Unlock()
	if sess != nil {
		// The closing tag, then the connection: Serve returns.
		closed := make(chan struct{})
		go func() {
			_ = sess.s.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(time.Second):
		}
		sess.conn.Close()
	}
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("xmpp: stop: %w", ctx.Err())
	}
}

func (g *Gateway) stopping() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stopped
}

func (g *Gateway) setState(state string, err error, retryAt time.Time) {
	g.mu.Lock()
	if g.state != state {
		g.state, g.since = state, time.Now()
	}
	g.retryAt = retryAt
	g.mu.Unlock()
	if err != nil {
		g.c.setError(err)
	}
}

// Status is what xmpp_status returns.
type Status struct {
	State           string            `json:"state"` // up, connecting, down, stopped
	Since           string            `json:"since"` // RFC 3339, when the state began
	Server          string            `json:"server"`
	Component       string            `json:"component"`
	RetryInMS       int64             `json:"retry_in_ms,omitempty"`
	Connects        uint64            `json:"connects"`
	ConnectFailures uint64            `json:"connect_failures"`
	LastError       string            `json:"last_error,omitempty"`
	LastErrorAt     string            `json:"last_error_at,omitempty"`
	Queued          int               `json:"queued"`
	Received        map[string]uint64 `json:"received"`
	Sent            map[string]uint64 `json:"sent"`
	Dropped         map[string]uint64 `json:"dropped"`
	Malformed       uint64            `json:"malformed"`
	Messages        map[string]uint64 `json:"messages"`
}

// Status reports the link's state and counters.
func (g *Gateway) Status() Status {
	g.mu.Lock()
	st := Status{
		State: g.state, Since: g.since.UTC().Format(time.RFC3339Nano),
		Server: g.addr(), Component: g.cfg.XMPPDomain,
	}
	if g.state == StateDown && !g.retryAt.IsZero() {
		st.RetryInMS = max(0, time.Until(g.retryAt).Milliseconds())
	}
	if g.sess != nil {
		st.Queued = len(g.sess.out)
	}
	g.mu.Unlock()
	g.c.fill(&st)
	return st
}

// counters are the link's and the message gateway's counts, read by
// Status and exported as metrics.
type counters struct {
	connects, connectFailed, malformed atomic.Uint64
	in                                 [4]atomic.Uint64 // presence, message, iq, other
	out                                [2]atomic.Uint64 // presence, message
	drops                              [4]atomic.Uint64
	msgs                               [5]atomic.Uint64

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
}

var inKinds = [...]string{"presence", "message", "iq", "other"}

const (
	dropDown = iota
	dropQueueFull
	dropWriteError
	dropForeign
)

var dropReasons = [...]string{"down", "queue_full", "write_error", "foreign_from"}

const (
	msgSIPToXMPP   = iota // SIP MESSAGE sent on as XMPP
	msgSIPRefused         // SIP MESSAGE refused
	msgXMPPToSIP          // XMPP message answered 2xx by SIP
	msgXMPPFailed         // XMPP message refused or failed on the SIP side
	msgXMPPIgnored        // XMPP error messages and messages without a body
)

var msgOutcomes = [...]string{"sip_to_xmpp", "sip_refused", "xmpp_to_sip", "xmpp_failed", "xmpp_ignored"}

func (c *counters) received(kind string) {
	for i, k := range inKinds {
		if k == kind {
			c.in[i].Add(1)
			return
		}
	}
}

func (c *counters) sent(kind string) {
	if kind == "message" {
		c.out[1].Add(1)
	} else {
		c.out[0].Add(1)
	}
}

func (c *counters) dropped(reason int) { c.drops[reason].Add(1) }

func (c *counters) setError(err error) {
	c.mu.Lock()
	c.lastErr, c.lastErrAt = err.Error(), time.Now()
	c.mu.Unlock()
}

func (c *counters) fill(st *Status) {
	st.Connects = c.connects.Load()
	st.ConnectFailures = c.connectFailed.Load()
	st.Malformed = c.malformed.Load()
	st.Received, st.Sent, st.Dropped, st.Messages = map[string]uint64{}, map[string]uint64{}, map[string]uint64{}, map[string]uint64{}
	for i, k := range inKinds {
		st.Received[k] = c.in[i].Load()
	}
	st.Sent["presence"], st.Sent["message"] = c.out[0].Load(), c.out[1].Load()
	for i, r := range dropReasons {
		st.Dropped[r] = c.drops[i].Load()
	}
	for i, o := range msgOutcomes {
		st.Messages[o] = c.msgs[i].Load()
	}
	c.mu.Lock()
	st.LastError = c.lastErr
	if !c.lastErrAt.IsZero() {
		st.LastErrorAt = c.lastErrAt.UTC().Format(time.RFC3339Nano)
	}
	c.mu.Unlock()
}

// register exports the counters as Prometheus metrics read at scrape
// time.
func (c *counters) register(reg prometheus.Registerer, up func() bool) {
	load := func(v *atomic.Uint64) func() float64 { return func() float64 { return float64(v.Load()) } }
	var cs []prometheus.Collector
	cs = append(cs,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "presenced_xmpp_link_up", Help: "1 while the XMPP component link is established."}, func() float64 {
			if up() {
				return 1
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "presenced_xmpp_connects_total", Help: "XMPP component links established."}, load(&c.connects)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "presenced_xmpp_connect_failures_total", Help: "Failed attempts to open the XMPP component link (connection or handshake)."}, load(&c.connectFailed)),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "presenced_xmpp_malformed_total", Help: "XMPP stanzas refused as malformed or misaddressed."}, load(&c.malformed)),
	)
	for i, k := range inKinds {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "presenced_xmpp_stanzas_received_total", Help: "XMPP stanzas received, by kind.", ConstLabels: prometheus.Labels{"kind": k}}, load(&c.in[i])))
	}
	for i, k := range []string{"presence", "message"} {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "presenced_xmpp_stanzas_sent_total", Help: "XMPP stanzas written, by kind.", ConstLabels: prometheus.Labels{"kind": k}}, load(&c.out[i])))
	}
	for i, r := range dropReasons {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "presenced_xmpp_dropped_total", Help: "XMPP stanzas not sent, by reason.", ConstLabels: prometheus.Labels{"reason": r}}, load(&c.drops[i])))
	}
	for i, o := range msgOutcomes {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "presenced_xmpp_messages_total", Help: "Instant messages through the gateway, by outcome.", ConstLabels: prometheus.Labels{"outcome": o}}, load(&c.msgs[i])))
	}
	reg.MustRegister(cs...)
}
