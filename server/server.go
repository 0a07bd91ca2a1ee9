// Package server is the composition root: it builds the modules the
// config enables, wires their dependencies, starts them in dependency
// order and stops them in reverse. It is the one place that knows every
// module.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/presenced/presenced/config"
	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/mi"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/presence/events"
	"github.com/presenced/presenced/proxy"
	"github.com/presenced/presenced/pua"
	puabla "github.com/presenced/presenced/pua/bla"
	puadialoginfo "github.com/presenced/presenced/pua/dialoginfo"
	puami "github.com/presenced/presenced/pua/mi"
	puausrloc "github.com/presenced/presenced/pua/usrloc"
	puaxmpp "github.com/presenced/presenced/pua/xmpp"
	"github.com/presenced/presenced/registrar"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/store"
	"github.com/presenced/presenced/usrloc"
	"github.com/presenced/presenced/xmpp"
)

// Version is the daemon's version, set at build time with
// -ldflags "-X github.com/presenced/presenced/server.Version=...".
var Version = "dev"

// Server is the daemon: every enabled module, wired.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	registry *prometheus.Registry

	stack    *sipnet.Stack
	store    store.Backend
	presence *presence.Server
	pua      *pua.Client
	puami    *puami.Module
	usrloc   *usrloc.Service
	puaUL    *puausrloc.Module
	dialogs  *dialog.Service
	proxy    *proxy.Proxy
	xmpp     *xmpp.Gateway
	puaXMPP  *puaxmpp.Module
	mi       *mi.Server

	started []stopper
}

type stopper struct {
	name string
	stop func(context.Context) error
}

// New builds the daemon from a validated config. Nothing listens yet.
func New(cfg *config.Config, log *slog.Logger) (*Server, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, registry: prometheus.NewRegistry()}
	s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	stack, err := sipnet.New(cfg.SIP, log)
	if err != nil {
		return nil, fmt.Errorf("sip: %w", err)
	}
	s.stack = stack
	s.registry.MustRegister(newSIPCollector(stack))
	return s, nil
}

