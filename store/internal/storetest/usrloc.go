package storetest

import (
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

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

// Usrloc runs the usrloc.Store suite against the backend newState makes.
func Usrloc(t *testing.T, newState Factory) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"round trip of every field", testUsrlocRoundTrip},
		{"empty path loads as nil", testUsrlocEmptyPathLoadsNil},
		{"times load in UTC without monotonic reading", testUsrlocTimesUTC},
		{"puts and deletes", testUsrlocPutsAndDeletes},
		{"upsert replaces", testUsrlocUpsertReplaces},
		{"delete of a missing key", testUsrlocDeleteMissing},
		{"empty batch", testUsrlocEmptyBatch},
		{"restart", testUsrlocRestart},
		{"concurrent reads during writes", testUsrlocConcurrentReads},
		{"failed batch leaves nothing", testUsrlocFailedBatch},
		{"cancel during a batch: all or nothing", testUsrlocCancelDuring},
		{"long paths and many bindings", testUsrlocLongPaths},
		{"no aliasing", testUsrlocNoAliasing},
		{"apart from presence and pua", testUsrlocApart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newHarness(t, newState))
		})
	}
}

// binding is a fixture: every field of binding n differs from the same
// field of binding m (but the transport, which alternates).
func binding(id string, n int) *usrloc.Binding {
	return &usrloc.Binding{
		ID:       id,
		AOR:      fmt.Sprintf("sip:alice%d@example.com", n),
		Contact:  fmt.Sprintf("sip:alice%d@192.0.2.%d:%d;transport=tcp;ob;x=\"a,b\"", n, n%250, 5060+n),
		Q:        n%1002 - 1, // -1 (not given), 0, 1, ..., 1000, -1, ...
		Expires:  at(n, time.Hour),
		CallID:   fmt.Sprintf("reg-%d@192.0.2.1", n),
		CSeq:     math.MaxUint32 - uint32(n),
		Instance: fmt.Sprintf(`"<urn:uuid:00000000-0000-4000-8000-%012d>"`, n),
		RegID:    n + 1,
		Path: []string{
			fmt.Sprintf("<sip:edge%d.example.com;lr>", n),
			`"Edge, Proxy" <sip:edge.example.com;lr;ob;x="a,b">`,
			fmt.Sprintf("<sip:[2001:db8::%d]:5061;transport=tls;lr>", n+1),
		},
		Received:  fmt.Sprintf("[2001:db8::%d]:%d", n+1, 40000+n),
		Transport: []string{"udp", "tcp"}[n%2],
		UserAgent: fmt.Sprintf(`Phone/%d.0 (Ünïcode "quoted", <x>)`, n),
		Updated:   at(n, -time.Minute),
	}
}

// sortBindings sorts bs by id and returns it.
func sortBindings(bs []*usrloc.Binding) []*usrloc.Binding {
	slices.SortFunc(bs, func(a, b *usrloc.Binding) int { return strings.Compare(a.ID, b.ID) })
	return bs
}

func (h *harness) writeBindings(b *usrloc.Batch) {
	h.t.Helper()
	if err := h.s.WriteBindings(h.t.Context(), b); err != nil {
		h.t.Fatalf("write: got error %v, want none", err)
	}
}

// loadBindings returns the stored bindings sorted by id.
func (h *harness) loadBindings() []*usrloc.Binding {
	h.t.Helper()
	bs, err := h.s.LoadBindings(h.t.Context())
	if err != nil {
		h.t.Fatalf("load: got error %v, want none", err)
	}
	return sortBindings(bs)
}

// expectBindings fails unless the stored bindings are want (nil for
// none). Times compare with time.Time.Equal.
func (h *harness) expectBindings(want ...*usrloc.Binding) {
	h.t.Helper()
	if diff := gocmp.Diff(sortBindings(slices.Clone(want)), h.loadBindings()); diff != "" {
		h.t.Fatalf("stored bindings (-want +got):\n%s", diff)
	}
}

