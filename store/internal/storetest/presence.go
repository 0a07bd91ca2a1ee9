package storetest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/presenced/presenced/presence"
)

// Presence runs the presence.Store suite against the backend newState
// makes.
func Presence(t *testing.T, newState Factory) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"round trip of every field", testRoundTrip},
		{"empty body and route set load as nil", testEmptyLoadsNil},
		{"times load in UTC without monotonic reading", testTimesUTC},
		{"puts and deletes of every kind", testPutsAndDeletes},
		{"upsert replaces", testUpsertReplaces},
		{"delete of a missing key", testDeleteMissing},
		{"empty batch", testEmptyBatch},
		{"restart", testRestart},
		{"concurrent reads during writes", testConcurrentReads},
		{"failed batch leaves nothing", testFailedBatch},
		{"cancel during a batch: all or nothing", testCancelDuring},
		{"large bodies", testLargeBodies},
		{"no aliasing", testNoAliasing},
		{"close twice", testCloseTwice},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newHarness(t, newState))
		})
	}
}

// Fixtures. Every field of row n differs from the same field of row m.

func at(n int, d time.Duration) time.Time {
	base := time.Date(2026, 5, 17, 10, 11, 12, 123456789, time.UTC)
	return base.Add(time.Duration(n)*time.Hour + d + time.Duration(n))
}

// body is n bytes of every value 0..255 in turn, shifted by seed.
func body(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i + seed)
	}
	return b
}

func pub(id string, n int) *presence.Publication {
	return &presence.Publication{
		ID:          id,
		Presentity:  fmt.Sprintf("sip:alice%d@example.com", n),
		Event:       []string{"presence", "dialog", "dialog;sla"}[n%3],
		ETag:        fmt.Sprintf("a.%d.é", n),
		Expires:     at(n, time.Hour),
		Updated:     at(n, 0),
		ContentType: fmt.Sprintf("application/pidf+xml;v=%d", n),
		Body:        body(n, 300+n),
		Sender:      fmt.Sprintf("sip:phone%d@10.0.0.%d", n, n%250),
	}
}

func sub(id string, n int) *presence.Subscription {
	return &presence.Subscription{
		ID:           id,
		CallID:       fmt.Sprintf("call-%d@10.0.0.1", n),
		LocalTag:     fmt.Sprintf("lt%d", n),
		RemoteTag:    fmt.Sprintf("rt%d", n),
		LocalURI:     fmt.Sprintf("sip:alice%d@example.com", n),
		RemoteURI:    fmt.Sprintf("sip:bob%d@example.com", n),
		RemoteName:   fmt.Sprintf(`Bob "%d", Ünïcode`, n),
		Presentity:   fmt.Sprintf("sip:alice%d@example.com", n),
		Event:        []string{"presence", "presence.winfo", "dialog"}[n%3],
		EventID:      fmt.Sprintf("id%d", n),
		RemoteTarget: fmt.Sprintf("sip:bob%d@192.0.2.%d:5070;transport=tcp", n, n%250),
		RouteSet: []string{
			fmt.Sprintf("<sip:p%d.example.com;lr>", n),
			`"Edge, Proxy" <sip:edge.example.com;lr;x="a,b">`,
			fmt.Sprintf("<sip:[2001:db8::%d];lr>", n+1),
		},
		LocalCSeq:  math.MaxUint32 - uint32(n),
		RemoteCSeq: uint32(n) + 1,
		Transport:  []string{"udp", "tcp"}[n%2],
		Source:     fmt.Sprintf("192.0.2.%d:%d", n%250, 5060+n),
		Created:    at(n, -time.Minute),
		Expires:    at(n, 2*time.Hour),
		Status:     []string{presence.StatusActive, presence.StatusPending, presence.StatusTerminated}[n%3],
		Reason:     fmt.Sprintf("reason %d", n),
		Version:    math.MaxUint32 - uint32(2*n),
	}
}

func auth(presentity, watcher string, n int) *presence.Authorization {
	return &presence.Authorization{
		Presentity: presentity,
		Watcher:    watcher,
		Event:      "presence",
		Status:     []string{presence.StatusActive, presence.StatusPending, presence.StatusTerminated}[n%3],
		Reason:     fmt.Sprintf("reason %d", n),
		Updated:    at(n, 30*time.Second),
	}
}

