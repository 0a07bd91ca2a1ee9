package sipnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Handler handles a request that started a server transaction. It runs
// on a worker goroutine and must return promptly: long work goes to the
// caller's own goroutines, which answer later with Respond (safe from any
// goroutine). A handler must not wait for a response to a request it
// sends (Do): responses are processed by the same workers. A non-INVITE
// not answered within 64*T1 is dropped (the client gave up by then).
type Handler func(tx *ServerTx)

// Stack is the SIP transport and transaction layer. Build it with New,
// register handlers with Handle, then Start; Stop ends it.
type Stack struct {
	cfg    Config
	log    *slog.Logger
	parser *sip.Parser

	t1, t2, t4, t64 time.Duration
	workers         int
	maxMsg          int
	advHost         string // from cfg.Advertise, "" when unset
	advPort         int

	handlers map[sip.RequestMethod]Handler

	life    sync.RWMutex // guards state and wg.Add against Stop
	state   int
	quit    chan struct{}
	runCtx  context.Context // canceled by Stop: dials and lookups
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	pending atomic.Int64 // server transactions waiting for their handler's final answer

	udp   []*udpListener
	tcpLn []*tcpListener
	jobs  chan job   // callbacks and datagrams without a Call-ID, any worker
	own   []chan job // messages, by Call-ID so that a dialog stays in order
	seed  maphash.Seed

	timers *timerSet
	srv    *table[serverTx]
	cli    *table[clientTx]
	conns  tcpPool
	dns    dnsCache
	small  sync.Pool // *[]byte of smallBuf bytes: datagrams
	enc    sync.Pool // *bytes.Buffer: serialisation

	st        counters
	requests  tally // received, by method
	responses tally // sent, by "METHOD code"
}

const (
	stateNew = iota
	stateRunning
	stateStopping
	stateStopped
)

const (
	smallBuf         = 2048
	largeUDP         = 1300  // RFC 3261 18.1.1: larger UDP requests try TCP first
	maxUDP           = 65000 // larger ones are not sent over UDP at all
	tcpConnTimeout   = 2 * time.Second
	tcpFailMemory    = time.Minute
	tcpWriteTimeout  = 5 * time.Second
	tryingDelay      = 200 * time.Millisecond
	jobQueuePerCore  = 1024
	ownQueue         = 1024
	stopPollInterval = 5 * time.Millisecond
)