func testUsrlocRoundTrip(t *testing.T, h *harness) {
	bs := []*usrloc.Binding{binding("b1", 1), binding("b2", 2), binding("b3", 0), {ID: "minimal", AOR: "sip:m@x"}}
	// The limits of every number and time.
	bs = append(bs, &usrloc.Binding{
		ID: "limits", AOR: "sip:l@x", Q: math.MinInt, RegID: math.MaxInt, CSeq: math.MaxUint32,
		Expires: time.Unix(0, math.MaxInt64).UTC(), Updated: time.Unix(0, math.MinInt64).UTC(),
	}, &usrloc.Binding{ID: "limits 2", AOR: "sip:l@x", Q: math.MaxInt, RegID: math.MinInt, CSeq: 1})
	// An address of record has several bindings; the id is the key, not
	// the contact.
	for i := range 3 {
		b := binding(fmt.Sprintf("alice-%d", i), 7)
		b.Q = 1000 - i
		bs = append(bs, b)
	}
	h.writeBindings(&usrloc.Batch{Put: bs})
	h.expectBindings(bs...)
}

func testUsrlocEmptyPathLoadsNil(t *testing.T, h *harness) {
	b := binding("b", 1)
	b.Path = []string{}
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{b, {ID: "c", AOR: "sip:c@x"}}})
	for _, g := range h.loadBindings() {
		if g.Path != nil {
			t.Errorf("binding %s path: got %#v, want nil", g.ID, g.Path)
		}
	}
}

func testUsrlocTimesUTC(t *testing.T, h *harness) {
	zone := time.FixedZone("X", -7*3600)
	now := time.Now().In(zone) // with a monotonic reading
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{
		{ID: "b", AOR: "sip:a@x", Expires: now.Add(time.Hour), Updated: now.Add(time.Nanosecond)},
		{ID: "c", AOR: "sip:a@x"},
	}})
	bs := h.loadBindings()
	u := now.Round(0).UTC()
	tests := []struct {
		name      string
		got, want time.Time
	}{
		{"expires", bs[0].Expires, u.Add(time.Hour)},
		{"updated", bs[0].Updated, u.Add(time.Nanosecond)},
		{"zero expires", bs[1].Expires, time.Time{}},
		{"zero updated", bs[1].Updated, time.Time{}},
	}
	for _, tt := range tests {
		// == rather than Equal: location and monotonic reading matter here.
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func testUsrlocPutsAndDeletes(t *testing.T, h *harness) {
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("a", 1), binding("b", 2)}})
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("b", 5), binding("c", 3)}, Delete: []string{"a"}})
	h.expectBindings(binding("b", 5), binding("c", 3))

	// The deletes run before the puts: a binding deleted and put in one
	// batch stays.
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("c", 7)}, Delete: []string{"b", "c"}})
	h.expectBindings(binding("c", 7))

	// A put of the same id twice in one batch keeps the last.
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("d", 8), binding("d", 9)}})
	h.expectBindings(binding("c", 7), binding("d", 9))

	h.writeBindings(&usrloc.Batch{Delete: []string{"c", "d"}})
	h.expectBindings()
}

func testUsrlocUpsertReplaces(t *testing.T, h *harness) {
	tests := []struct {
		name  string
		first int
		then  int // -1: the binding with only its id and aor set
	}{
		{"every field changed", 1, 2},
		{"every field cleared", 3, -1},
		{"cleared fields set again", -1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			mk := func(n int) *usrloc.Binding {
				if n < 0 {
					return &usrloc.Binding{ID: "b", AOR: "sip:other@example.com"}
				}
				return binding("b", n)
			}
			h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{mk(tt.first)}})
			h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{mk(tt.then)}})
			h.expectBindings(mk(tt.then))
		})
	}
}

