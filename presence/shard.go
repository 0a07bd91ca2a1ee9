package presence

import (
	"container/heap"
	"sync"
	"time"
)

// A shard owns a subset of the presentities (chosen by a hash of the
// presentity URI) and applies every change to them in order, on its own
// goroutine: publications, subscriptions, expiries and NOTIFY outcomes.
// Nothing of a presentity is touched outside its shard goroutine, so no
// lock guards presentity state, and a "terminated" can never be overtaken
// by an "early" for the same presentity.
type shard struct {
	srv   *Server
	box   mailbox
	pres  map[string]*presentity
	timer timerHeap
	done  chan struct{}
}

// do runs f on the shard goroutine, after everything posted before it.
// It never blocks.
func (sh *shard) do(f func()) {
	sh.box.post(f)
}

// run is the shard goroutine. It ends when stop is closed and the mailbox
// is empty.
func (sh *shard) run(stop <-chan struct{}) {
	defer close(sh.done)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var batch []func()
	for {
		// Since Go 1.23 Reset and Stop leave no stale tick in t.C.
		var wake <-chan time.Time
		if next, ok := sh.timer.next(); ok {
			t.Reset(max(0, time.Until(next)))
			wake = t.C
		} else {
			t.Stop()
		}
		select {
		case <-sh.box.signal:
			batch = sh.box.drain(batch)
			for i, f := range batch {
				f()
				batch[i] = nil
			}
		case <-wake:
			sh.expire(time.Now())
		case <-stop:
			batch = sh.box.drain(batch)
			for _, f := range batch {
				f()
			}
			return
		}
	}
}

// mailbox is an unbounded multi-producer queue of closures for one
// consumer. Posting never blocks, so callbacks from the SIP layer can never
// deadlock against a busy shard.
type mailbox struct {
	mu     sync.Mutex
	q      []func()
	signal chan struct{}
}

func (m *mailbox) init() { m.signal = make(chan struct{}, 1) }

func (m *mailbox) post(f func()) {
	m.mu.Lock()
	m.q = append(m.q, f)
	m.mu.Unlock()
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

// drain swaps the queue out and returns it, reusing buf's storage for the
// next round.
func (m *mailbox) drain(buf []func()) []func() {
	m.mu.Lock()
	q := m.q
	m.q = buf[:0]
	m.mu.Unlock()
	return q
}

func (m *mailbox) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q)
}

// timed is a record's place in its shard's timer heap. A record has at
// most one entry: a refresh moves it (heap.Fix), a removal takes it out,
// so the heap never holds more entries than live records.
type timed struct {
	at    time.Time
	index int // position in the heap, -1 when not scheduled
	fire  func(now time.Time)
}

// timerHeap is the shard's min-heap of expiries: one heap per shard, not
// one runtime timer per record.
type timerHeap []*timed

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	e := x.(*timed)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *timerHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// schedule sets e to fire at at, adding or moving it.
func (h *timerHeap) schedule(e *timed, at time.Time) {
	e.at = at
	if e.index >= 0 && e.index < len(*h) && (*h)[e.index] == e {
		heap.Fix(h, e.index)
		return
	}
	heap.Push(h, e)
}

// cancel takes e out of the heap if it is scheduled.
func (h *timerHeap) cancel(e *timed) {
	if e.index >= 0 && e.index < len(*h) && (*h)[e.index] == e {
		heap.Remove(h, e.index)
	}
	e.index = -1
}

func (h timerHeap) next() (time.Time, bool) {
	if len(h) == 0 {
		return time.Time{}, false
	}
	return h[0].at, true
}

// popDue removes and returns the first entry due at now, if any.
func (h *timerHeap) popDue(now time.Time) (*timed, bool) {
	if len(*h) == 0 || (*h)[0].at.After(now) {
		return nil, false
	}
	return heap.Pop(h).(*timed), true
}

// expire fires every entry due at now.
func (sh *shard) expire(now time.Time) {
	for {
		e, ok := sh.timer.popDue(now)
		if !ok {
			return
		}
		e.fire(now)
	}
}