// New builds a stack from cfg; it opens no socket. Zero values in cfg take
// their defaults.
func New(cfg Config, log *slog.Logger) (*Stack, error) {
	d := Default()
	if cfg.UDPReceiveBuffer == 0 {
		cfg.UDPReceiveBuffer = d.UDPReceiveBuffer
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = d.MaxMessageSize
	}
	if cfg.T1 == 0 {
		cfg.T1 = d.T1
	}
	if cfg.T2 == 0 {
		cfg.T2 = max(d.T2, cfg.T1)
	}
	if cfg.T4 == 0 {
		cfg.T4 = d.T4
	}
	if cfg.TCPIdleTimeout == 0 {
		cfg.TCPIdleTimeout = d.TCPIdleTimeout
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("sipnet config: %w", errors.Join(errs...))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Stack{
		cfg:      cfg,
		log:      log.With("module", "sipnet"),
		parser:   sip.NewParser(),
		t1:       time.Duration(cfg.T1) * time.Millisecond,
		t2:       time.Duration(cfg.T2) * time.Millisecond,
		t4:       time.Duration(cfg.T4) * time.Millisecond,
		workers:  cfg.Workers,
		maxMsg:   cfg.MaxMessageSize,
		handlers: make(map[sip.RequestMethod]Handler),
		seed:     maphash.MakeSeed(),
		srv:      newTable[serverTx](),
		cli:      newTable[clientTx](),
	}
	s.parser.MaxMessageLength = cfg.MaxMessageSize
	s.t64 = 64 * s.t1
	if s.workers == 0 {
		s.workers = 2 * runtime.GOMAXPROCS(0)
	}
	if cfg.Advertise != "" {
		s.advHost, s.advPort, _ = splitAdvertise(cfg.Advertise)
	}
	s.timers = newTimerSet(s.recovered)
	s.conns.init()
	s.dns.init()
	s.small.New = func() any { b := make([]byte, smallBuf); return &b }
	s.enc.New = func() any { return new(bytes.Buffer) }
	return s, nil
}

// Handle routes requests of method to h. It must be called before Start.
// ACKs for 2xx responses and ACKs matching no transaction go to the "ACK"
// handler if there is one; a CANCEL matching no INVITE transaction goes
// to the "CANCEL" handler if there is one, else it gets a 481.
func (s *Stack) Handle(method sip.RequestMethod, h Handler) {
	s.life.Lock()
	defer s.life.Unlock()
	if s.state != stateNew {
		panic("sipnet: Handle called after Start")
	}
	s.handlers[method] = h
}

// Methods returns the methods with a handler, sorted, for Allow headers.
// ACK and CANCEL are included when INVITE is handled.
func (s *Stack) Methods() []string {
	seen := map[string]bool{}
	for m := range s.handlers {
		seen[string(m)] = true
	}
	if seen["INVITE"] {
		seen["ACK"], seen["CANCEL"] = true, true
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// Start binds every listener and starts the goroutines; it returns once
// the sockets are bound. Port 0 gets a free port (see Addr).
func (s *Stack) Start(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.state != stateNew {
		return errors.New("start sip stack: already started")
	}
	for _, l := range s.cfg.Listen {
		la, err := ParseListen(l)
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("start sip stack: %w", err)
		}
		switch la.Transport {
		case "udp":
			u, err := listenUDP(la.Addr, s.cfg.UDPReceiveBuffer)
			if err != nil {
				s.closeListeners()
				return fmt.Errorf("start sip stack: %w", err)
			}
			s.udp = append(s.udp, u)
		case "tcp":
			t, err := listenTCP(ctx, la.Addr)
			if err != nil {
				s.closeListeners()
				return fmt.Errorf("start sip stack: %w", err)
			}
			s.tcpLn = append(s.tcpLn, t)
		}
	}
	s.quit = make(chan struct{})
	s.runCtx, s.cancel = context.WithCancel(context.Background())
	s.jobs = make(chan job, jobQueuePerCore*runtime.GOMAXPROCS(0))
	s.own = make([]chan job, s.workers)
	for i := range s.own {
		s.own[i] = make(chan job, ownQueue)
	}
	s.state = stateRunning

	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.timers.run(s.quit) }()
	for i := range s.workers {
		s.wg.Add(1)
		go s.worker(s.own[i])
	}
	for _, u := range s.udp {
		s.wg.Add(1)
		go s.readUDP(u)
		s.log.Info("listening", "transport", "udp", "addr", u.addr.String())
	}
	for _, t := range s.tcpLn {
		s.wg.Add(1)
		go s.acceptTCP(t)
		s.log.Info("listening", "transport", "tcp", "addr", t.addr.String())
	}
	return nil
}

func (s *Stack) closeListeners() {
	for _, u := range s.udp {
		u.conn.Close()
	}
	for _, t := range s.tcpLn {
		t.ln.Close()
	}
	s.udp, s.tcpLn = nil, nil
}

// Stop stops reading new messages, waits (until ctx is done) for handlers
// still owing a final response, then closes every socket and connection
// and waits for the stack's goroutines. Client transactions still running
// end with ErrStopped.
func (s *Stack) Stop(ctx context.Context) error {
	s.life.Lock()
	if s.state != stateRunning {
		s.life.Unlock()
		return nil
	}
	s.state = stateStopping
	s.life.Unlock()

	// Stop reading: readers see the deadline and the state and return;
	// sockets stay open so that late answers still go out.
	now := time.Now()
	for _, u := range s.udp {
		u.conn.SetReadDeadline(now)
	}
	for _, t := range s.tcpLn {
		t.ln.Close()
	}
	s.conns.each(func(c *tcpConn) { c.c.SetReadDeadline(now) })

	var err error
	if s.pending.Load() > 0 {
		tick := time.NewTicker(stopPollInterval)
		for s.pending.Load() > 0 && err == nil {
			select {
			case <-tick.C:
			case <-ctx.Done():
				err = fmt.Errorf("stop sip stack: %w", ctx.Err())
			}
		}
		tick.Stop()
	}

	s.life.Lock()
	s.state = stateStopped
	s.life.Unlock()
	close(s.quit)
	s.cancel()
	for _, u := range s.udp {
		u.conn.Close()
	}
	s.conns.closeAll()

	// With the sockets closed the goroutines end at once, unless a
	// handler does not return. If the grace period is already over, they
	// still get a second.
	wctx := ctx
	if ctx.Err() != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(context.Background(), time.Second)
		defer cancel()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-wctx.Done():
		return fmt.Errorf("stop sip stack: goroutines still running (a handler does not return): %w", wctx.Err())
	}

	// Callbacks queued as the workers ended still run.
	for len(s.jobs) > 0 {
		if j := <-s.jobs; j.fn != nil {
			s.process(j)
		}
	}
	for _, t := range s.cli.drain() {
		t.abort(ErrStopped)
	}
	for _, t := range s.srv.drain() {
		t.drop()
	}
	return err
}

