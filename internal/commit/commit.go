// Package commit is group commit: changes submitted from many goroutines
// are written to a store by one goroutine, as many as are waiting in one
// write (up to a bound), so a store sees few large transactions under load
// and a lone change is written at once. Each change can carry a callback
// that runs after its write, in submission order: answer a request only
// once its effect is durable.
package commit

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Committer writes items of type T with a write function that gets every
// item waiting (at most max), oldest first, and must apply them in one
// transaction.
type Committer[T any] struct {
	write func(ctx context.Context, items []T) error
	max   int
	log   *slog.Logger

	mu      sync.Mutex
	q       []entry[T]
	signal  chan struct{}
	quit    chan struct{}
	done    chan struct{}
	calls   chan []entry[T] // written entries whose callbacks are due
	started bool
}

type entry[T any] struct {
	item T
	done func(error)
	err  error // the outcome of its write, for done
}

// New builds a committer. limit bounds the items per write (at least 1).
//
// Two goroutines run it: the writer, and the one that runs the done
// callbacks of each write in order, so that answering the requests of one
// write overlaps the next write instead of delaying it.
func New[T any](write func(ctx context.Context, items []T) error, limit int, log *slog.Logger) *Committer[T] {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Committer[T]{
		write:  write,
		max:    max(limit, 1),
		log:    log,
		signal: make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		calls:  make(chan []entry[T], 64),
	}
}

// Submit queues item; done (may be nil) is called with the outcome of its
// write, on the committer's callback goroutine, in submission order: it
// must be quick (answer a request, post to a shard). Submit never blocks.
func (c *Committer[T]) Submit(item T, done func(error)) {
	c.mu.Lock()
	c.q = append(c.q, entry[T]{item: item, done: done})
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Start starts the writer goroutine; Stop ends it.
func (c *Committer[T]) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return
	}
	c.started = true
	go c.run()
}

// Stop writes what is queued and ends the goroutine, within ctx.
func (c *Committer[T]) Stop(ctx context.Context) error {
	c.mu.Lock()
	started := c.started
	c.mu.Unlock()
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	if !started {
		c.Start()
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("flush state: %w", ctx.Err())
	}
}

// Pending is the number of items waiting to be written.
func (c *Committer[T]) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.q)
}

func (c *Committer[T]) run() {
	cbDone := make(chan struct{})
	go func() { // the callback goroutine: ends when calls is closed
		defer close(cbDone)
		for es := range c.calls {
			for _, e := range es {
				e.done(e.err)
			}
		}
	}()
	defer func() {
		close(c.calls)
		<-cbDone
		close(c.done)
	}()
	for {
		select {
		case <-c.signal:
		case <-c.quit:
			c.flush()
			return
		}
		c.flush()
	}
}

// flush writes everything queued and hands the callbacks of each write to
// the callback goroutine.
func (c *Committer[T]) flush() {
	items := make([]T, 0, c.max)
	for {
		c.mu.Lock()
		q := c.q
		c.q = nil
		c.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for start := 0; start < len(q); start += c.max {
			end := min(start+c.max, len(q))
			items = items[:0]
			for _, e := range q[start:end] {
				items = append(items, e.item)
			}
			err := c.writeRetry(items)
			var due []entry[T]
			for _, e := range q[start:end] {
				if e.done != nil {
					e.err = err
					due = append(due, e)
				}
			}
			if len(due) > 0 {
				c.calls <- due
			}
		}
	}
}

func (c *Committer[T]) writeRetry(items []T) error {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.write(ctx, items)
		cancel()
		if err == nil {
			return nil
		}
		c.log.Error("store write failed", "attempt", attempt, "items", len(items), "err", err)
	}
	return err
}
