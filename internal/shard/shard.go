// Package shard runs ordered work: a Group spreads keys (presentity URIs,
// AORs) over a fixed set of shards by hash, and each Shard applies the
// closures posted to it in order on its own goroutine, with one timer heap
// per shard instead of a runtime timer per record. State owned by a shard
// needs no lock, and changes to one key can never overtake each other.
package shard

import (
	"container/heap"
	"context"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// Group is a fixed set of shards.
type Group struct {
	seed   maphash.Seed
	shards []*Shard
	stop   chan struct{}
	wg     sync.WaitGroup
}

// NewGroup builds n shards (at least 1). They run after Start.
func NewGroup(n int) *Group {
	g := &Group{seed: maphash.MakeSeed(), stop: make(chan struct{})}
	for i := 0; i < max(n, 1); i++ {
		s := &Shard{Index: i, signal: make(chan struct{}, 1), stopped: g.stop}
		g.shards = append(g.shards, s)
	}
	return g
}

// Len is the number of shards.
func (g *Group) Len() int { return len(g.shards) }

// Shards returns every shard.
func (g *Group) Shards() []*Shard { return g.shards }

// Of returns the shard owning key.
func (g *Group) Of(key string) *Shard {
	return g.shards[maphash.String(g.seed, key)%uint64(len(g.shards))]
}

// Start starts one goroutine per shard; Stop ends them.
func (g *Group) Start() {
	for _, s := range g.shards {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			s.run(g.stop)
		}()
	}
}

// Stop ends the shard goroutines after they ran what was posted before,
// and waits for them within ctx.
func (g *Group) Stop(ctx context.Context) error {
	select {
	case <-g.stop:
		return nil
	default:
	}
	close(g.stop)
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop shards: %w", ctx.Err())
	}
}

// Stopped is closed when Stop was called.
func (g *Group) Stopped() <-chan struct{} { return g.stop }

// Each runs f on every shard goroutine and waits for all of them.
func (g *Group) Each(ctx context.Context, f func(s *Shard)) error {
	done := make(chan struct{}, len(g.shards))
	for _, s := range g.shards {
		s.Do(func() {
			f(s)
			done <- struct{}{}
		})
	}
	for range g.shards {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-g.stop:
			return fmt.Errorf("shards stopped")
		}
	}
	return nil
}

// On runs f on the shard of key and waits for it.
func (g *Group) On(ctx context.Context, key string, f func(s *Shard)) error {
	done := make(chan struct{})
	s := g.Of(key)
	s.Do(func() {
		f(s)
		close(done)
	})
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return fmt.Errorf("shards stopped")
	}
}

// Shard is one ordered worker.
type Shard struct {
	Index int

	mu      sync.Mutex
	q       []func()
	signal  chan struct{}
	timers  timerHeap
	stopped chan struct{}
}

// Do runs f on the shard goroutine after everything posted before it. It
// never blocks, so callbacks from the network can never deadlock against a
// busy shard.
func (s *Shard) Do(f func()) {
	s.mu.Lock()
	s.q = append(s.q, f)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Pending is the number of closures waiting.
func (s *Shard) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q)
}

func (s *Shard) drain(buf []func()) []func() {
	s.mu.Lock()
	q := s.q
	s.q = buf[:0]
	s.mu.Unlock()
	return q
}

func (s *Shard) run(stop <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var batch []func()
	for {
		// Since Go 1.23 Reset and Stop leave no stale tick in t.C.
		var wake <-chan time.Time
		if len(s.timers) > 0 {
			t.Reset(max(0, time.Until(s.timers[0].at)))
			wake = t.C
		} else {
			t.Stop()
		}
		select {
		case <-s.signal:
			batch = s.drain(batch)
			for i, f := range batch {
				f()
				batch[i] = nil
			}
		case <-wake:
			s.fire(time.Now())
		case <-stop:
			for {
				batch = s.drain(batch)
				if len(batch) == 0 {
					return
				}
				for i, f := range batch {
					f()
					batch[i] = nil
				}
			}
		}
	}
}

// Timer is a record's place in its shard's timer heap. A record has at
// most one: Schedule moves it, Cancel takes it out, so the heap never holds
// more entries than live records. Fire runs on the shard goroutine.
type Timer struct {
	Fire  func(now time.Time)
	at    time.Time
	index int // position in the heap + 1; 0 when not scheduled
}

// At is when the timer fires, zero when not scheduled.
func (t *Timer) At() time.Time {
	if t.index == 0 {
		return time.Time{}
	}
	return t.at
}

// Schedule sets t to fire at at (on the shard goroutine only).
func (s *Shard) Schedule(t *Timer, at time.Time) {
	t.at = at
	if t.index > 0 && t.index <= len(s.timers) && s.timers[t.index-1] == t {
		heap.Fix(&s.timers, t.index-1)
		return
	}
	heap.Push(&s.timers, t)
}

// Cancel takes t out of the heap if it is scheduled.
func (s *Shard) Cancel(t *Timer) {
	if t.index > 0 && t.index <= len(s.timers) && s.timers[t.index-1] == t {
		heap.Remove(&s.timers, t.index-1)
	}
	t.index = 0
}

// Timers is the number of scheduled timers.
func (s *Shard) Timers() int { return len(s.timers) }

func (s *Shard) fire(now time.Time) {
	for len(s.timers) > 0 && !s.timers[0].at.After(now) {
		t := heap.Pop(&s.timers).(*Timer)
		t.Fire(now)
	}
}

type timerHeap []*Timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i + 1
	h[j].index = j + 1
}
func (h *timerHeap) Push(x any) {
	t := x.(*Timer)
	t.index = len(*h) + 1
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = 0
	return t
}