func testUsrlocDeleteMissing(t *testing.T, h *harness) {
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("b", 1)}})
	// An aor or a contact is no id.
	h.writeBindings(&usrloc.Batch{Delete: []string{"missing", "", binding("b", 1).AOR, binding("b", 1).Contact}})
	h.expectBindings(binding("b", 1))
}

func testUsrlocEmptyBatch(t *testing.T, h *harness) {
	for _, b := range []*usrloc.Batch{nil, {}, {Put: []*usrloc.Binding{}, Delete: []string{}}} {
		if err := h.s.WriteBindings(t.Context(), b); err != nil {
			t.Errorf("write %#v: got error %v, want none", b, err)
		}
	}
	if bs, err := h.s.LoadBindings(t.Context()); err != nil || bs != nil {
		t.Errorf("load: got %#v, %v, want nil, nil", bs, err)
	}
}

func testUsrlocRestart(t *testing.T, h *harness) {
	bs := []*usrloc.Binding{binding("b1", 1), binding("b2", 2), binding("b3", 3)}
	h.writeBindings(&usrloc.Batch{Put: bs})
	h.restart()
	h.expectBindings(bs...)

	// The store writes after a restart, and that survives the next one.
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("b2", 9), binding("b4", 4)}, Delete: []string{"b1"}})
	h.restart()
	h.expectBindings(binding("b2", 9), bs[2], binding("b4", 4))
}

// testUsrlocConcurrentReads writes batches that each set every binding
// to the same version while readers load: each load must see one batch
// entirely, never an older one than the last load.
func testUsrlocConcurrentReads(t *testing.T, h *harness) {
	const (
		batches = 60
		rows    = 20
		readers = 3
	)
	batch := func(v int) *usrloc.Batch {
		b := &usrloc.Batch{}
		for i := range rows {
			b.Put = append(b.Put, &usrloc.Binding{
				ID: fmt.Sprintf("b%02d", i), AOR: "sip:alice@example.com", CSeq: uint32(v), CallID: strconv.Itoa(v)})
		}
		if v > 0 {
			// The previous batch's extra binding goes, this one's comes.
			b.Delete = []string{fmt.Sprintf("x%d", v-1)}
		}
		b.Put = append(b.Put, &usrloc.Binding{ID: fmt.Sprintf("x%d", v), AOR: "sip:bob@example.com", CSeq: uint32(v)})
		return b
	}
	h.writeBindings(batch(0))

	ctx := t.Context()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			last, loads := -1, 0
			for {
				bs, err := h.s.LoadBindings(ctx)
				if err != nil {
					t.Errorf("reader %d: load: got error %v, want none", r, err)
					return
				}
				loads++
				v, err := consistentUsrlocVersion(bs, rows)
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
		if err := h.s.WriteBindings(ctx, batch(v)); err != nil {
			t.Errorf("write %d: got error %v, want none", v, err)
			break
		}
	}
	close(done)
	wg.Wait()
	if v, err := consistentUsrlocVersion(h.loadBindings(), rows); err != nil || v != batches {
		t.Errorf("final state: got version %d, %v, want %d", v, err, batches)
	}
}

// consistentUsrlocVersion returns the version of the one batch bs shows,
// or an error if it mixes batches.
func consistentUsrlocVersion(bs []*usrloc.Binding, rows int) (int, error) {
	if len(bs) != rows+1 {
		return 0, fmt.Errorf("got %d bindings, want %d", len(bs), rows+1)
	}
	v := int(bs[0].CSeq)
	want := fmt.Sprintf("x%d", v)
	for _, b := range bs {
		if int(b.CSeq) != v {
			return 0, fmt.Errorf("got binding %s of version %d with binding %s of version %d", b.ID, b.CSeq, bs[0].ID, v)
		}
		if strings.HasPrefix(b.ID, "x") && b.ID != want {
			return 0, fmt.Errorf("got binding %s with bindings of version %d, want %s", b.ID, v, want)
		}
		if !strings.HasPrefix(b.ID, "x") && b.CallID != strconv.Itoa(v) {
			return 0, fmt.Errorf("got binding %s with call-id %s and cseq %d, want both %d", b.ID, b.CallID, b.CSeq, v)
		}
	}
	return v, nil
}

