// Package presence is the presence server: an event state compositor for
// PUBLISH (RFC 3903) and a notifier for SUBSCRIBE/NOTIFY (RFC 6665), with
// publication-based event packages (presence, dialog, dialog;sla, from
// presence/events), watcher information (RFC 3857) and subscription
// authorization.
//
// Ordering: presentities are spread over shards by a hash of their URI;
// one goroutine per shard applies every change to its presentities in
// order (see shard.go). The only state shared between shards is the index
// from subscription dialog id to presentity (subIndex, its own mutexes)
// and the persistence queue (committer). Lock order: none is held while
// taking another.
//
// Persistence: publications, subscriptions and authorization decisions
// are written to the Store in batches by one committer goroutine. A
// request is answered only after the change it made is committed, so an
// ETag or a subscription a client holds survives a kill -9. NOTIFY CSeqs
// and document versions are not written per NOTIFY: a subscription is
// written (behind, not waited for) when it changes and as a checkpoint
// every `checkpoint` NOTIFYs, and all of them at a graceful stop; at load
// CSeqs and versions are raised by restartGap (more than checkpoint), so a
// NOTIFY after a restart, even after kill -9, always carries a higher CSeq
// and version than any sent before it. A fan-out to 10,000 watchers thus
// costs no store write.
package presence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/commit"
	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// restartGap is added to every stored NOTIFY CSeq and document version at
// load, covering NOTIFYs whose write-behind had not reached the store.
const restartGap = 1000

// checkpoint is how many NOTIFYs a subscription may send before its CSeq
// and version are written again; it must stay below restartGap.
const checkpoint = restartGap / 2

// SIP is what the presence server needs from the SIP layer.
type SIP interface {
	Handle(method sip.RequestMethod, h sipnet.Handler)
	Send(req *sip.Request, opts sipnet.SendOptions, done func(*sip.Response, error)) error
	ContactURI(transport, user string) sip.Uri
}

var _ SIP = (*sipnet.Stack)(nil)

// Deps are the presence server's collaborators.
type Deps struct {
	SIP         SIP
	Store       Store
	Domains     *sipaddr.Domains // nil: every domain
	Packages    []EventPackage   // presence, dialog, dialog;sla ...
	WatcherInfo WatcherInfoPackage
	Logger      *slog.Logger
	Registerer  prometheus.Registerer // nil: no metrics
}

// Server is the presence server. Build it with New, then Start.
type Server struct {
	cfg     Config
	log     *slog.Logger
	sip     SIP
	store   Store
	domains *sipaddr.Domains
	pkgs    map[string]EventPackage
	winfo   WatcherInfoPackage
	events  []string // Allow-Events, in registration order
	policy  policy

	group  *shard.Group
	shards []*pshard            // by shard index
	subs   *shard.Index[string] // subscription id -> presentity
	commit *commit.Committer[*Batch]
	sendq  chan func()    // NOTIFYs to encode and send, for the senders
	sendWG sync.WaitGroup // the senders

	etagPrefix string
	etagSeq    atomic.Uint64

	m metrics
}

// New builds a presence server from its config section and dependencies.
func New(cfg Config, deps Deps) (*Server, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("presence config: %w", errors.Join(errs...))
	}
	if deps.SIP == nil || deps.Store == nil {
		return nil, errors.New("presence: SIP and Store are required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:        cfg,
		log:        log.With("module", "presence"),
		sip:        deps.SIP,
		store:      deps.Store,
		domains:    deps.Domains,
		pkgs:       map[string]EventPackage{},
		winfo:      deps.WatcherInfo,
		policy:     newPolicy(cfg.Authorization),
		etagPrefix: strconv.FormatUint(rand.Uint64()&0xffffff, 36),
	}
	for _, p := range deps.Packages {
		if _, dup := s.pkgs[p.Name()]; dup {
			return nil, fmt.Errorf("presence: event package %q registered twice", p.Name())
		}
		s.pkgs[p.Name()] = p
		s.events = append(s.events, p.Name())
	}
	if s.winfo != nil {
		s.events = append(s.events, s.winfo.Name())
	}
	n := cfg.Shards
	if n == 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	s.group = shard.NewGroup(n)
	for _, g := range s.group.Shards() {
		s.shards = append(s.shards, &pshard{Shard: g, srv: s, pres: map[string]*presentity{}})
	}
	s.subs = shard.NewIndex[string]()
	s.commit = newCommitter(deps.Store, 1000, s.log)
	s.m.init(deps.Registerer)
	return s, nil
}

