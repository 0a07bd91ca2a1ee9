package mi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Deps are what the server needs from the rest of the daemon.
type Deps struct {
	Logger *slog.Logger // nil: discard
	// Registry is served on /metrics; the server's own metrics are
	// registered on it. nil: a private, empty registry.
	Registry *prometheus.Registry
	// Health reports why the daemon is not healthy; nil: always healthy.
	Health func() error
}

// Server is the management interface: command registry and HTTP listener.
type Server struct {
	cfg      Config
	log      *slog.Logger
	health   func() error
	handler  http.Handler
	csrf     *http.CrossOriginProtection
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	loopback atomic.Bool            // listening on a loopback address: check Host
	addr     atomic.Pointer[string] // bound address while started; Addr does not wait for Stop

	mu   sync.RWMutex
	cmds map[string]*Command // by name and by alias

	life   sync.Mutex
	srv    *http.Server
	done   chan struct{}      // closed when Serve returns
	cancel context.CancelFunc // cancels the requests' contexts
}

// New builds the server and registers the built-in commands. It opens no
// socket.
func New(cfg Config, deps Deps) (*Server, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("mi config: %w", errors.Join(errs...))
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := deps.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	s := &Server{
		cfg:    cfg,
		log:    log.With("module", "mi"),
		health: deps.Health,
		csrf:   http.NewCrossOriginProtection(),
		cmds:   map[string]*Command{},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "presenced_mi_requests_total",
			Help: "Management API requests by command and outcome (ok or the JSON-RPC error code).",
		}, []string{"command", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "presenced_mi_request_duration_seconds",
			Help:    "Time to run a management command.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 10, 30},
		}, []string{"command"}),
	}
	for _, c := range []prometheus.Collector{s.requests, s.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("mi metrics: %w", err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mi", s.serveMI)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /health", s.serveHealth)
	s.handler = mux
	if err := s.registerBuiltins(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the HTTP handler serving /mi, /metrics and /health, for
// embedding or for tests; Start serves it on cfg.Listen.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on cfg.Listen and serves in the background; it returns
// once the socket is bound. With the server disabled it does nothing.
func (s *Server) Start(ctx context.Context) error {
	if !s.cfg.Enabled {
		return nil
	}
	s.life.Lock()
	defer s.life.Unlock()
	if s.srv != nil {
		return errors.New("start management api: already started")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("start management api: %w", err)
	}
	if ap, err := netip.ParseAddrPort(ln.Addr().String()); err == nil {
		s.loopback.Store(ap.Addr().IsLoopback())
	}
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	// Owned by the Server; ends when Stop shuts srv down.
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("management api stopped", "err", err)
		}
	}()
	s.srv, s.done, s.cancel = srv, done, cancel
	bound := ln.Addr().String()
	s.addr.Store(&bound)
	s.log.Info("management api listening", "addr", bound)
	return nil
}

// Addr returns the address the server listens on, "" when not started.
func (s *Server) Addr() string {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return ""
}

// Stop stops accepting requests and waits for the running ones until ctx
// is done (like http.Server.Shutdown); then it cancels their contexts,
// closes the connections and returns ctx's error. Start may be called
// again afterwards.
func (s *Server) Stop(ctx context.Context) error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.cancel()
		s.srv.Close() //nolint:errcheck // only the listener's close error, already closed by Shutdown
	}
	<-s.done
	s.cancel()
	s.srv, s.done, s.cancel = nil, nil, nil
	s.addr.Store(nil)
	s.loopback.Store(false)
	if err != nil {
		return fmt.Errorf("stop management api: %w", err)
	}
	return nil
}

func (s *Server) serveHealth(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.health != nil {
		if err := s.health(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
	}
	fmt.Fprintln(w, "ok")
}

// checkOrigin refuses what a web browser could send on a user's behalf: a
// cross-origin POST, and, on a loopback listener, a Host that is not a
// loopback one (DNS rebinding). curl and the CLI send neither.
func (s *Server) checkOrigin(r *http.Request) error {
	if err := s.csrf.Check(r); err != nil {
		return fmt.Errorf("forbidden: %v", err)
	}
	if !s.loopback.Load() || r.Host == "" {
		return nil
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && a.IsLoopback() {
		return nil
	}
	return fmt.Errorf("forbidden: host %q is not a loopback address", r.Host)
}