// testUsrlocFailedBatch writes batches that fail after a delete and
// puts have been written within them: the stored bindings must stay what
// they were, and the store must keep working.
func testUsrlocFailedBatch(t *testing.T, h *harness) {
	initial := []*usrloc.Binding{binding("b1", 1), binding("b2", 2)}
	h.writeBindings(&usrloc.Batch{Put: initial})

	good := func() *usrloc.Batch {
		b := &usrloc.Batch{Delete: []string{"b1"}}
		for i := range 50 {
			b.Put = append(b.Put, binding(fmt.Sprintf("new%02d", i), i))
		}
		b.Put = append(b.Put, binding("b2", 9))
		return b
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	expired, cancel2 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel2()
	tooLate := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	tooEarly := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name    string
		ctx     context.Context
		spoil   func(b *usrloc.Batch)
		wantErr string
	}{
		{"nil binding last", t.Context(), func(b *usrloc.Batch) {
			b.Put = append(b.Put, nil)
		}, "put binding 51: nil row"},
		{"binding without id last", t.Context(), func(b *usrloc.Batch) {
			b.Put = append(b.Put, &usrloc.Binding{AOR: "sip:a@x", Contact: "sip:a@192.0.2.1"})
		}, "put binding 51: empty id"},
		{"binding without aor", t.Context(), func(b *usrloc.Batch) {
			b.Put[20].AOR = ""
		}, "put binding 20: empty aor"},
		{"binding expires out of range last", t.Context(), func(b *usrloc.Batch) {
			b.Put = append(b.Put, &usrloc.Binding{ID: "b9", AOR: "sip:a@x", Expires: tooLate})
		}, "put binding 51: expires 2300-01-01T00:00:00Z out of range"},
		{"binding updated out of range", t.Context(), func(b *usrloc.Batch) {
			b.Put[30].Updated = tooEarly
		}, "put binding 30: updated 1600"},
		{"cancelled context", cancelled, func(*usrloc.Batch) {}, "context canceled"},
		{"expired context", expired, func(*usrloc.Batch) {}, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			b := good()
			tt.spoil(b)
			err := h.s.WriteBindings(tt.ctx, b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "write usrloc batch: ") {
				t.Errorf("got error %q, want it to start with the operation", err)
			}
			h.expectBindings(initial...)
		})
	}

	// Nothing is left hanging: a good batch still goes through.
	h.writeBindings(good())
	if got := len(h.loadBindings()); got != 51 {
		t.Errorf("after the good batch: got %d bindings, want 51", got)
	}
}

// testUsrlocCancelDuring cancels the context while a large batch is
// being written. Whenever the cancel lands, the batch is stored whole or
// not at all.
func testUsrlocCancelDuring(t *testing.T, h *harness) {
	const rows = 3000
	cseqs := func(bs []*usrloc.Binding) map[string]uint32 {
		m := make(map[string]uint32, len(bs))
		for _, b := range bs {
			m[b.ID] = b.CSeq
		}
		return m
	}
	delays := []time.Duration{0, 100 * time.Microsecond, time.Millisecond, 5 * time.Millisecond,
		20 * time.Millisecond, 100 * time.Millisecond, time.Second}
	for i, delay := range delays {
		before := cseqs(h.loadBindings())
		b := &usrloc.Batch{}
		for j := range rows {
			v := binding(fmt.Sprintf("b%05d", j), j)
			v.CSeq = uint32(i + 1)
			b.Put = append(b.Put, v)
		}
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := h.s.WriteBindings(ctx, b)
		timer.Stop()
		cancel()
		after := cseqs(h.loadBindings())
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("delay %v: got error %v, want context.Canceled", delay, err)
			}
			if !maps.Equal(before, after) {
				t.Fatalf("delay %v: write failed with %v but changed the bindings", delay, err)
			}
			continue
		}
		if len(after) != rows {
			t.Fatalf("delay %v: write succeeded: got %d bindings, want %d", delay, len(after), rows)
		}
		for id, v := range after {
			if v != uint32(i+1) {
				t.Fatalf("delay %v: write succeeded: got binding %s cseq %d, want %d", delay, id, v, i+1)
			}
		}
	}
}

