package memory

import (
	"context"
	"fmt"
	"sync"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/store/internal/check"
)

// dialogState is the dialog tracker's confirmed dialogs, by id.
type dialogState struct {
	mu      sync.RWMutex
	dialogs map[string]*dialog.Record
}

func (d *dialogState) init() {
	d.dialogs = make(map[string]*dialog.Record)
}

// LoadDialogs returns a copy of every dialog, in no particular order.
func (s *Store) LoadDialogs(ctx context.Context) ([]*dialog.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load dialogs: %w", err)
	}
	d := &s.dialog
	d.mu.RLock()
	defer d.mu.RUnlock()
	if len(d.dialogs) == 0 {
		return nil, nil
	}
	out := make([]*dialog.Record, 0, len(d.dialogs))
	for _, v := range d.dialogs {
		out = append(out, cloneDialog(v))
	}
	return out, nil
}

// WriteDialogs applies b, all of it or, when a row is invalid or ctx is
// done, none of it. The deletes come before the puts.
func (s *Store) WriteDialogs(ctx context.Context, b *dialog.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write dialog batch: %w", err)
	}
	if err := check.DialogBatch(b); err != nil {
		return fmt.Errorf("write dialog batch: %w", err)
	}
	puts := make([]*dialog.Record, len(b.Put))
	for i, v := range b.Put {
		puts[i] = cloneDialog(v)
	}

	d := &s.dialog
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range b.Delete {
		delete(d.dialogs, id)
	}
	for _, v := range puts {
		d.dialogs[v.ID] = v
	}
	return nil
}

func cloneDialog(r *dialog.Record) *dialog.Record {
	c := *r
	c.Created = cloneTime(r.Created)
	c.Confirmed = cloneTime(r.Confirmed)
	c.Expires = cloneTime(r.Expires)
	c.CallerRoute = cloneStrings(r.CallerRoute)
	c.CalleeRoute = cloneStrings(r.CalleeRoute)
	return &c
}
