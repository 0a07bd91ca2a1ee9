package sipnet

import (
	"math"
	"sync"
	"time"
)

// Transaction timers. Every timer a transaction arms has one of a few
// durations fixed at New (T1 * 2^k, T2, T4, 64*T1, 200 ms), so the nodes of
// one duration expire in the order they were armed: each duration is a
// FIFO list, arming and disarming are O(1), and one goroutine sleeps until
// the earliest head of all lists. A node is embedded in its transaction, so
// arming allocates nothing and a disarmed node keeps nothing alive.

type timerKind uint8

const (
	timerRetransmit timerKind = iota + 1 // client A/E, server G
	timerTimeout                         // client B/F, server H
	timerLinger                          // end of a finished transaction: server I/J/L, client D/K/M
	timerTrying                          // automatic 100 Trying for INVITE
	timerAnswer                          // the handler did not answer a non-INVITE in 64*T1
	timerCancel                          // no final response 64*T1 after a CANCEL
)

// timerOwner gets the fired timers. onTimer runs on the timer goroutine
// without any lock held, possibly after the node was re-armed for another
// kind, so it checks its own state before acting.
type timerOwner interface {
	onTimer(kind timerKind)
}

type timerNode struct {
	prev, next *timerNode
	q          *timerQueue // nil when not armed
	when       time.Duration
	owner      timerOwner
	kind       timerKind
}

type timerQueue struct {
	d          time.Duration
	head, tail *timerNode
}

func (q *timerQueue) push(n *timerNode) {
	n.q = q
	n.prev = q.tail
	n.next = nil
	if q.tail != nil {
		q.tail.next = n
	} else {
		q.head = n
	}
	q.tail = n
}

func (q *timerQueue) unlink(n *timerNode) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		q.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		q.tail = n.prev
	}
	n.prev, n.next, n.q = nil, nil, nil
}

type firedTimer struct {
	owner timerOwner
	kind  timerKind
}

// timerSet holds the queues. Its mutex is a leaf: nothing else is locked
// while it is held.
type timerSet struct {
	mu     sync.Mutex
	epoch  time.Time
	queues []*timerQueue
	wakeAt time.Duration // when run plans to wake up
	wake   chan struct{}
	panic  func(v any) // reports a panic of onTimer
}

const never = time.Duration(math.MaxInt64)

func newTimerSet(onPanic func(v any)) *timerSet {
	return &timerSet{epoch: time.Now(), wakeAt: never, wake: make(chan struct{}, 1), panic: onPanic}
}

func (t *timerSet) now() time.Duration { return time.Since(t.epoch) }

func (t *timerSet) queue(d time.Duration) *timerQueue {
	for _, q := range t.queues {
		if q.d == d {
			return q
		}
	}
	q := &timerQueue{d: d}
	t.queues = append(t.queues, q)
	return q
}

// arm (re)arms n to fire kind on owner after d.
func (t *timerSet) arm(n *timerNode, d time.Duration, owner timerOwner, kind timerKind) {
	t.mu.Lock()
	if n.q != nil {
		n.q.unlink(n)
	}
	n.when = t.now() + d
	n.owner = owner
	n.kind = kind
	t.queue(d).push(n)
	signal := n.when < t.wakeAt
	if signal {
		t.wakeAt = n.when
	}
	t.mu.Unlock()
	if signal {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
}

// disarm stops n; it is a no-op for a node that is not armed.
func (t *timerSet) disarm(n *timerNode) {
	t.mu.Lock()
	if n.q != nil {
		n.q.unlink(n)
	}
	n.owner = nil
	t.mu.Unlock()
}

// run fires timers until quit is closed.
func (t *timerSet) run(quit <-chan struct{}) {
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	var batch []firedTimer
	for {
		t.mu.Lock()
		now := t.now()
		next := never
		for _, q := range t.queues {
			for q.head != nil && q.head.when <= now {
				n := q.head
				q.unlink(n)
				batch = append(batch, firedTimer{n.owner, n.kind})
				n.owner = nil
			}
			if q.head != nil && q.head.when < next {
				next = q.head.when
			}
		}
		t.wakeAt = next
		t.mu.Unlock()

		for i := range batch {
			t.fire(batch[i])
			batch[i] = firedTimer{}
		}
		batch = batch[:0]

		if next == never {
			tm.Stop()
		} else {
			tm.Reset(next - t.now())
		}
		select {
		case <-tm.C:
		case <-t.wake:
		case <-quit:
			return
		}
	}
}

func (t *timerSet) fire(f firedTimer) {
	defer func() {
		if v := recover(); v != nil {
			t.panic(v)
		}
	}()
	if f.owner != nil {
		f.owner.onTimer(f.kind)
	}
}

// armed reports how many nodes are armed (tests).
func (t *timerSet) armed() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, q := range t.queues {
		for x := q.head; x != nil; x = x.next {
			n++
		}
	}
	return n
}