// testUsrlocLongPaths stores a binding behind 200 proxies and an address
// of record with 1000 bindings.
func testUsrlocLongPaths(t *testing.T, h *harness) {
	long := binding("long", 1)
	for i := range 200 {
		long.Path = append(long.Path, fmt.Sprintf("<sip:proxy%d.example.com:5060;transport=tcp;lr>", i))
	}
	long.UserAgent = strings.Repeat("U", 64<<10)
	bs := []*usrloc.Binding{long}
	for i := range 1000 {
		b := binding(fmt.Sprintf("many%04d", i), i)
		b.AOR = "sip:many@example.com"
		bs = append(bs, b)
	}
	h.writeBindings(&usrloc.Batch{Put: bs})
	h.expectBindings(bs...)
}

func testUsrlocNoAliasing(t *testing.T, h *harness) {
	b := binding("b", 1)
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{b}})
	// The caller changes what it wrote...
	b.Path[0] = "<sip:changed;lr>"
	b.Contact = "sip:changed"
	b.CSeq++
	b.Expires = b.Expires.Add(time.Hour)
	h.expectBindings(binding("b", 1))

	// ...and what it loaded.
	bs := h.loadBindings()
	bs[0].Path[1] = "<sip:changed;lr>"
	bs[0].Path = append(bs[0].Path, "<sip:appended;lr>")
	bs[0].UserAgent = "changed"
	h.expectBindings(binding("b", 1))
}

// testUsrlocApart writes presence, pua and usrloc rows with the same ids:
// no domain sees or changes another's.
func testUsrlocApart(t *testing.T, h *harness) {
	ctx := t.Context()
	writeOthers := func() {
		t.Helper()
		if err := h.s.WritePresence(ctx, &presence.Batch{
			PutPublications:  []*presence.Publication{pub("x", 1)},
			PutSubscriptions: []*presence.Subscription{sub("x", 1)},
		}); err != nil {
			t.Fatalf("write presence: got error %v, want none", err)
		}
		h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{puaPub("x", 2)}, PutSubscriptions: []*pua.Subscription{puaSub("x", 2)}})
	}
	expectOthers := func() {
		t.Helper()
		h.expect(stateOf([]*presence.Publication{pub("x", 1)}, []*presence.Subscription{sub("x", 1)}, nil))
		h.expectPUA(puaRecordsOf([]*pua.Publication{puaPub("x", 2)}, []*pua.Subscription{puaSub("x", 2)}))
	}
	writeOthers()
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("x", 3)}})
	expectOthers()
	h.expectBindings(binding("x", 3))

	h.writeBindings(&usrloc.Batch{Delete: []string{"x"}})
	expectOthers()
	h.expectBindings()

	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{binding("x", 4)}})
	if err := h.s.WritePresence(ctx, &presence.Batch{
		DeletePublications:  []presence.PublicationKey{{ID: "x"}},
		DeleteSubscriptions: []string{"x"},
	}); err != nil {
		t.Fatalf("delete presence: got error %v, want none", err)
	}
	h.writePUA(&pua.Batch{DeletePublications: []string{"x"}, DeleteSubscriptions: []string{"x"}})
	h.expect(&presence.State{})
	h.expectPUA(&puaRecords{})
	h.expectBindings(binding("x", 4))
}
