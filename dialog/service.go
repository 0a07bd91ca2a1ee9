package dialog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/commit"
	"github.com/presenced/presenced/internal/shard"
)

// ReasonAdmin is the reason of a dialog ended through the management API
// (dlg_end_dlg). It is not an RFC 4235 event value: publications of it
// carry no event attribute.
const ReasonAdmin = "admin"

// callLinger is how long a call whose branches all ended is kept, so that
// a retried INVITE (same Call-ID and From tag, after a 401 or 407)
// numbers its branches after the earlier ones instead of reusing an id
// that already went terminated.
const callLinger = 32 * time.Second

// Deps are the tracker's collaborators.
type Deps struct {
	// Store persists confirmed dialogs; nil keeps them in memory only.
	Store      Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service is the dialog tracker.
type Service struct {
	cfg      Config
	lifetime time.Duration
	log      *slog.Logger
	store    Store
	group    *shard.Group
	shards   []*dshard
	commit   *commit.Committer[*Batch]
	peers    *shard.Index[Hop]

	active prometheus.Gauge
	events *prometheus.CounterVec

	mu      sync.RWMutex
	subs    []func(Event)
	hangups []func(Record)
}

var _ Tracker = (*Service)(nil)

type dshard struct {
	*shard.Shard
	s     *Service
	calls map[string]*call // by callKey
}

// call is the branches of one initial INVITE and its retries: same
// Call-ID, same From tag. It lives on its shard.
type call struct {
	key      string
	info     CallInfo
	branches []*branch
	next     int // index of the next branch
	linger   shard.Timer
}

// branch is one dialog. It lives on its shard.
type branch struct {
	rec       Record
	call      *call
	timer     shard.Timer // maximum lifetime
	persisted bool
}

func callKey(callID, callerTag string) string { return callID + "\x00" + callerTag }

// New builds the tracker. Nothing runs before Start.
func New(cfg Config, deps Deps) (*Service, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("dialog config: %w", errors.Join(errs...))
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg:      cfg,
		lifetime: time.Duration(cfg.MaxLifetime) * time.Second,
		log:      log.With("module", "dialog"),
		store:    deps.Store,
		peers:    shard.NewIndex[Hop](),
	}
	n := cfg.Shards
	if n == 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	s.group = shard.NewGroup(n)
	for _, g := range s.group.Shards() {
		s.shards = append(s.shards, &dshard{Shard: g, s: s, calls: map[string]*call{}})
	}
	s.commit = commit.New(func(ctx context.Context, bs []*Batch) error {
		b := mergeBatches(bs)
		if b.Empty() || s.store == nil {
			return nil
		}
		return s.store.WriteDialogs(ctx, b)
	}, 1000, s.log)
	s.active = prometheus.NewGauge(prometheus.GaugeOpts{Name: "presenced_dialog_active", Help: "Dialogs (branches) not terminated."})
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_dialog_events_total", Help: "Dialog events delivered, by state (refreshed for re-INVITEs)."}, []string{"state"})
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(s.active, s.events)
	}
	return s, nil
}

// Subscribe registers f for every event; call it before Start. f runs on
// a shard goroutine, in order per call, and must not block.
func (s *Service) Subscribe(f func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, f)
}

// OnHangup registers f, called when the tracker itself ends a confirmed
// dialog (maximum lifetime, dlg_end_dlg), after the Terminated event: f
// sends the BYEs to both parties (the proxy does). It runs on a shard
// goroutine and must not block.
func (s *Service) OnHangup(f func(Record)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangups = append(s.hangups, f)
}

// Start loads the persisted dialogs, ends those whose lifetime passed
// (Terminated timeout, and a hangup), and starts the shards.
func (s *Service) Start(ctx context.Context) error {
	var list []*Record
	if s.store != nil {
		var err error
		if list, err = s.store.LoadDialogs(ctx); err != nil {
			return fmt.Errorf("dialog: load dialogs: %w", err)
		}
	}
	s.commit.Start()
	s.group.Start()
	for _, r := range list {
		r := r.Clone()
		sh := s.shardOf(r.CallID)
		sh.Do(func() { sh.restore(r) })
	}
	if len(list) > 0 {
		s.log.Info("dialogs loaded", "count", len(list))
	}
	return nil
}

// Stop stops the shards and flushes the store writes.
func (s *Service) Stop(ctx context.Context) error {
	if err := s.group.Stop(ctx); err != nil {
		return fmt.Errorf("dialog: %w", err)
	}
	if err := s.commit.Stop(ctx); err != nil {
		return fmt.Errorf("dialog: %w", err)
	}
	return nil
}

func (s *Service) shardOf(callID string) *dshard { return s.shards[s.group.Of(callID).Index] }

