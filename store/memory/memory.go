// Package memory is the store backend that keeps everything in maps in the
// process: for tests and for runs where nothing has to survive the
// process. Rows are copied in and out, so callers never share memory with
// the store; a test that restarts a module on the same *Store sees the
// state the previous instance wrote, as after a restart on a real backend.
//
// Each domain has its own state and lock (presence.go: presenceState,
// pua.go: puaState, usrloc.go: usrlocState, dialog.go: dialogState); no
// method holds two of them.
package memory

import (
	"time"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

// Store holds the state of every domain. The zero value is not usable;
// call New. It is safe for concurrent use.
type Store struct {
	presence presenceState
	pua      puaState
	usrloc   usrlocState
	dialog   dialogState
}

var (
	_ presence.Store = (*Store)(nil)
	_ pua.Store      = (*Store)(nil)
	_ usrloc.Store   = (*Store)(nil)
	_ dialog.Store   = (*Store)(nil)
)

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.presence.init()
	s.pua.init()
	s.usrloc.init()
	s.dialog.init()
	return s
}

// Close does nothing: the state stays for whoever uses the store next.
func (s *Store) Close() error { return nil }

// cloneTime is t as the SQL backends give it back: UTC, no monotonic
// reading.
func cloneTime(t time.Time) time.Time { return t.Round(0).UTC() }

// cloneBytes copies b, nil when empty.
func cloneBytes(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// cloneStrings copies s, nil when empty.
func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}