// goAsync runs f on a goroutine Stop waits for; it reports false (and
// does not run f) when the stack is not running.
func (s *Stack) goAsync(f func()) bool {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.state != stateRunning && s.state != stateStopping {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.recover()
		f()
	}()
	return true
}

func (s *Stack) running() bool {
	s.life.RLock()
	defer s.life.RUnlock()
	return s.state == stateRunning || s.state == stateStopping
}

func (s *Stack) stopping() bool {
	s.life.RLock()
	defer s.life.RUnlock()
	return s.state != stateRunning
}

// recover is deferred by every goroutine that runs foreign code.
func (s *Stack) recover() {
	if v := recover(); v != nil {
		s.recovered(v)
	}
}

func (s *Stack) recovered(v any) {
	s.st.panics.Add(1)
	buf := make([]byte, 4096)
	buf = buf[:runtime.Stack(buf, false)]
	s.log.Error("panic recovered", "panic", fmt.Sprint(v), "stack", string(buf))
}

// Addr returns the bound address of the first listener of transport
// ("udp" or "tcp").
func (s *Stack) Addr(transport string) (netip.AddrPort, bool) {
	s.life.RLock()
	defer s.life.RUnlock()
	switch transport {
	case "udp":
		if len(s.udp) > 0 {
			return s.udp[0].addr, true
		}
	case "tcp":
		if len(s.tcpLn) > 0 {
			return s.tcpLn[0].addr, true
		}
	}
	return netip.AddrPort{}, false
}

// AdvertisedHostPort returns the host:port to put in Via, Contact and
// Record-Route for transport: cfg.Advertise (with the bound port when it
// has none), else the bound address with a wildcard replaced by 127.0.0.1
// or ::1. It returns "" when there is no listener of that transport and
// no advertised port.
func (s *Stack) AdvertisedHostPort(transport string) string {
	h, p := s.advertised(transport)
	if h == "" {
		return ""
	}
	return net.JoinHostPort(h, strconv.Itoa(p))
}

// advertised returns the host (IPv6 without brackets) and port.
func (s *Stack) advertised(transport string) (string, int) {
	ap, ok := s.Addr(transport)
	if s.advHost != "" {
		port := s.advPort
		if port == 0 {
			if !ok {
				return "", 0
			}
			port = int(ap.Port())
		}
		return s.advHost, port
	}
	if !ok {
		return "", 0
	}
	a := ap.Addr().Unmap()
	if a.IsUnspecified() {
		if a.Is4() {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		} else {
			a = netip.IPv6Loopback()
		}
	}
	return a.String(), int(ap.Port())
}

// viaHost returns the sent-by for a request leaving over transport; a
// stack without a listener of that transport advertises the other one
// (the answer comes back on the same connection anyway).
func (s *Stack) viaHost(transport string) (string, int) {
	h, p := s.advertised(transport)
	if h == "" {
		other := "udp"
		if transport == "udp" {
			other = "tcp"
		}
		h, p = s.advertised(other)
	}
	return h, p
}

// ContactURI returns sip:user@advertised, with ;transport=tcp for tcp.
func (s *Stack) ContactURI(transport, user string) sip.Uri {
	h, p := s.viaHost(transport)
	u := sip.Uri{Scheme: "sip", User: user, Host: h, Port: p}
	if transport == "tcp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

// debug reports whether whole messages are to be logged.
func (s *Stack) debug() bool {
	return s.log.Enabled(context.Background(), slog.LevelDebug)
}
