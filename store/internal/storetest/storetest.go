// Package storetest is the conformance suite of the store backends: each
// backend's tests run the same cases through a constructor, so that the
// memory backend behaves exactly like the ones that persist.
package storetest

import (
	"context"
	"io"
	"testing"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

// Store is a backend under test: every domain's store.
type Store interface {
	presence.Store
	pua.Store
	usrloc.Store
	dialog.Store
	io.Closer
}

// Opener opens the store under test. Every call opens the same state:
// closing the store one call returned and calling again is a restart.
type Opener func(ctx context.Context) (Store, error)

// Factory makes a fresh, empty state for one test and returns its Opener.
type Factory func(t *testing.T) Opener

// harness holds the open store of one test.
type harness struct {
	t    *testing.T
	open Opener
	s    Store
}

func newHarness(t *testing.T, f Factory) *harness {
	t.Helper()
	h := &harness{t: t, open: f(t)}
	h.s = h.mustOpen()
	t.Cleanup(func() {
		if h.s != nil {
			if err := h.s.Close(); err != nil {
				t.Errorf("close: got error %v, want none", err)
			}
		}
	})
	return h
}

func (h *harness) mustOpen() Store {
	h.t.Helper()
	s, err := h.open(h.t.Context())
	if err != nil {
		h.t.Fatalf("open: got error %v, want none", err)
	}
	return s
}

// restart closes the store and opens it again.
func (h *harness) restart() {
	h.t.Helper()
	s := h.s
	h.s = nil
	if err := s.Close(); err != nil {
		h.t.Fatalf("close: got error %v, want none", err)
	}
	h.s = h.mustOpen()
}

// with is h for subtest t, on the same store; it must not restart.
func (h *harness) with(t *testing.T) *harness {
	c := *h
	c.t = t
	return &c
}
