package usrloc_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/store/memory"
	"github.com/presenced/presenced/usrloc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type events struct {
	mu   sync.Mutex
	list []usrloc.Event
}

func (e *events) add(ev usrloc.Event) {
	e.mu.Lock()
	e.list = append(e.list, ev)
	e.mu.Unlock()
}

func (e *events) kinds() []usrloc.EventKind {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []usrloc.EventKind
	for _, ev := range e.list {
		out = append(out, ev.Kind)
	}
	return out
}

func start(t *testing.T, st *memory.Store) (*usrloc.Service, *events) {
	t.Helper()
	s, err := usrloc.New(usrloc.Config{Shards: 2}, usrloc.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	s.Subscribe(ev.add)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, ev
}

func put(t *testing.T, s *usrloc.Service, aor string, b usrloc.Binding) []usrloc.Binding {
	t.Helper()
	list, err := s.Update(context.Background(), aor, nil, func(time.Time, []usrloc.Binding) ([]usrloc.Change, error) {
		return []usrloc.Change{{Binding: b}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// TestLifecycle: insert, update, delete and expiry give their events, in
// order, and Lookup sorts by q-value.
func TestLifecycle(t *testing.T) {
	s, ev := start(t, memory.New())
	aor := "sip:alice@example.com"
	now := time.Now()
	list := put(t, s, aor, usrloc.Binding{Contact: "sip:a@10.0.0.1", Q: 500, Expires: now.Add(time.Hour)})
	put(t, s, aor, usrloc.Binding{Contact: "sip:a@10.0.0.2", Q: 900, Expires: now.Add(300 * time.Millisecond)})
	b := list[0]
	b.Expires = now.Add(2 * time.Hour)
	put(t, s, aor, b) // an update of the first
	got, err := s.Lookup(context.Background(), aor)
	if err != nil || len(got) != 2 || got[0].Contact != "sip:a@10.0.0.2" {
		t.Fatalf("Lookup: got %+v %v, want two bindings, q=0.9 first", got, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(ev.kinds()) < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n, err := s.Remove(context.Background(), aor, ""); err != nil || n != 1 {
		t.Fatalf("Remove: got %d %v, want 1", n, err)
	}
	want := []usrloc.EventKind{usrloc.Insert, usrloc.Insert, usrloc.Update, usrloc.Expire, usrloc.Delete}
	got2 := ev.kinds()
	if len(got2) != len(want) {
		t.Fatalf("events: got %v, want %v", got2, want)
	}
	for i := range want {
		if got2[i] != want[i] {
			t.Fatalf("events: got %v, want %v", got2, want)
		}
	}
}

// TestRestoreExpires: bindings come back after a restart; one that lapsed
// while the service was down is announced expired at start.
func TestRestoreExpires(t *testing.T) {
	st := memory.New()
	s, _ := start(t, st)
	put(t, s, "sip:bob@example.com", usrloc.Binding{Contact: "sip:b@10.0.0.1", Expires: time.Now().Add(time.Hour)})
	put(t, s, "sip:carl@example.com", usrloc.Binding{Contact: "sip:c@10.0.0.1", Expires: time.Now().Add(200 * time.Millisecond)})
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the daemon is "down" while carl's binding lapses
	s2, ev := start(t, st)
	deadline := time.Now().Add(5 * time.Second)
	for len(ev.kinds()) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if k := ev.kinds(); len(k) != 1 || k[0] != usrloc.Expire {
		t.Fatalf("events at start: got %v, want one expire (carl)", k)
	}
	if got, _ := s2.Lookup(context.Background(), "sip:bob@example.com"); len(got) != 1 {
		t.Errorf("bob after restart: got %+v, want his binding", got)
	}
}

// TestUpdateAborts: an error from the update function changes nothing.
func TestUpdateAborts(t *testing.T) {
	s, ev := start(t, memory.New())
	_, err := s.Update(context.Background(), "sip:dan@example.com", nil, func(time.Time, []usrloc.Binding) ([]usrloc.Change, error) {
		return nil, usrloc.ErrAborted
	})
	if err == nil {
		t.Fatal("got no error, want the abort")
	}
	if got, _ := s.Lookup(context.Background(), "sip:dan@example.com"); len(got) != 0 || len(ev.kinds()) != 0 {
		t.Errorf("after abort: bindings %+v events %v, want none", got, ev.kinds())
	}
}