func authKey(a *presence.Authorization) presence.AuthorizationKey {
	return presence.AuthorizationKey{Presentity: a.Presentity, Watcher: a.Watcher, Event: a.Event}
}

// stateOf is the state a store holds after a batch of these puts on an
// empty store.
func stateOf(pubs []*presence.Publication, subs []*presence.Subscription, auths []*presence.Authorization) *presence.State {
	return sortState(&presence.State{Publications: pubs, Subscriptions: subs, Authorizations: auths})
}

func sortState(st *presence.State) *presence.State {
	slices.SortFunc(st.Publications, func(a, b *presence.Publication) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Subscriptions, func(a, b *presence.Subscription) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(st.Authorizations, func(a, b *presence.Authorization) int {
		return cmp.Or(strings.Compare(a.Presentity, b.Presentity), strings.Compare(a.Watcher, b.Watcher),
			strings.Compare(a.Event, b.Event))
	})
	return st
}

func (h *harness) write(b *presence.Batch) {
	h.t.Helper()
	if err := h.s.WritePresence(h.t.Context(), b); err != nil {
		h.t.Fatalf("write: got error %v, want none", err)
	}
}

// load returns the stored state sorted by key.
func (h *harness) load() *presence.State {
	h.t.Helper()
	st, err := h.s.LoadPresence(h.t.Context())
	if err != nil {
		h.t.Fatalf("load: got error %v, want none", err)
	}
	return sortState(st)
}

// bytesEqual compares bodies in one call rather than byte by byte, and
// tells nil from empty.
func bytesEqual() gocmp.Option {
	return gocmp.Comparer(func(a, b []byte) bool {
		return bytes.Equal(a, b) && (a == nil) == (b == nil)
	})
}

// expect fails unless the stored state is want. Times compare with
// time.Time.Equal.
func (h *harness) expect(want *presence.State) {
	h.t.Helper()
	// A publication's unexported part is the presence server's in-memory
	// cache of its parsed body, which no store keeps.
	if diff := gocmp.Diff(sortState(want), h.load(), bytesEqual(), cmpopts.IgnoreUnexported(presence.Publication{})); diff != "" {
		h.t.Fatalf("stored state (-want +got):\n%s", diff)
	}
}

func testRoundTrip(t *testing.T, h *harness) {
	pubs := []*presence.Publication{pub("p1", 1), pub("p2", 2), {ID: "minimal"}}
	subs := []*presence.Subscription{sub("s1", 1), sub("s2", 2), {ID: "minimal"}}
	auths := []*presence.Authorization{
		auth("sip:alice@example.com", "sip:bob@example.com", 1),
		auth("sip:alice@example.com", "sip:carol@example.com", 2),
		{Presentity: "sip:a@x", Watcher: "sip:b@x", Event: "dialog"},
	}
	// Keys that differ only in one component are different rows.
	a := auth("sip:alice@example.com", "sip:bob@example.com", 3)
	a.Event = "dialog"
	auths = append(auths, a)

	h.write(&presence.Batch{PutPublications: pubs, PutSubscriptions: subs, PutAuthorizations: auths})
	h.expect(stateOf(pubs, subs, auths))
}

func testEmptyLoadsNil(t *testing.T, h *harness) {
	p := pub("p", 1)
	p.Body = []byte{}
	s := sub("s", 1)
	s.RouteSet = []string{}
	h.write(&presence.Batch{PutPublications: []*presence.Publication{p}, PutSubscriptions: []*presence.Subscription{s}})
	st := h.load()
	if got := st.Publications[0].Body; got != nil {
		t.Errorf("body: got %#v, want nil", got)
	}
	if got := st.Subscriptions[0].RouteSet; got != nil {
		t.Errorf("route set: got %#v, want nil", got)
	}
}

func testTimesUTC(t *testing.T, h *harness) {
	zone := time.FixedZone("X", -7*3600)
	now := time.Now().In(zone) // with a monotonic reading
	p := &presence.Publication{ID: "p", Expires: now, Updated: now.Add(time.Nanosecond)}
	s := &presence.Subscription{ID: "s", Created: now, Expires: now.Add(time.Hour)}
	a := &presence.Authorization{Presentity: "a", Watcher: "b", Event: "c", Updated: now}
	h.write(&presence.Batch{
		PutPublications:   []*presence.Publication{p},
		PutSubscriptions:  []*presence.Subscription{s},
		PutAuthorizations: []*presence.Authorization{a},
	})
	st := h.load()
	got := map[string]time.Time{
		"publication expires":   st.Publications[0].Expires,
		"publication updated":   st.Publications[0].Updated,
		"subscription created":  st.Subscriptions[0].Created,
		"subscription expires":  st.Subscriptions[0].Expires,
		"authorization updated": st.Authorizations[0].Updated,
	}
	want := map[string]time.Time{
		"publication expires":   now.Round(0).UTC(),
		"publication updated":   now.Round(0).UTC().Add(time.Nanosecond),
		"subscription created":  now.Round(0).UTC(),
		"subscription expires":  now.Round(0).UTC().Add(time.Hour),
		"authorization updated": now.Round(0).UTC(),
	}
	for name, w := range want {
		// == rather than Equal: location and monotonic reading matter here.
		if g := got[name]; g != w {
			t.Errorf("%s: got %v, want %v", name, g, w)
		}
	}
}

func testPutsAndDeletes(t *testing.T, h *harness) {
	const alice, bob, carol = "sip:alice@example.com", "sip:bob@example.com", "sip:carol@example.com"
	h.write(&presence.Batch{
		PutPublications:   []*presence.Publication{pub("a", 1), pub("b", 2)},
		PutSubscriptions:  []*presence.Subscription{sub("a", 1), sub("b", 2)},
		PutAuthorizations: []*presence.Authorization{auth(alice, bob, 1), auth(alice, carol, 2)},
	})
	h.write(&presence.Batch{
		PutPublications:      []*presence.Publication{pub("b", 5), pub("c", 3)},
		DeletePublications:   []presence.PublicationKey{{ID: "a"}},
		PutSubscriptions:     []*presence.Subscription{sub("b", 5), sub("c", 3)},
		DeleteSubscriptions:  []string{"a"},
		PutAuthorizations:    []*presence.Authorization{auth(alice, carol, 5), auth(bob, alice, 3)},
		DeleteAuthorizations: []presence.AuthorizationKey{authKey(auth(alice, bob, 1))},
	})
	h.expect(stateOf(
		[]*presence.Publication{pub("b", 5), pub("c", 3)},
		[]*presence.Subscription{sub("b", 5), sub("c", 3)},
		[]*presence.Authorization{auth(alice, carol, 5), auth(bob, alice, 3)},
	))
}

func testUpsertReplaces(t *testing.T, h *harness) {
	tests := []struct {
		name  string
		first int
		then  int // -1: the row with only its key set
	}{
		{"every field changed", 1, 2},
		{"every field cleared", 3, -1},
		{"cleared fields set again", -1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			mk := func(n int) (*presence.Publication, *presence.Subscription, *presence.Authorization) {
				if n < 0 {
					return &presence.Publication{ID: "p"}, &presence.Subscription{ID: "s"},
						&presence.Authorization{Presentity: "a", Watcher: "w", Event: "presence"}
				}
				return pub("p", n), sub("s", n), auth("a", "w", n)
			}
			p1, s1, a1 := mk(tt.first)
			h.write(&presence.Batch{
				PutPublications:   []*presence.Publication{p1},
				PutSubscriptions:  []*presence.Subscription{s1},
				PutAuthorizations: []*presence.Authorization{a1},
			})
			p2, s2, a2 := mk(tt.then)
			h.write(&presence.Batch{
				PutPublications:   []*presence.Publication{p2},
				PutSubscriptions:  []*presence.Subscription{s2},
				PutAuthorizations: []*presence.Authorization{a2},
			})
			h.expect(stateOf([]*presence.Publication{p2}, []*presence.Subscription{s2}, []*presence.Authorization{a2}))
		})
	}
}

