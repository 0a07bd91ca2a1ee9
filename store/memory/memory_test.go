package memory

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/store/internal/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newState is a fresh store. A restart is another use of the same
// *Store, as in a test that restarts a module.
func newState(t *testing.T) storetest.Opener {
	s := New()
	return func(context.Context) (storetest.Store, error) { return s, nil }
}

// TestPresence runs the presence conformance suite.
func TestPresence(t *testing.T) { storetest.Presence(t, newState) }

// TestPUA runs the pua conformance suite.
func TestPUA(t *testing.T) { storetest.PUA(t, newState) }

// TestUsrloc runs the usrloc conformance suite.
func TestUsrloc(t *testing.T) { storetest.Usrloc(t, newState) }

// TestDialog runs the dialog conformance suite.
func TestDialog(t *testing.T) { storetest.Dialog(t, newState) }
