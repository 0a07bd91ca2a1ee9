package presence

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// committer writes changes to the store in batches, from one goroutine.
// Requests queued while a write is running are coalesced (the last change
// of a key wins) into the next transaction, so the store sees few large
// transactions under load and a lone change is written at once. done
// callbacks run on the committer goroutine after the commit, in
// submission order; they must be quick (answer a request, post to a shard).
type committer struct {
	store Store
	max   int
	log   *slog.Logger

	mu     sync.Mutex
	q      []commitReq
	signal chan struct{}
	quit   chan struct{}
	done   chan struct{}
}

type commitReq struct {
	b    *Batch
	done func(error)
}

func newCommitter(st Store, max int, log *slog.Logger) *committer {
	return &committer{
		store:  st,
		max:    max,
		log:    log,
		signal: make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// submit queues b; done (may be nil) is called with the outcome.
func (c *committer) submit(b *Batch, done func(error)) {
	c.mu.Lock()
	c.q = append(c.q, commitReq{b, done})
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *committer) start() {
	go c.run()
}

// stop writes what is queued and ends the goroutine.
func (c *committer) stop(ctx context.Context) error {
	close(c.quit)
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("presence: flush state: %w", ctx.Err())
	}
}

func (c *committer) run() {
	defer close(c.done)
	var reqs []commitReq
	for {
		select {
		case <-c.signal:
		case <-c.quit:
			c.flush(reqs)
			return
		}
		reqs = c.flush(reqs)
	}
}

// flush writes everything queued, in transactions of at most c.max rows,
// and returns the emptied buffer for reuse.
func (c *committer) flush(buf []commitReq) []commitReq {
	for {
		c.mu.Lock()
		reqs := c.q
		c.q = buf[:0]
		c.mu.Unlock()
		if len(reqs) == 0 {
			return reqs
		}
		for start := 0; start < len(reqs); {
			var m merger
			end := start
			for end < len(reqs) && (end == start || m.rows() < c.max) {
				m.add(reqs[end].b)
				end++
			}
			err := c.write(m.batch())
			for _, r := range reqs[start:end] {
				if r.done != nil {
					r.done(err)
				}
			}
			start = end
		}
		clear(reqs)
		buf = reqs
	}
}

func (c *committer) write(b *Batch) error {
	if b.Empty() {
		return nil
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.store.WritePresence(ctx, b)
		cancel()
		if err == nil {
			return nil
		}
		c.log.Error("store write failed", "attempt", attempt+1, "err", err)
	}
	return err
}

// merger coalesces batches: for each key the last change wins.
type merger struct {
	pubs  map[string]*Publication // nil value: delete
	subs  map[string]*Subscription
	auths map[AuthorizationKey]*Authorization
	order struct {
		pubs  []string
		subs  []string
		auths []AuthorizationKey
	}
}

func (m *merger) rows() int { return len(m.pubs) + len(m.subs) + len(m.auths) }

func (m *merger) add(b *Batch) {
	if m.pubs == nil {
		m.pubs = map[string]*Publication{}
		m.subs = map[string]*Subscription{}
		m.auths = map[AuthorizationKey]*Authorization{}
	}
	setPub := func(id string, p *Publication) {
		if _, ok := m.pubs[id]; !ok {
			m.order.pubs = append(m.order.pubs, id)
		}
		m.pubs[id] = p
	}
	setSub := func(id string, s *Subscription) {
		if _, ok := m.subs[id]; !ok {
			m.order.subs = append(m.order.subs, id)
		}
		m.subs[id] = s
	}
	setAuth := func(k AuthorizationKey, a *Authorization) {
		if _, ok := m.auths[k]; !ok {
			m.order.auths = append(m.order.auths, k)
		}
		m.auths[k] = a
	}
	for _, p := range b.PutPublications {
		setPub(p.ID, p)
	}
	for _, k := range b.DeletePublications {
		setPub(k.ID, nil)
	}
	for _, s := range b.PutSubscriptions {
		setSub(s.ID, s)
	}
	for _, id := range b.DeleteSubscriptions {
		setSub(id, nil)
	}
	for _, a := range b.PutAuthorizations {
		setAuth(AuthorizationKey{a.Presentity, a.Watcher, a.Event}, a)
	}
	for _, k := range b.DeleteAuthorizations {
		setAuth(k, nil)
	}
}

func (m *merger) batch() *Batch {
	b := &Batch{}
	for _, id := range m.order.pubs {
		if p := m.pubs[id]; p != nil {
			b.PutPublications = append(b.PutPublications, p)
		} else {
			b.DeletePublications = append(b.DeletePublications, PublicationKey{id})
		}
	}
	for _, id := range m.order.subs {
		if s := m.subs[id]; s != nil {
			b.PutSubscriptions = append(b.PutSubscriptions, s)
		} else {
			b.DeleteSubscriptions = append(b.DeleteSubscriptions, id)
		}
	}
	for _, k := range m.order.auths {
		if a := m.auths[k]; a != nil {
			b.PutAuthorizations = append(b.PutAuthorizations, a)
		} else {
			b.DeleteAuthorizations = append(b.DeleteAuthorizations, k)
		}
	}
	return b
}