// Start opens the store, starts the modules in dependency order (store,
// presence server, SIP listeners, management API) and returns once the
// daemon serves. On failure what was started is stopped again.
func (s *Server) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = s.Stop(context.WithoutCancel(ctx))
		}
	}()
	st, err := store.Open(ctx, s.cfg.Store, s.log.With("module", "store"))
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	s.store = st
	s.started = append(s.started, stopper{"store", func(context.Context) error { return st.Close() }})

	domains := sipaddr.NewDomains(s.cfg.Domains)
	// The local modules that share methods with the proxy (presence:
	// PUBLISH, SUBSCRIBE; pua: NOTIFY; OPTIONS below) register their
	// handlers on shared; they reach the stack through proxy.Wrap once
	// the proxy is built.
	shared := &sharedSIP{Stack: s.stack, local: map[sip.RequestMethod]sipnet.Handler{}}
	allowEvents := ""
	if s.cfg.Presence.Enabled {
		pc := s.cfg.Presence
		var ps *presence.Server
		popts := events.PresenceOptions{OfflineBody: pc.OfflineBody}
		if pc.MixDialogPresence {
			// Called while the presence package builds a document, on the
			// presentity's shard, once ps is set.
			popts.DialogState = func(p string) string { return ps.DialogState(p) }
		}
		pkgs := []presence.EventPackage{
			events.NewPresence(popts),
			events.NewDialog(events.DialogOptions{ForceSingleDialog: pc.Dialog.ForceSingleDialog, DummyDialog: pc.Dialog.DummyDialog}),
			events.NewSLA(events.SLAOptions{FixRemoteTarget: pc.SLA.FixRemoteTarget}),
		}
		ps, err = presence.New(pc, presence.Deps{
			SIP: shared, Store: st, Domains: domains, Packages: pkgs,
			WatcherInfo: events.NewWatcherInfo(),
			Logger:      s.log, Registerer: s.registry,
		})
		if err != nil {
			return err
		}
		if err := ps.Start(ctx); err != nil {
			return err
		}
		s.presence = ps
		s.started = append(s.started, stopper{"presence", ps.Stop})
		allowEvents = strings.Join(ps.EventPackages(), ", ")
	}

	if s.cfg.PUA.Enabled {
		// Built before the SIP stack starts: it registers the NOTIFY handler.
		p, err := pua.New(s.cfg.PUA, pua.Deps{SIP: shared, Store: st, Logger: s.log, Registerer: s.registry})
		if err != nil {
			return err
		}
		s.pua = p
	}
	if s.cfg.PUAMI.Enabled {
		if s.pua == nil {
			return errors.New("pua_mi needs the pua core (pua.enabled)")
		}
		m, err := puami.New(s.cfg.PUAMI, s.pua)
		if err != nil {
			return err
		}
		s.puami = m
	}

	if s.cfg.Usrloc.Enabled {
		u, err := usrloc.New(s.cfg.Usrloc, usrloc.Deps{Store: st, Logger: s.log, Registerer: s.registry})
		if err != nil {
			return err
		}
		s.usrloc = u
	}
	if s.cfg.Registrar.Enabled {
		if s.usrloc == nil {
			return errors.New("the registrar needs the location service (usrloc.enabled)")
		}
		if _, err := registrar.New(s.cfg.Registrar, registrar.Deps{SIP: s.stack, Locations: s.usrloc, Domains: domains, Logger: s.log}); err != nil {
			return err
		}
	}
	if s.cfg.PUABLA.Enabled {
		if s.pua == nil || s.usrloc == nil {
			return errors.New("pua_bla needs the pua core and the location service")
		}
		if _, err := puabla.New(s.cfg.PUABLA, s.pua, s.usrloc, s.log); err != nil {
			return err
		}
	}
	if s.cfg.PUAUsrloc.Enabled {
		if s.pua == nil || s.usrloc == nil {
			return errors.New("pua_usrloc needs the pua core and the location service")
		}
		m, err := puausrloc.New(s.cfg.PUAUsrloc, s.pua, s.usrloc, s.log)
		if err != nil {
			return err
		}
		s.puaUL = m
	}

	if s.cfg.Dialog.Enabled {
		// Built before pua_dialoginfo subscribes to it and before the
		// proxy feeds it; started after the SIP stack.
		d, err := dialog.New(s.cfg.Dialog, dialog.Deps{Store: st, Logger: s.log, Registerer: s.registry})
		if err != nil {
			return err
		}
		s.dialogs = d
	}
	if s.cfg.PUADialogInfo.Enabled {
		// Subscribes to the tracker in New: before the tracker starts.
		if s.pua == nil || s.dialogs == nil {
			return errors.New("pua_dialoginfo needs the pua core and dialog tracking")
		}
		if _, err := puadialoginfo.New(s.cfg.PUADialogInfo, s.pua, s.dialogs, s.log); err != nil {
			return err
		}
	}
	if s.cfg.Proxy.Enabled {
		if s.usrloc == nil {
			return errors.New("the proxy needs the location service (usrloc.enabled)")
		}
		deps := proxy.Deps{SIP: s.stack, Locations: s.usrloc, Domains: domains, Logger: s.log, Registerer: s.registry}
		if s.dialogs != nil {
			deps.Dialogs = s.dialogs
		}
		p, err := proxy.New(s.cfg.Proxy, deps)
		if err != nil {
			return err
		}
		s.proxy = p
	}

	if err := s.buildXMPP(shared); err != nil {
		return err
	}

	shared.Handle(sip.OPTIONS, func(tx *sipnet.ServerTx) {
		if tx.RejectUnsupported() {
			return
		}
		hdrs := []sip.Header{sip.NewHeader("Allow", strings.Join(s.stack.Methods(), ", "))}
		if allowEvents != "" {
			hdrs = append(hdrs, sip.NewHeader("Allow-Events", allowEvents))
		}
		hdrs = append(hdrs, sip.NewHeader("Accept", "application/pidf+xml, application/dialog-info+xml, application/watcherinfo+xml"))
		_ = tx.Reply(200, "OK", hdrs...)
	})
	shared.install(s.proxy)
	if err := s.stack.Start(ctx); err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	s.started = append(s.started, stopper{"sip", s.stack.Stop})
	if s.proxy != nil {
		if err := s.proxy.Start(ctx); err != nil {
			return err
		}
		s.started = append(s.started, stopper{"proxy", s.proxy.Stop})
	}

	if s.pua != nil {
		if err := s.pua.Start(ctx); err != nil {
			return err
		}
		s.started = append(s.started, stopper{"pua", s.pua.Stop})
	}
	if s.usrloc != nil {
		if err := s.usrloc.Start(ctx); err != nil {
			return err
		}
		s.started = append(s.started, stopper{"usrloc", s.usrloc.Stop})
	}
	if s.dialogs != nil {
		// After the SIP stack, the pua and the proxy: dialogs loaded past
		// their lifetime are hung up (BYEs) and published terminated.
		if err := s.dialogs.Start(ctx); err != nil {
			return err
		}
		s.started = append(s.started, stopper{"dialog", s.dialogs.Stop})
	}

	if err := s.startXMPP(ctx); err != nil {
		return err
	}

	if s.cfg.MI.Enabled {
		m, err := mi.New(s.cfg.MI, mi.Deps{Logger: s.log.With("module", "mi"), Registry: s.registry})
		if err != nil {
			return fmt.Errorf("mi: %w", err)
		}
		if err := s.registerCommands(m); err != nil {
			return fmt.Errorf("mi: %w", err)
		}
		if err := m.Start(ctx); err != nil {
			return fmt.Errorf("mi: %w", err)
		}
		s.mi = m
		s.started = append(s.started, stopper{"mi", m.Stop})
	}
	s.log.Info("presenced started", "version", Version, "sip", s.cfg.SIP.Listen, "mi", s.MIAddr())
	return nil
}

