package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store/internal/check"
)

// presenceState is the presence server's state.
type presenceState struct {
	mu    sync.RWMutex
	pubs  map[string]*presence.Publication
	subs  map[string]*presence.Subscription
	auths map[presence.AuthorizationKey]*presence.Authorization
}

func (p *presenceState) init() {
	p.pubs = make(map[string]*presence.Publication)
	p.subs = make(map[string]*presence.Subscription)
	p.auths = make(map[presence.AuthorizationKey]*presence.Authorization)
}

// LoadPresence returns a copy of the presence state, in no particular
// order.
func (s *Store) LoadPresence(ctx context.Context) (*presence.State, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load presence state: %w", err)
	}
	p := &s.presence
	p.mu.RLock()
	defer p.mu.RUnlock()
	st := &presence.State{}
	if len(p.pubs) > 0 {
		st.Publications = make([]*presence.Publication, 0, len(p.pubs))
		for _, v := range p.pubs {
			st.Publications = append(st.Publications, clonePublication(v))
		}
	}
	if len(p.subs) > 0 {
		st.Subscriptions = make([]*presence.Subscription, 0, len(p.subs))
		for _, v := range p.subs {
			st.Subscriptions = append(st.Subscriptions, cloneSubscription(v))
		}
	}
	if len(p.auths) > 0 {
		st.Authorizations = make([]*presence.Authorization, 0, len(p.auths))
		for _, v := range p.auths {
			st.Authorizations = append(st.Authorizations, cloneAuthorization(v))
		}
	}
	return st, nil
}

// WritePresence applies b, all of it or, when a row is invalid or ctx is
// done, none of it. Within a table the deletes come before the puts.
func (s *Store) WritePresence(ctx context.Context, b *presence.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write presence batch: %w", err)
	}
	if err := check.PresenceBatch(b); err != nil {
		return fmt.Errorf("write presence batch: %w", err)
	}
	// Copy before taking the lock: readers wait less.
	pubs := make([]*presence.Publication, len(b.PutPublications))
	for i, v := range b.PutPublications {
		pubs[i] = clonePublication(v)
	}
	subs := make([]*presence.Subscription, len(b.PutSubscriptions))
	for i, v := range b.PutSubscriptions {
		subs[i] = cloneSubscription(v)
	}
	auths := make([]*presence.Authorization, len(b.PutAuthorizations))
	for i, v := range b.PutAuthorizations {
		auths[i] = cloneAuthorization(v)
	}

	p := &s.presence
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range b.DeletePublications {
		delete(p.pubs, k.ID)
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
	for _, k := range b.DeleteAuthorizations {
		delete(p.auths, k)
	}
	for _, v := range auths {
		p.auths[presence.AuthorizationKey{Presentity: v.Presentity, Watcher: v.Watcher, Event: v.Event}] = v
	}
	return nil
}

func clonePublication(p *presence.Publication) *presence.Publication {
	c := *p
	c.Expires = cloneTime(p.Expires)
	c.Updated = cloneTime(p.Updated)
	c.Body = cloneBytes(p.Body)
	return &c
}

func cloneSubscription(s *presence.Subscription) *presence.Subscription {
	c := *s
	c.RouteSet = cloneStrings(s.RouteSet)
	c.Created = cloneTime(s.Created)
	c.Expires = cloneTime(s.Expires)
	return &c
}

func cloneAuthorization(a *presence.Authorization) *presence.Authorization {
	c := *a
	c.Updated = cloneTime(a.Updated)
	return &c
}
