package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/presenced/presenced/store/internal/check"
	"github.com/presenced/presenced/usrloc"
)

// usrlocState is the location service's bindings, by id.
type usrlocState struct {
	mu       sync.RWMutex
	bindings map[string]*usrloc.Binding
}

func (u *usrlocState) init() {
	u.bindings = make(map[string]*usrloc.Binding)
}

// LoadBindings returns a copy of every binding, in no particular order.
func (s *Store) LoadBindings(ctx context.Context) ([]*usrloc.Binding, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load usrloc bindings: %w", err)
	}
	u := &s.usrloc
	u.mu.RLock()
	defer u.mu.RUnlock()
	if len(u.bindings) == 0 {
		return nil, nil
	}
	out := make([]*usrloc.Binding, 0, len(u.bindings))
	for _, v := range u.bindings {
		out = append(out, cloneBinding(v))
	}
	return out, nil
}

// WriteBindings applies b, all of it or, when a row is invalid or ctx is
// done, none of it. The deletes come before the puts.
func (s *Store) WriteBindings(ctx context.Context, b *usrloc.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write usrloc batch: %w", err)
	}
	if err := check.UsrlocBatch(b); err != nil {
		return fmt.Errorf("write usrloc batch: %w", err)
	}
	// Copy before taking the lock: readers wait less.
	puts := make([]*usrloc.Binding, len(b.Put))
	for i, v := range b.Put {
		puts[i] = cloneBinding(v)
	}

	u := &s.usrloc
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, id := range b.Delete {
		delete(u.bindings, id)
	}
	for _, v := range puts {
		u.bindings[v.ID] = v
	}
	return nil
}

func cloneBinding(b *usrloc.Binding) *usrloc.Binding {
	c := *b
	c.Expires = cloneTime(b.Expires)
	c.Path = cloneStrings(b.Path)
	c.Updated = cloneTime(b.Updated)
	return &c
}