func testDeleteMissing(t *testing.T, h *harness) {
	pubs := []*presence.Publication{pub("p", 1)}
	subs := []*presence.Subscription{sub("s", 1)}
	auths := []*presence.Authorization{auth("a", "w", 1)}
	h.write(&presence.Batch{PutPublications: pubs, PutSubscriptions: subs, PutAuthorizations: auths})
	h.write(&presence.Batch{
		DeletePublications:   []presence.PublicationKey{{ID: "missing"}, {ID: ""}},
		DeleteSubscriptions:  []string{"missing", ""},
		DeleteAuthorizations: []presence.AuthorizationKey{{Presentity: "a", Watcher: "w", Event: "dialog"}, {}},
	})
	h.expect(stateOf(pubs, subs, auths))
}

func testEmptyBatch(t *testing.T, h *harness) {
	for _, b := range []*presence.Batch{nil, {}} {
		if err := h.s.WritePresence(t.Context(), b); err != nil {
			t.Errorf("write %#v: got error %v, want none", b, err)
		}
	}
	h.expect(&presence.State{})
}

func testRestart(t *testing.T, h *harness) {
	pubs := []*presence.Publication{pub("p1", 1), pub("p2", 2)}
	pubs[1].Body = body(7, 64<<10)
	subs := []*presence.Subscription{sub("s1", 1), sub("s2", 2)}
	auths := []*presence.Authorization{auth("a", "w1", 1), auth("a", "w2", 2)}
	h.write(&presence.Batch{PutPublications: pubs, PutSubscriptions: subs, PutAuthorizations: auths})
	h.restart()
	h.expect(stateOf(pubs, subs, auths))

	// The store writes after a restart, and that survives the next one.
	h.write(&presence.Batch{
		PutPublications:      []*presence.Publication{pub("p3", 3)},
		DeletePublications:   []presence.PublicationKey{{ID: "p1"}},
		PutSubscriptions:     []*presence.Subscription{sub("s2", 9)},
		DeleteAuthorizations: []presence.AuthorizationKey{authKey(auths[0])},
	})
	h.restart()
	h.expect(stateOf(
		[]*presence.Publication{pubs[1], pub("p3", 3)},
		[]*presence.Subscription{subs[0], sub("s2", 9)},
		auths[1:],
	))
}