func (s *Service) emit(e Event) {
	label := string(e.Dialog.State)
	if e.Kind == Refreshed {
		label = "refreshed"
	}
	s.events.WithLabelValues(label).Inc()
	s.mu.RLock()
	subs := s.subs
	s.mu.RUnlock()
	for _, f := range subs {
		f(e)
	}
}

func (s *Service) hangup(r Record) {
	s.mu.RLock()
	hs := s.hangups
	s.mu.RUnlock()
	for _, f := range hs {
		f(r)
	}
}

// restore puts a persisted dialog back on its shard.
func (sh *dshard) restore(r *Record) {
	s := sh.s
	key := callKey(r.CallID, r.CallerTag)
	c := sh.calls[key]
	if c == nil {
		c = &call{key: key, info: CallInfo{CallID: r.CallID, CallerTag: r.CallerTag, Caller: r.Caller}}
		c.linger.Fire = func(time.Time) { sh.dropIfEnded(c) }
		sh.calls[key] = c
	}
	c.next = max(c.next, r.Branch+1)
	r.State = Confirmed
	br := &branch{rec: *r, call: c, persisted: true}
	c.branches = append(c.branches, br)
	s.active.Inc()
	br.timer.Fire = func(now time.Time) { sh.lifetimeOver(br, now) }
	sh.Schedule(&br.timer, r.Expires) // a lapsed one fires at once
	sh.putPeers(br)
}

// lifetimeOver ends a branch whose maximum lifetime passed.
func (sh *dshard) lifetimeOver(br *branch, now time.Time) {
	if br.rec.State == Terminated {
		return
	}
	if br.rec.Expires.After(now) {
		sh.Schedule(&br.timer, br.rec.Expires)
		return
	}
	confirmed := br.rec.State == Confirmed
	sh.end(br, ReasonTimeout, 0)
	if confirmed {
		sh.s.hangup(*br.rec.Clone())
	}
}

// advance moves br to state st if that is forward, applies f first, and
// emits the change.
func (sh *dshard) advance(br *branch, st State, f func()) bool {
	prev := br.rec.State
	if rank(st) <= rank(prev) {
		return false
	}
	if f != nil {
		f()
	}
	br.rec.State = st
	sh.s.emit(Event{Kind: StateChanged, Dialog: br.rec.Dialog, Prev: prev})
	return true
}

// end terminates br (once).
func (sh *dshard) end(br *branch, reason string, code int) {
	s := sh.s
	prev := br.rec.State
	if prev == Terminated {
		return
	}
	br.rec.State = Terminated
	br.rec.Reason = reason
	br.rec.Code = code
	sh.Cancel(&br.timer)
	s.active.Dec()
	sh.deletePeers(br)
	if br.persisted {
		br.persisted = false
		s.commit.Submit(&Batch{Delete: []string{br.rec.ID}}, nil)
	}
	s.emit(Event{Kind: StateChanged, Dialog: br.rec.Dialog, Prev: prev})
	sh.maybeLinger(br.call)
}

// maybeLinger schedules the removal of a call whose branches all ended.
func (sh *dshard) maybeLinger(c *call) {
	for _, br := range c.branches {
		if br.rec.State != Terminated {
			return
		}
	}
	sh.Schedule(&c.linger, time.Now().Add(callLinger))
}

func (sh *dshard) dropIfEnded(c *call) {
	for _, br := range c.branches {
		if br.rec.State != Terminated {
			return
		}
	}
	if sh.calls[c.key] == c {
		delete(sh.calls, c.key)
	}
}

// persist writes br (confirmed) to the store; done, if not nil, runs
// once the write is durable (or failed), on the committer goroutine.
func (sh *dshard) persist(br *branch, done func()) {
	s := sh.s
	br.persisted = true
	s.commit.Submit(&Batch{Put: []*Record{br.rec.Clone()}}, func(err error) {
		if err != nil {
			s.log.Error("dialog not persisted", "dialog", br.rec.ID, "err", err)
		}
		if done != nil {
			done()
		}
	})
}

func rank(s State) int {
	switch s {
	case Trying:
		return 1
	case Proceeding:
		return 2
	case Early:
		return 3
	case Confirmed:
		return 4
	case Terminated:
		return 5
	}
	return 0
}

// mergeBatches coalesces batches: for each dialog the last change wins.
func mergeBatches(bs []*Batch) *Batch {
	var l commit.Latest[string, Record]
	for _, b := range bs {
		for _, p := range b.Put {
			l.Put(p.ID, p)
		}
		for _, id := range b.Delete {
			l.Delete(id)
		}
	}
	out := &Batch{}
	out.Put, out.Delete = l.Split()
	return out
}