// Start loads the stored state, starts the shards and the committer and
// registers the SIP handlers. It returns once the server is ready.
func (s *Server) Start(ctx context.Context) error {
	st, err := s.store.LoadPresence(ctx)
	if err != nil {
		return fmt.Errorf("presence: load state: %w", err)
	}
	raised := s.restore(st, time.Now())
	s.commit.Start()
	if !raised.Empty() {
		done := make(chan error, 1)
		s.commit.Submit(raised, func(err error) { done <- err })
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("presence: write restored subscriptions: %w", err)
			}
		case <-ctx.Done():
			return fmt.Errorf("presence: write restored subscriptions: %w", ctx.Err())
		}
	}
	s.sendq = make(chan func(), 4096)
	for range runtime.GOMAXPROCS(0) {
		s.sendWG.Add(1)
		go func() { // a sender: ends when Stop closes sendq
			defer s.sendWG.Done()
			for f := range s.sendq {
				f()
			}
		}()
	}
	s.group.Start()
	s.sip.Handle(sip.PUBLISH, s.handlePublish)
	s.sip.Handle(sip.SUBSCRIBE, s.handleSubscribe)
	return nil
}

// Stop stops the shards, then flushes every pending write to the store.
// NOTIFYs in flight are not waited for.
func (s *Server) Stop(ctx context.Context) error {
	select {
	case <-s.group.Stopped():
		return nil
	default:
	}
	// Write the CSeqs and versions the checkpoints left behind, so a
	// graceful restart loses none (the shards are stopped: no race).
	if err := s.group.Stop(ctx); err != nil {
		return fmt.Errorf("presence: %w", err)
	}
	if s.sendq != nil { // nil when Start failed before the senders
		close(s.sendq)
		s.sendWG.Wait()
	}
	var b Batch
	for _, sh := range s.shards {
		for _, p := range sh.pres {
			for _, es := range p.events {
				for sub := range es.subs.all {
					if sub.LocalCSeq != sub.savedCSeq || sub.Version != sub.savedVersion {
						b.PutSubscriptions = append(b.PutSubscriptions, sub.record())
					}
				}
			}
		}
	}
	if !b.Empty() {
		s.commit.Submit(&b, nil)
	}
	return s.commit.Stop(ctx)
}

// EventPackages lists the event packages served, for Allow-Events.
func (s *Server) EventPackages() []string { return append([]string(nil), s.events...) }

func (s *Server) shardOf(presentity string) *pshard {
	return s.shards[s.group.Of(presentity).Index]
}

// pshard is a shard with the presentities it owns.
type pshard struct {
	*shard.Shard
	srv  *Server
	pres map[string]*presentity
}

// newETag returns an entity tag unique to this server: a per-start prefix,
// a counter and randomness, so it cannot collide across restarts and is not
// guessable from another publisher's tag.
func (s *Server) newETag() string {
	n := s.etagSeq.Add(1)
	b := make([]byte, 0, 32)
	b = append(b, 'a')
	b = append(b, s.etagPrefix...)
	b = append(b, '.')
	b = strconv.AppendUint(b, n, 36)
	b = append(b, '.')
	b = strconv.AppendUint(b, rand.Uint64()&0xffffffffff, 36)
	return string(b)
}

// newTag returns a random dialog tag.
func newTag() string {
	return strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(uint64(rand.Uint32()), 36)
}

// newID returns a random identifier for stored records.
func newID() string {
	return strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
}