// testConcurrentReads writes batches that each set every row to the same
// version while readers load: each load must see one batch entirely,
// never an older one than the last load.
func testConcurrentReads(t *testing.T, h *harness) {
	const (
		batches = 60
		rows    = 20
		readers = 3
	)
	batch := func(v int) *presence.Batch {
		b := &presence.Batch{
			PutPublications:   []*presence.Publication{{ID: "p", Body: []byte(strconv.Itoa(v))}},
			PutAuthorizations: []*presence.Authorization{{Presentity: "a", Watcher: "w", Event: "e", Reason: strconv.Itoa(v)}},
		}
		for i := range rows {
			b.PutSubscriptions = append(b.PutSubscriptions, &presence.Subscription{
				ID: fmt.Sprintf("s%02d", i), Version: uint32(v), RemoteCSeq: uint32(v)})
		}
		if v > 0 {
			// The previous batch's extra row goes, this one's comes.
			b.DeleteSubscriptions = []string{fmt.Sprintf("x%d", v-1)}
		}
		b.PutSubscriptions = append(b.PutSubscriptions, &presence.Subscription{ID: fmt.Sprintf("x%d", v), Version: uint32(v)})
		return b
	}
	h.write(batch(0))

	ctx := t.Context()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			last, loads := -1, 0
			for {
				st, err := h.s.LoadPresence(ctx)
				if err != nil {
					t.Errorf("reader %d: load: got error %v, want none", r, err)
					return
				}
				loads++
				v, err := consistentVersion(st, rows)
				if err != nil {
					t.Errorf("reader %d, load %d: %v", r, loads, err)
					return
				}
				if v < last {
					t.Errorf("reader %d, load %d: got version %d after %d, want no going back", r, loads, v, last)
					return
				}
				last = v
				select {
				case <-done:
					return
				default:
				}
			}
		})
	}
	for v := 1; v <= batches; v++ {
		if err := h.s.WritePresence(ctx, batch(v)); err != nil {
			t.Errorf("write %d: got error %v, want none", v, err)
			break
		}
	}
	close(done)
	wg.Wait()
	st := h.load()
	if v, err := consistentVersion(st, rows); err != nil || v != batches {
		t.Errorf("final state: got version %d, %v, want %d", v, err, batches)
	}
}

