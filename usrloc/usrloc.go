// Package usrloc is the location service: the contact bindings of each
// address of record, their expiry, and change events (insert, update,
// delete, expire) for the modules that follow registrations (pua_usrloc,
// pua_bla).
//
// Bindings are spread over shards by AOR (internal/shard): one goroutine
// per shard applies every change of its AORs in order, with one timer heap
// for the expiries. A change is answered only after it is committed to the
// store (internal/commit), so a 200 to a REGISTER means the binding
// survives a kill -9. Events are delivered on the shard goroutine, in
// order per AOR; subscribers must not block.
package usrloc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/presenced/presenced/internal/commit"
	"github.com/presenced/presenced/internal/shard"
)

// EventKind says what happened to a binding.
type EventKind int

// The kinds of change events.
const (
	Insert EventKind = iota + 1 // a new binding
	Update                      // a binding refreshed or changed by a REGISTER
	Delete                      // a binding removed by a REGISTER or the management API
	Expire                      // a binding that lapsed
)

func (k EventKind) String() string {
	switch k {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	case Expire:
		return "expire"
	}
	return "unknown"
}

// Event is a change of one binding. Request is the REGISTER that caused
// it, nil for expiries and management deletions.
type Event struct {
	Kind    EventKind
	Binding Binding
	Request *sip.Request
}

// Config is the usrloc section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Shards is the number of worker goroutines AORs are spread over.
	// Default 0: four times GOMAXPROCS.
	Shards int `yaml:"shards"`
}

// Default returns the defaults: on.
func Default() Config { return Config{Enabled: true} }

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	if c.Shards < 0 || c.Shards > 1024 {
		return []error{fmt.Errorf("shards: want 0..1024, got %d", c.Shards)}
	}
	return nil
}

// Deps are the location service's collaborators.
type Deps struct {
	Store      Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service is the location service.
type Service struct {
	cfg    Config
	log    *slog.Logger
	store  Store
	group  *shard.Group
	shards []*ushard
	commit *commit.Committer[*Batch]
	gauge  prometheus.Gauge
	events *prometheus.CounterVec

	mu   sync.RWMutex
	subs []func(Event)
}

type ushard struct {
	*shard.Shard
	aors map[string]*aor
}

type aor struct {
	name     string
	bindings []*binding
}

type binding struct {
	Binding
	timer shard.Timer
}

// New builds the location service.
func New(cfg Config, deps Deps) (*Service, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("usrloc config: %w", errors.Join(errs...))
	}
	if deps.Store == nil {
		return nil, errors.New("usrloc: Store is required")
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: log.With("module", "usrloc"), store: deps.Store}
	n := cfg.Shards
	if n == 0 {
		n = 4 * runtime.GOMAXPROCS(0)
	}
	s.group = shard.NewGroup(n)
	for _, g := range s.group.Shards() {
		s.shards = append(s.shards, &ushard{Shard: g, aors: map[string]*aor{}})
	}
	s.commit = commit.New(func(ctx context.Context, bs []*Batch) error {
		b := mergeBatches(bs)
		if b.Empty() {
			return nil
		}
		return s.store.WriteBindings(ctx, b)
	}, 1000, s.log)
	s.gauge = prometheus.NewGauge(prometheus.GaugeOpts{Name: "presenced_usrloc_bindings", Help: "Registered contact bindings."})
	s.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "presenced_usrloc_events_total", Help: "Binding changes, by kind."}, []string{"kind"})
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(s.gauge, s.events)
	}
	return s, nil
}

// Subscribe registers f for every change event. Call it before Start. f
// runs on a shard goroutine, in order per AOR, and must not block.
func (s *Service) Subscribe(f func(Event)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, f)
}

func (s *Service) emit(e Event) {
	s.events.WithLabelValues(e.Kind.String()).Inc()
	s.mu.RLock()
	subs := s.subs
	s.mu.RUnlock()
	for _, f := range subs {
		f(e)
	}
}

// Start loads the stored bindings (dropping lapsed ones, which are
// announced as expired) and starts the shards.
func (s *Service) Start(ctx context.Context) error {
	list, err := s.store.LoadBindings(ctx)
	if err != nil {
		return fmt.Errorf("usrloc: load bindings: %w", err)
	}
	s.commit.Start()
	s.group.Start()
	for _, b := range list {
		b := *b
		sh := s.shardOf(b.AOR)
		sh.Do(func() {
			a := sh.aor(b.AOR, true)
			nb := &binding{Binding: b}
			a.bindings = append(a.bindings, nb)
			s.gauge.Inc()
			s.schedule(sh, a, nb) // a lapsed one fires at once: Expire event
		})
	}
	return nil
}

// Stop stops the shards and flushes the store writes.
func (s *Service) Stop(ctx context.Context) error {
	if err := s.group.Stop(ctx); err != nil {
		return fmt.Errorf("usrloc: %w", err)
	}
	return s.commit.Stop(ctx)
}

func (s *Service) shardOf(a string) *ushard { return s.shards[s.group.Of(a).Index] }

func (sh *ushard) aor(name string, create bool) *aor {
	a := sh.aors[name]
	if a == nil && create {
		a = &aor{name: name}
		sh.aors[name] = a
	}
	return a
}