func (s *Server) registerCommands(m *mi.Server) error {
	cmds := []mi.Command{{
		Name: "version",
		Help: "the daemon's version",
		Run: func(context.Context, mi.Args) (any, error) {
			return map[string]string{"version": Version, "go": goVersion()}, nil
		},
	}}
	if s.presence != nil {
		cmds = append(cmds, s.presence.Commands()...)
	}
	if s.pua != nil {
		cmds = append(cmds, s.pua.Commands()...)
	}
	if s.puami != nil {
		cmds = append(cmds, s.puami.Commands()...)
	}
	if s.usrloc != nil {
		cmds = append(cmds, s.usrloc.Commands()...)
	}
	if s.dialogs != nil {
		cmds = append(cmds, s.dialogs.Commands()...)
	}
	if s.xmpp != nil {
		cmds = append(cmds, s.xmpp.Commands()...)
	}
	if s.puaXMPP != nil {
		cmds = append(cmds, s.puaXMPP.Commands()...)
	}
	for _, c := range cmds {
		if err := m.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops the modules in reverse order: the management API, the SIP
// listeners, the presence server (which flushes its state), the store.
func (s *Server) Stop(ctx context.Context) error {
	var errs []error
	for i := len(s.started) - 1; i >= 0; i-- {
		st := s.started[i]
		if err := st.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", st.name, err))
		}
	}
	s.started = nil
	return errors.Join(errs...)
}

// SIPAddr is the bound address of the first SIP listener of a transport.
func (s *Server) SIPAddr(transport string) (netip.AddrPort, bool) {
	return s.stack.Addr(transport)
}

// MIAddr is the bound address of the management API, "" when off.
func (s *Server) MIAddr() string {
	if s.mi == nil {
		return ""
	}
	return s.mi.Addr()
}

// Presence is the presence server, nil when disabled.
func (s *Server) Presence() *presence.Server { return s.presence }

// PUA is the pua core, nil when disabled.
func (s *Server) PUA() *pua.Client { return s.pua }

// Dialogs is the dialog tracker, nil when disabled. Modules subscribe to
// it while Start builds them (pua_dialoginfo); a test may subscribe to an
// in-process daemon's tracker after Start and sees the calls made after.
func (s *Server) Dialogs() *dialog.Service { return s.dialogs }

// sharedSIP is the SIP stack as the modules that share methods with the
// proxy see it: their handlers are kept aside, then installed behind
// proxy.Wrap (which proxies what is not for them: see proxy/README.md).
type sharedSIP struct {
	*sipnet.Stack
	local map[sip.RequestMethod]sipnet.Handler
}

// Handle keeps h for install.
func (s *sharedSIP) Handle(method sip.RequestMethod, h sipnet.Handler) { s.local[method] = h }

// install registers the kept handlers on the stack, each wrapped by the
// proxy when there is one; with a proxy, the shared methods no module
// handles are proxied.
func (s *sharedSIP) install(p *proxy.Proxy) {
	shared := []sip.RequestMethod{sip.NOTIFY, sip.SUBSCRIBE, sip.PUBLISH, sip.OPTIONS}
	for m, h := range s.local {
		if p == nil || !slices.Contains(shared, m) {
			s.Stack.Handle(m, h)
		}
	}
	if p != nil {
		for _, m := range shared {
			s.Stack.Handle(m, p.Wrap(m, s.local[m]))
		}
	}
}

// buildXMPP builds the XMPP gateway and pua_xmpp, before the SIP stack
// starts: MESSAGEs for XMPP users go to the gateway (the others to the
// proxy, when there is one), and every SUBSCRIBE the local presence
// server takes is shown to pua_xmpp first (pua_xmpp_req_winfo).
func (s *Server) buildXMPP(shared *sharedSIP) error {
	if !s.cfg.XMPP.Enabled {
		return nil
	}
	deps := xmpp.Deps{SIP: s.stack, Logger: s.log, Registerer: s.registry}
	if s.usrloc != nil {
		deps.Locations = s.usrloc
	}
	gw, err := xmpp.New(s.cfg.XMPP, deps)
	if err != nil {
		return err
	}
	s.xmpp = gw
	var next sipnet.Handler
	if s.proxy != nil {
		next = s.proxy.Wrap(sip.MESSAGE, nil)
	}
	s.stack.Handle(sip.MESSAGE, gw.MessageHandler(next))
	if !s.cfg.PUAXMPP.Enabled {
		return nil
	}
	if s.pua == nil {
		return errors.New("pua_xmpp needs the pua core (pua.enabled)")
	}
	pdeps := puaxmpp.Deps{PUA: s.pua, Gateway: gw, Logger: s.log, Registerer: s.registry}
	if s.presence != nil && s.cfg.PUA.PresenceServer == "" {
		pdeps.Authorizer = s.presence
	}
	m, err := puaxmpp.New(s.cfg.PUAXMPP, pdeps)
	if err != nil {
		return err
	}
	s.puaXMPP = m
	if h := shared.local[sip.SUBSCRIBE]; h != nil {
		shared.local[sip.SUBSCRIBE] = func(tx *sipnet.ServerTx) {
			m.ObserveSubscribe(tx.Request())
			h(tx)
		}
	}
	return nil
}

// startXMPP starts pua_xmpp, then the link (which returns at once and
// connects in the background), after the pua core and the location
// service.
func (s *Server) startXMPP(ctx context.Context) error {
	if s.puaXMPP != nil {
		if err := s.puaXMPP.Start(ctx); err != nil {
			return err
		}
		s.started = append(s.started, stopper{"pua_xmpp", s.puaXMPP.Stop})
	}
	if s.xmpp != nil {
		if err := s.xmpp.Start(ctx); err != nil {
			return err
		}
		s.started = append(s.started, stopper{"xmpp", s.xmpp.Stop})
	}
	return nil
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return ""
}