// consistentVersion returns the version of the one batch st shows, or
// an error if it mixes batches.
func consistentVersion(st *presence.State, rows int) (int, error) {
	if len(st.Publications) != 1 || len(st.Authorizations) != 1 || len(st.Subscriptions) != rows+1 {
		return 0, fmt.Errorf("got %d publications, %d subscriptions, %d authorizations, want 1, %d, 1",
			len(st.Publications), len(st.Subscriptions), len(st.Authorizations), rows+1)
	}
	v, err := strconv.Atoi(string(st.Publications[0].Body))
	if err != nil {
		return 0, fmt.Errorf("publication body %q: %v", st.Publications[0].Body, err)
	}
	if got := st.Authorizations[0].Reason; got != strconv.Itoa(v) {
		return 0, fmt.Errorf("got authorization of version %s with publication of version %d", got, v)
	}
	for _, s := range st.Subscriptions {
		want := fmt.Sprintf("x%d", v)
		if strings.HasPrefix(s.ID, "x") && s.ID != want {
			return 0, fmt.Errorf("got subscription %s with publication of version %d, want %s", s.ID, v, want)
		}
		if int(s.Version) != v {
			return 0, fmt.Errorf("got subscription %s of version %d with publication of version %d", s.ID, s.Version, v)
		}
	}
	return v, nil
}

// testFailedBatch writes batches that fail after rows of every kind have
// been written within them: the stored state must stay what it was, and
// the store must keep working.
func testFailedBatch(t *testing.T, h *harness) {
	initial := stateOf(
		[]*presence.Publication{pub("p1", 1), pub("p2", 2)},
		[]*presence.Subscription{sub("s1", 1), sub("s2", 2)},
		[]*presence.Authorization{auth("a", "w1", 1), auth("a", "w2", 2)},
	)
	h.write(&presence.Batch{
		PutPublications:   initial.Publications,
		PutSubscriptions:  initial.Subscriptions,
		PutAuthorizations: initial.Authorizations,
	})

	// good is a batch touching every table, run before the bad row:
	// within a table the deletes run first, and authorizations come last.
	good := func() *presence.Batch {
		b := &presence.Batch{
			DeletePublications:   []presence.PublicationKey{{ID: "p1"}},
			DeleteSubscriptions:  []string{"s1"},
			DeleteAuthorizations: []presence.AuthorizationKey{{Presentity: "a", Watcher: "w1", Event: "presence"}},
			PutAuthorizations:    []*presence.Authorization{auth("a", "w2", 9), auth("a", "w3", 9)},
		}
		for i := range 50 {
			b.PutPublications = append(b.PutPublications, pub(fmt.Sprintf("new%02d", i), i))
			b.PutSubscriptions = append(b.PutSubscriptions, sub(fmt.Sprintf("new%02d", i), i))
		}
		b.PutPublications = append(b.PutPublications, pub("p2", 9))
		b.PutSubscriptions = append(b.PutSubscriptions, sub("s2", 9))
		return b
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	tooLate := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		ctx     context.Context
		spoil   func(b *presence.Batch)
		wantErr string
	}{
		{"nil authorization last", t.Context(), func(b *presence.Batch) {
			b.PutAuthorizations = append(b.PutAuthorizations, nil)
		}, "put authorization 2: nil row"},
		{"authorization without watcher last", t.Context(), func(b *presence.Batch) {
			b.PutAuthorizations = append(b.PutAuthorizations, &presence.Authorization{Presentity: "a", Event: "presence"})
		}, "put authorization 2: incomplete key"},
		{"authorization time out of range last", t.Context(), func(b *presence.Batch) {
			b.PutAuthorizations = append(b.PutAuthorizations, &presence.Authorization{Presentity: "a", Watcher: "w9", Event: "presence", Updated: tooLate})
		}, "put authorization 2: updated 2300-01-01T00:00:00Z out of range"},
		{"subscription without id after publications", t.Context(), func(b *presence.Batch) {
			b.PutSubscriptions = append(b.PutSubscriptions, &presence.Subscription{CallID: "c"})
		}, "put subscription 51: empty id"},
		{"nil publication last", t.Context(), func(b *presence.Batch) {
			b.PutPublications = append(b.PutPublications, nil)
		}, "put publication 51: nil row"},
		{"publication time out of range", t.Context(), func(b *presence.Batch) {
			b.PutPublications[10].Expires = tooLate
		}, "put publication 10: expires 2300"},
		{"cancelled context", cancelled, func(*presence.Batch) {}, "context canceled"},
		{"expired context", expired, func(*presence.Batch) {}, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			b := good()
			tt.spoil(b)
			err := h.s.WritePresence(tt.ctx, b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "write presence batch: ") {
				t.Errorf("got error %q, want it to start with the operation", err)
			}
			h.expect(initial)
		})
	}

	// Nothing is left hanging: a good batch still goes through.
	h.write(good())
	if got := len(h.load().Publications); got != 51 {
		t.Errorf("after the good batch: got %d publications, want 51", got)
	}
}

