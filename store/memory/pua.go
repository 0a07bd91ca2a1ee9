package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/store/internal/check"
)

// puaState is the pua core's state.
type puaState struct {
	mu   sync.RWMutex
	pubs map[string]*pua.Publication
	subs map[string]*pua.Subscription
}

func (p *puaState) init() {
	p.pubs = make(map[string]*pua.Publication)
	p.subs = make(map[string]*pua.Subscription)
}

// LoadPUA returns a copy of the pua records, in no particular order.
func (s *Store) LoadPUA(ctx context.Context) ([]*pua.Publication, []*pua.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("load pua records: %w", err)
	}
	p := &s.pua
	p.mu.RLock()
	defer p.mu.RUnlock()
	var (
		pubs []*pua.Publication
		subs []*pua.Subscription
	)
	if len(p.pubs) > 0 {
		pubs = make([]*pua.Publication, 0, len(p.pubs))
		for _, v := range p.pubs {
			pubs = append(pubs, clonePUAPublication(v))
		}
	}
	if len(p.subs) > 0 {
		subs = make([]*pua.Subscription, 0, len(p.subs))
		for _, v := range p.subs {
			subs = append(subs, clonePUASubscription(v))
		}
	}
	return pubs, subs, nil
}

// WritePUA applies b, all of it or, when a row is invalid or ctx is done,
// none of it. Within a table the deletes come before the puts.
func (s *Store) WritePUA(ctx context.Context, b *pua.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write pua batch: %w", err)
	}
	if err := check.PUABatch(b); err != nil {
		return fmt.Errorf("write pua batch: %w", err)
	}
	// Copy before taking the lock: readers wait less.
	pubs := make([]*pua.Publication, len(b.PutPublications))
	for i, v := range b.PutPublications {
		pubs[i] = clonePUAPublication(v)
	}
	subs := make([]*pua.Subscription, len(b.PutSubscriptions))
	for i, v := range b.PutSubscriptions {
		subs[i] = clonePUASubscription(v)
	}

	p := &s.pua
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range b.DeletePublications {
		delete(p.pubs, id)
	}
	for _, v := range pubs {
		p.pubs[v.ID] = v
	}
	for _, id := range b.DeleteSubscriptions {
		delete(p.subs, id)
	}
	for _, v := range subs {
		p.subs[v.ID] = v
	}
	return nil
}

func clonePUAPublication(p *pua.Publication) *pua.Publication {
	c := *p
	c.Body = cloneBytes(p.Body)
	c.ExtraHeaders = cloneStrings(p.ExtraHeaders)
	c.Expires = cloneTime(p.Expires)
	c.Desired = cloneTime(p.Desired)
	return &c
}

func clonePUASubscription(s *pua.Subscription) *pua.Subscription {
	c := *s
	c.RouteSet = cloneStrings(s.RouteSet)
	c.ExtraHeaders = cloneStrings(s.ExtraHeaders)
	c.Expires = cloneTime(s.Expires)
	c.Desired = cloneTime(s.Desired)
	c.NotifyAt = cloneTime(s.NotifyAt)
	c.NotifyBody = cloneBytes(s.NotifyBody)
	return &c
}
