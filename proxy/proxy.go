package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/usrloc"
)

// SIP is what the proxy needs from the SIP layer.
type SIP interface {
	Handle(method sip.RequestMethod, h sipnet.Handler)
	Send(req *sip.Request, opts sipnet.SendOptions, done func(*sip.Response, error)) error
	SendInvite(req *sip.Request, opts sipnet.SendOptions, onResponse func(*sip.Response), done func(error)) (*sipnet.ClientTx, error)
	SendStateless(msg sip.Message, opts sipnet.SendOptions) error
	Addr(transport string) (netip.AddrPort, bool)
	AdvertisedHostPort(transport string) string
}

var _ SIP = (*sipnet.Stack)(nil)

// Locations is what the proxy needs from the location service.
type Locations interface {
	// Lookup returns the live bindings of an AOR.
	Lookup(ctx context.Context, aor string) ([]usrloc.Binding, error)
	// Known reports whether the AOR is known (for 404 against 480).
	Known(ctx context.Context, aor string) (bool, error)
}

var _ Locations = (*usrloc.Service)(nil)

// Dialogs is what the proxy feeds to the dialog tracker.
type Dialogs interface {
	NewCall(info dialog.CallInfo) *dialog.Call
	InDialog(r dialog.Request)
	Refreshed(callID, fromTag, toTag string)
	Peer(callID, fromTag, toTag string) (dialog.Hop, bool)
	OnHangup(f func(dialog.Record))
}

var _ Dialogs = (*dialog.Service)(nil)

// Deps are the proxy's collaborators.
type Deps struct {
	SIP       SIP
	Locations Locations
	// Dialogs is the dialog tracker; nil tracks nothing.
	Dialogs Dialogs
	// Domains are the served domains; nil serves any.
	Domains    *sipaddr.Domains
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Proxy is the stateful proxy.
type Proxy struct {
	cfg     Config
	log     *slog.Logger
	sip     SIP
	loc     Locations
	dlg     Dialogs
	domains *sipaddr.Domains
	timerC  time.Duration

	self   atomic.Pointer[self] // set by Start
	timers *shard.Group         // Timer C
	loops  *shard.Index[int]    // loop keys of the requests being forwarded

	quit     chan struct{}
	mu       sync.Mutex // guards stopping and wg.Add against Stop
	stopping bool
	wg       sync.WaitGroup // CANCEL watchers, stateless sends

	forwarded *prometheus.CounterVec
	replies   *prometheus.CounterVec
}

// Methods are the methods the proxy handles itself (New registers them).
// NOTIFY, SUBSCRIBE, PUBLISH and OPTIONS are shared with local modules
// through Wrap.
var methods = []sip.RequestMethod{sip.INVITE, sip.ACK, sip.BYE, sip.UPDATE, sip.PRACK, sip.INFO, sip.REFER, sip.MESSAGE}

// New builds the proxy and registers its handlers; call it before the SIP
// stack starts.
func New(cfg Config, deps Deps) (*Proxy, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("proxy config: %w", errors.Join(errs...))
	}
	if deps.SIP == nil || deps.Locations == nil {
		return nil, errors.New("proxy: SIP and Locations are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		cfg: cfg, log: log.With("module", "proxy"), sip: deps.SIP, loc: deps.Locations,
		dlg: deps.Dialogs, domains: deps.Domains,
		timerC: time.Duration(cfg.TimerC) * time.Second,
		timers: shard.NewGroup(runtime.GOMAXPROCS(0)),
		loops:  shard.NewIndex[int](),
		quit:   make(chan struct{}),
	}
	p.forwarded = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_proxy_forwarded_total", Help: "Requests forwarded (each branch counts), by method."}, []string{"method"})
	p.replies = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_proxy_replies_total", Help: "Final responses the proxy generated itself, by status code."}, []string{"code"})
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(p.forwarded, p.replies)
	}
	for _, m := range methods {
		deps.SIP.Handle(m, p.handle)
	}
	if p.dlg != nil {
		p.dlg.OnHangup(p.hangup)
	}
	return p, nil
}

// Start learns our addresses from the running SIP stack (call it after
// the stack started) and starts Timer C.
func (p *Proxy) Start(ctx context.Context) error {
	sf, err := newSelf(p.sip, p.domains)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	p.self.Store(sf)
	p.timers.Start()
	return nil
}

// Stop ends the CANCEL watchers and Timer C. Transactions still running
// end with the SIP stack.
func (p *Proxy) Stop(ctx context.Context) error {
	select {
	case <-p.quit:
		return nil
	default:
	}
	p.mu.Lock()
	p.stopping = true
	p.mu.Unlock()
	close(p.quit)
	if err := p.timers.Stop(ctx); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("proxy: stop: %w", ctx.Err())
	}
}

// spawn runs f on a goroutine Stop waits for; it reports false (and does
// not run f) once Stop began.
func (p *Proxy) spawn(f func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopping {
		return false
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
	return true
}

// reply answers tx with a response of our own.
func (p *Proxy) reply(tx *sipnet.ServerTx, code int, reason string, hdrs ...sip.Header) {
	if code >= 200 {
		p.replies.WithLabelValues(strconv.Itoa(code)).Inc()
	}
	_ = tx.Reply(code, reason, hdrs...)
}

// handle is the handler of every method the proxy forwards.
func (p *Proxy) handle(tx *sipnet.ServerTx) {
	req := tx.Request()
	sf := p.self.Load()
	if sf == nil {
		if req.Method != sip.ACK {
			p.reply(tx, 503, "Service Unavailable")
		}
		return
	}
	if req.Method == sip.ACK {
		p.handleAck(tx, sf)
		return
	}
	// RFC 3261 16.3: request validation.
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		p.reply(tx, 483, "Too Many Hops")
		return
	}
	if pr := headerValues(req, "Proxy-Require"); len(pr) > 0 {
		p.reply(tx, 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(pr, ", ")))
		return
	}
	if req.Method == sip.INVITE && req.Contact() == nil {
		p.reply(tx, 400, "Bad Request (missing Contact header)")
		return
	}
	if sf.hasOurVia(req) {
		if _, loop := p.loops.Get(loopKey(req)); loop {
			p.reply(tx, 482, "Loop Detected")
			return
		}
	}
	rt, ok := p.preprocess(req, sf)
	if !ok {
		p.reply(tx, 400, "Bad Request (malformed Route)")
		return
	}
	if toTag(req.To()) != "" {
		p.inDialog(tx, rt, sf)
		return
	}
	p.initial(tx, rt, sf)
}

// headerValues returns the comma-separated values of every header called
// name.
func headerValues(m interface{ Headers() []sip.Header }, name string) []string {
	var out []string
	for _, h := range m.Headers() {
		if !strings.EqualFold(h.Name(), name) {
			continue
		}
		for _, v := range strings.Split(h.Value(), ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

func toTag(h *sip.ToHeader) string {
	if h == nil || h.Params == nil {
		return ""
	}
	t, _ := h.Params.Get("tag")
	return t
}

func fromTag(h *sip.FromHeader) string {
	if h == nil || h.Params == nil {
		return ""
	}
	t, _ := h.Params.Get("tag")
	return t
}