// testCancelDuring cancels the context while a large batch is being
// written. Whenever the cancel lands, the batch is stored whole or not
// at all.
func testCancelDuring(t *testing.T, h *harness) {
	const rows = 3000
	versions := func(st *presence.State) map[string]uint32 {
		m := make(map[string]uint32, len(st.Subscriptions))
		for _, s := range st.Subscriptions {
			m[s.ID] = s.Version
		}
		return m
	}
	delays := []time.Duration{0, 100 * time.Microsecond, time.Millisecond, 5 * time.Millisecond,
		20 * time.Millisecond, 100 * time.Millisecond, time.Second}
	for i, delay := range delays {
		before := versions(h.load())
		b := &presence.Batch{}
		for j := range rows {
			s := sub(fmt.Sprintf("s%05d", j), j)
			s.Version = uint32(i + 1)
			b.PutSubscriptions = append(b.PutSubscriptions, s)
		}
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := h.s.WritePresence(ctx, b)
		timer.Stop()
		cancel()
		after := versions(h.load())
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("delay %v: got error %v, want context.Canceled", delay, err)
			}
			if !maps.Equal(before, after) {
				t.Fatalf("delay %v: write failed with %v but changed the state", delay, err)
			}
			continue
		}
		if len(after) != rows {
			t.Fatalf("delay %v: write succeeded: got %d subscriptions, want %d", delay, len(after), rows)
		}
		for id, v := range after {
			if v != uint32(i+1) {
				t.Fatalf("delay %v: write succeeded: got subscription %s version %d, want %d", delay, id, v, i+1)
			}
		}
	}
}

func testLargeBodies(t *testing.T, h *harness) {
	var pubs []*presence.Publication
	for i, n := range []int{64 << 10, 64<<10 + 1, 1 << 20} {
		p := pub(fmt.Sprintf("p%d", i), i)
		p.Body = body(i, n)
		pubs = append(pubs, p)
	}
	s := sub("s", 1)
	for i := range 200 {
		s.RouteSet = append(s.RouteSet, fmt.Sprintf("<sip:proxy%d.example.com:5060;transport=tcp;lr>", i))
	}
	h.write(&presence.Batch{PutPublications: pubs, PutSubscriptions: []*presence.Subscription{s}})
	got := h.load()
	for i, p := range got.Publications {
		if !bytes.Equal(p.Body, pubs[i].Body) {
			t.Errorf("publication %s: got a body of %d bytes, want the %d bytes written", p.ID, len(p.Body), len(pubs[i].Body))
		}
	}
	h.expect(stateOf(pubs, []*presence.Subscription{s}, nil))
}

func testNoAliasing(t *testing.T, h *harness) {
	p, s, a := pub("p", 1), sub("s", 1), auth("a", "w", 1)
	want := stateOf([]*presence.Publication{pub("p", 1)}, []*presence.Subscription{sub("s", 1)},
		[]*presence.Authorization{auth("a", "w", 1)})
	h.write(&presence.Batch{
		PutPublications:   []*presence.Publication{p},
		PutSubscriptions:  []*presence.Subscription{s},
		PutAuthorizations: []*presence.Authorization{a},
	})
	// The caller changes what it wrote...
	p.Body[0]++
	p.ETag = "changed"
	s.RouteSet[0] = "<sip:changed>"
	s.LocalCSeq++
	a.Status = "changed"
	h.expect(want)

	// ...and what it loaded.
	st := h.load()
	st.Publications[0].Body[0]++
	st.Publications[0].Sender = "changed"
	st.Subscriptions[0].RouteSet[1] = "<sip:changed>"
	st.Authorizations[0].Reason = "changed"
	h.expect(want)
}

func testCloseTwice(t *testing.T, h *harness) {
	s := h.s
	h.s = nil
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("close %d: got error %v, want none", i+1, err)
		}
	}
}