func (s *Service) schedule(sh *ushard, a *aor, b *binding) {
	b.timer.Fire = func(now time.Time) { s.expire(sh, a, b, now) }
	sh.Schedule(&b.timer, b.Expires)
}

// expire removes a lapsed binding.
func (s *Service) expire(sh *ushard, a *aor, b *binding, now time.Time) {
	if b.Expires.After(now) {
		sh.Schedule(&b.timer, b.Expires)
		return
	}
	if i := slices.Index(a.bindings, b); i >= 0 {
		a.bindings = slices.Delete(a.bindings, i, i+1)
	}
	if len(a.bindings) == 0 && sh.aors[a.name] == a {
		delete(sh.aors, a.name)
	}
	s.gauge.Dec()
	s.commit.Submit(&Batch{Delete: []string{b.ID}}, nil)
	s.emit(Event{Kind: Expire, Binding: b.Binding})
}

// Change is one change an Update function asks for.
type Change struct {
	Remove  bool    // remove the binding with Binding.ID
	Binding Binding // the binding to add (ID empty) or replace (ID set)
}

// ErrAborted wraps the error an Update function returns to refuse the
// whole request.
var ErrAborted = errors.New("update aborted")

// Update runs f on the AOR's shard with the AOR's current bindings and
// applies the changes it returns, all or nothing: they are committed to the
// store, then the events are emitted and the bindings after the change
// returned. An error from f aborts with nothing changed.
func (s *Service) Update(ctx context.Context, aorName string, req *sip.Request, f func(now time.Time, current []Binding) ([]Change, error)) ([]Binding, error) {
	type result struct {
		list []Binding
		err  error
	}
	ch := make(chan result, 1)
	sh := s.shardOf(aorName)
	sh.Do(func() {
		now := time.Now()
		a := sh.aor(aorName, false)
		var current []Binding
		if a != nil {
			for _, b := range a.bindings {
				if b.Expires.After(now) {
					current = append(current, b.Binding)
				}
			}
		}
		changes, err := f(now, current)
		if err != nil {
			ch <- result{nil, err}
			return
		}
		if len(changes) == 0 {
			ch <- result{current, nil}
			return
		}
		if a == nil {
			a = sh.aor(aorName, true)
		}
		var batch Batch
		var events []Event
		for _, c := range changes {
			i := slices.IndexFunc(a.bindings, func(b *binding) bool { return c.Binding.ID != "" && b.ID == c.Binding.ID })
			switch {
			case c.Remove:
				if i < 0 {
					continue
				}
				b := a.bindings[i]
				sh.Cancel(&b.timer)
				a.bindings = slices.Delete(a.bindings, i, i+1)
				s.gauge.Dec()
				batch.Delete = append(batch.Delete, b.ID)
				events = append(events, Event{Kind: Delete, Binding: b.Binding, Request: req})
			case i >= 0:
				b := a.bindings[i]
				b.Binding = c.Binding
				b.AOR = aorName
				b.Updated = now
				sh.Schedule(&b.timer, b.Expires)
				rec := b.Binding
				batch.Put = append(batch.Put, &rec)
				events = append(events, Event{Kind: Update, Binding: b.Binding, Request: req})
			default:
				b := &binding{Binding: c.Binding}
				if b.ID == "" {
					b.ID = newID()
				}
				b.AOR = aorName
				b.Updated = now
				a.bindings = append(a.bindings, b)
				s.gauge.Inc()
				s.schedule(sh, a, b)
				rec := b.Binding
				batch.Put = append(batch.Put, &rec)
				events = append(events, Event{Kind: Insert, Binding: b.Binding, Request: req})
			}
		}
		list := make([]Binding, 0, len(a.bindings))
		for _, b := range a.bindings {
			list = append(list, b.Binding)
		}
		if len(a.bindings) == 0 {
			delete(sh.aors, aorName)
		}
		for _, e := range events {
			s.emit(e)
		}
		s.commit.Submit(&batch, func(err error) {
			if err != nil {
				ch <- result{nil, fmt.Errorf("usrloc: store: %w", err)}
				return
			}
			ch <- result{list, nil}
		})
	})
	select {
	case r := <-ch:
		return r.list, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Lookup returns the live bindings of an AOR, by q-value (highest first).
func (s *Service) Lookup(ctx context.Context, aorName string) ([]Binding, error) {
	var out []Binding
	err := s.group.On(ctx, aorName, func(g *shard.Shard) {
		sh := s.shards[g.Index]
		now := time.Now()
		if a := sh.aors[aorName]; a != nil {
			for _, b := range a.bindings {
				if b.Expires.After(now) {
					out = append(out, b.Binding)
				}
			}
		}
	})
	slices.SortStableFunc(out, func(a, b Binding) int { return qOf(b) - qOf(a) })
	return out, err
}

func qOf(b Binding) int {
	if b.Q < 0 {
		return 1000
	}
	return b.Q
}

// Known reports whether the AOR has bindings, for "unknown user" versus
// "no contact" decisions.
func (s *Service) Known(ctx context.Context, aorName string) (bool, error) {
	bs, err := s.Lookup(ctx, aorName)
	return len(bs) > 0, err
}

// mergeBatches coalesces batches: for each binding the last change wins.
func mergeBatches(bs []*Batch) *Batch {
	var l commit.Latest[string, Binding]
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

func newID() string {
	return strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36)
}
