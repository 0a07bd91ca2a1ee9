package memory

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/store/internal/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestPresence runs the conformance suite. A restart is another use of
// the same *Store, as in a test that restarts the presence server.
func TestPresence(t *testing.T) {
	storetest.Presence(t, func(t *testing.T) storetest.Opener {
		s := New()
		return func(context.Context) (storetest.Store, error) { return s, nil }
	})
}
