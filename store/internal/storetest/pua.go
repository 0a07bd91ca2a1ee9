package storetest

import (
	"bytes"
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
)

// PUA runs the pua.Store suite against the backend newState makes.
func PUA(t *testing.T, newState Factory) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"round trip of every field", testPUARoundTrip},
		{"empty bodies and lists load as nil", testPUAEmptyLoadsNil},
		{"times load in UTC without monotonic reading", testPUATimesUTC},
		{"puts and deletes", testPUAPutsAndDeletes},
		{"upsert replaces", testPUAUpsertReplaces},
		{"delete of a missing key", testPUADeleteMissing},
		{"empty batch", testPUAEmptyBatch},
		{"restart", testPUARestart},
		{"concurrent reads during writes", testPUAConcurrentReads},
		{"failed batch leaves nothing", testPUAFailedBatch},
		{"cancel during a batch: all or nothing", testPUACancelDuring},
		{"large bodies", testPUALargeBodies},
		{"no aliasing", testPUANoAliasing},
		{"apart from presence", testPUAApartFromPresence},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newHarness(t, newState))
		})
	}
}

// Fixtures. Every field of row n differs from the same field of row m
// (but the sources, which repeat every five rows).

var puaSources = []pua.Source{pua.SourceUsrloc, pua.SourceMI, pua.SourceXMPP, pua.SourceBLA, pua.SourceDialogInfo}

func puaPub(id string, n int) *pua.Publication {
	return &pua.Publication{
		ID:          id,
		Presentity:  fmt.Sprintf("sip:alice%d@example.com", n),
		Event:       []string{"presence", "dialog", "dialog;sla"}[n%3],
		Source:      puaSources[n%len(puaSources)],
		OwnerID:     fmt.Sprintf("owner %d é", n),
		ETag:        fmt.Sprintf("e.%d.x", n),
		ContentType: fmt.Sprintf("application/pidf+xml;v=%d", n),
		Body:        body(n, 300+n),
		ExtraHeaders: []string{
			fmt.Sprintf("P-Owner: %d", n),
			`Priority: "urgent, really" <x>`,
			fmt.Sprintf("X-Line: a\nb%d", n),
		},
		Expires: at(n, time.Hour),
		Desired: at(n, 24*time.Hour),
	}
}

func puaSub(id string, n int) *pua.Subscription {
	return &pua.Subscription{
		ID:          id,
		Presentity:  fmt.Sprintf("sip:bob%d@example.com", n),
		To:          fmt.Sprintf("sip:bob%d-to@example.com", n),
		Watcher:     fmt.Sprintf("sip:alice%d@example.com", n),
		Event:       []string{"presence", "dialog", "message-summary"}[n%3],
		Source:      puaSources[n%len(puaSources)],
		OwnerID:     fmt.Sprintf("owner %d ü", n),
		Contact:     fmt.Sprintf("<sip:pua@192.0.2.%d:5060;transport=tcp>", n%250),
		Destination: fmt.Sprintf("192.0.2.%d:5062", n%250),
		CallID:      fmt.Sprintf("call-%d@192.0.2.1", n),
		LocalTag:    fmt.Sprintf("lt%d", n),
		RemoteTag:   fmt.Sprintf("rt%d", n),
		RouteSet: []string{
			fmt.Sprintf("<sip:p%d.example.com;lr>", n),
			`"Edge, Proxy" <sip:edge.example.com;lr;x="a,b">`,
			fmt.Sprintf("<sip:[2001:db8::%d];lr>", n+1),
		},
		RemoteTarget:      fmt.Sprintf("sip:bob%d@192.0.2.%d:5070;transport=tcp", n, n%250),
		LocalCSeq:         math.MaxUint32 - uint32(n),
		RemoteCSeq:        uint32(n) + 1,
		ExtraHeaders:      []string{fmt.Sprintf("Accept: application/pidf+xml;q=0.%d", n%10), "X-Ünïcode: é"},
		Expires:           at(n, 2*time.Hour),
		Desired:           at(n, 48*time.Hour),
		State:             []string{"pending", "active", "terminated"}[n%3],
		Reason:            fmt.Sprintf("reason %d", n),
		NotifyAt:          at(n, -time.Minute),
		NotifyContentType: fmt.Sprintf("application/dialog-info+xml;v=%d", n),
		NotifyBody:        body(n+100, 200+n),
	}
}

// puaRecords is what LoadPUA returns, sorted by id.
type puaRecords struct {
	Publications  []*pua.Publication
	Subscriptions []*pua.Subscription
}

func puaRecordsOf(pubs []*pua.Publication, subs []*pua.Subscription) *puaRecords {
	return sortPUA(&puaRecords{Publications: pubs, Subscriptions: subs})
}

func sortPUA(r *puaRecords) *puaRecords {
	slices.SortFunc(r.Publications, func(a, b *pua.Publication) int { return strings.Compare(a.ID, b.ID) })
	slices.SortFunc(r.Subscriptions, func(a, b *pua.Subscription) int { return strings.Compare(a.ID, b.ID) })
	return r
}

func (h *harness) writePUA(b *pua.Batch) {
	h.t.Helper()
	if err := h.s.WritePUA(h.t.Context(), b); err != nil {
		h.t.Fatalf("write: got error %v, want none", err)
	}
}

// loadPUA returns the stored records sorted by id.
func (h *harness) loadPUA() *puaRecords {
	h.t.Helper()
	pubs, subs, err := h.s.LoadPUA(h.t.Context())
	if err != nil {
		h.t.Fatalf("load: got error %v, want none", err)
	}
	return sortPUA(&puaRecords{Publications: pubs, Subscriptions: subs})
}

// expectPUA fails unless the stored records are want. Times compare with
// time.Time.Equal.
func (h *harness) expectPUA(want *puaRecords) {
	h.t.Helper()
	if diff := gocmp.Diff(sortPUA(want), h.loadPUA(), bytesEqual()); diff != "" {
		h.t.Fatalf("stored records (-want +got):\n%s", diff)
	}
}

func testPUARoundTrip(t *testing.T, h *harness) {
	pubs := []*pua.Publication{puaPub("p1", 1), puaPub("p2", 2), {ID: "minimal"}}
	subs := []*pua.Subscription{puaSub("s1", 1), puaSub("s2", 2), {ID: "minimal"}}
	h.writePUA(&pua.Batch{PutPublications: pubs, PutSubscriptions: subs})
	h.expectPUA(puaRecordsOf(pubs, subs))
}

func testPUAEmptyLoadsNil(t *testing.T, h *harness) {
	p := puaPub("p", 1)
	p.Body, p.ExtraHeaders = []byte{}, []string{}
	s := puaSub("s", 1)
	s.RouteSet, s.ExtraHeaders, s.NotifyBody = []string{}, []string{}, []byte{}
	h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{p}, PutSubscriptions: []*pua.Subscription{s}})
	r := h.loadPUA()
	gp, gs := r.Publications[0], r.Subscriptions[0]
	if gp.Body != nil {
		t.Errorf("publication body: got %#v, want nil", gp.Body)
	}
	if gp.ExtraHeaders != nil {
		t.Errorf("publication extra headers: got %#v, want nil", gp.ExtraHeaders)
	}
	if gs.RouteSet != nil {
		t.Errorf("subscription route set: got %#v, want nil", gs.RouteSet)
	}
	if gs.ExtraHeaders != nil {
		t.Errorf("subscription extra headers: got %#v, want nil", gs.ExtraHeaders)
	}
	if gs.NotifyBody != nil {
		t.Errorf("subscription notify body: got %#v, want nil", gs.NotifyBody)
	}
}

func testPUATimesUTC(t *testing.T, h *harness) {
	zone := time.FixedZone("X", -7*3600)
	now := time.Now().In(zone) // with a monotonic reading
	p := &pua.Publication{ID: "p", Expires: now, Desired: now.Add(time.Nanosecond)}
	s := &pua.Subscription{ID: "s", Expires: now, Desired: now.Add(time.Hour), NotifyAt: now.Add(-time.Second)}
	h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{p}, PutSubscriptions: []*pua.Subscription{s}})
	r := h.loadPUA()
	gp, gs := r.Publications[0], r.Subscriptions[0]
	u := now.Round(0).UTC()
	tests := []struct {
		name      string
		got, want time.Time
	}{
		{"publication expires", gp.Expires, u},
		{"publication desired", gp.Desired, u.Add(time.Nanosecond)},
		{"subscription expires", gs.Expires, u},
		{"subscription desired", gs.Desired, u.Add(time.Hour)},
		{"subscription notify at", gs.NotifyAt, u.Add(-time.Second)},
	}
	for _, tt := range tests {
		// == rather than Equal: location and monotonic reading matter here.
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func testPUAPutsAndDeletes(t *testing.T, h *harness) {
	h.writePUA(&pua.Batch{
		PutPublications:  []*pua.Publication{puaPub("a", 1), puaPub("b", 2)},
		PutSubscriptions: []*pua.Subscription{puaSub("a", 1), puaSub("b", 2)},
	})
	h.writePUA(&pua.Batch{
		PutPublications:     []*pua.Publication{puaPub("b", 5), puaPub("c", 3)},
		DeletePublications:  []string{"a"},
		PutSubscriptions:    []*pua.Subscription{puaSub("b", 5), puaSub("c", 3)},
		DeleteSubscriptions: []string{"a"},
	})
	h.expectPUA(puaRecordsOf(
		[]*pua.Publication{puaPub("b", 5), puaPub("c", 3)},
		[]*pua.Subscription{puaSub("b", 5), puaSub("c", 3)},
	))

	// Within a table the deletes run before the puts: a row deleted and
	// put in one batch stays.
	h.writePUA(&pua.Batch{
		PutPublications:     []*pua.Publication{puaPub("c", 7)},
		DeletePublications:  []string{"b", "c"},
		PutSubscriptions:    []*pua.Subscription{puaSub("c", 7)},
		DeleteSubscriptions: []string{"b", "c"},
	})
	h.expectPUA(puaRecordsOf([]*pua.Publication{puaPub("c", 7)}, []*pua.Subscription{puaSub("c", 7)}))
}

func testPUAUpsertReplaces(t *testing.T, h *harness) {
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
			mk := func(n int) (*pua.Publication, *pua.Subscription) {
				if n < 0 {
					return &pua.Publication{ID: "p"}, &pua.Subscription{ID: "s"}
				}
				return puaPub("p", n), puaSub("s", n)
			}
			p1, s1 := mk(tt.first)
			h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{p1}, PutSubscriptions: []*pua.Subscription{s1}})
			p2, s2 := mk(tt.then)
			h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{p2}, PutSubscriptions: []*pua.Subscription{s2}})
			h.expectPUA(puaRecordsOf([]*pua.Publication{p2}, []*pua.Subscription{s2}))
		})
	}
}

func testPUADeleteMissing(t *testing.T, h *harness) {
	pubs := []*pua.Publication{puaPub("p", 1)}
	subs := []*pua.Subscription{puaSub("s", 1)}
	h.writePUA(&pua.Batch{PutPublications: pubs, PutSubscriptions: subs})
	h.writePUA(&pua.Batch{
		// A publication id is no subscription id, and the reverse.
		DeletePublications:  []string{"missing", "", "s"},
		DeleteSubscriptions: []string{"missing", "", "p"},
	})
	h.expectPUA(puaRecordsOf(pubs, subs))
}

func testPUAEmptyBatch(t *testing.T, h *harness) {
	for _, b := range []*pua.Batch{nil, {}} {
		if err := h.s.WritePUA(t.Context(), b); err != nil {
			t.Errorf("write %#v: got error %v, want none", b, err)
		}
	}
	h.expectPUA(&puaRecords{})
}

func testPUARestart(t *testing.T, h *harness) {
	pubs := []*pua.Publication{puaPub("p1", 1), puaPub("p2", 2)}
	pubs[1].Body = body(7, 64<<10)
	subs := []*pua.Subscription{puaSub("s1", 1), puaSub("s2", 2)}
	subs[0].NotifyBody = body(9, 64<<10)
	h.writePUA(&pua.Batch{PutPublications: pubs, PutSubscriptions: subs})
	h.restart()
	h.expectPUA(puaRecordsOf(pubs, subs))

	// The store writes after a restart, and that survives the next one.
	h.writePUA(&pua.Batch{
		PutPublications:     []*pua.Publication{puaPub("p3", 3)},
		DeletePublications:  []string{"p1"},
		PutSubscriptions:    []*pua.Subscription{puaSub("s2", 9)},
		DeleteSubscriptions: []string{"s1"},
	})
	h.restart()
	h.expectPUA(puaRecordsOf(
		[]*pua.Publication{pubs[1], puaPub("p3", 3)},
		[]*pua.Subscription{puaSub("s2", 9)},
	))
}

// testPUAConcurrentReads writes batches that each set every row to the
// same version while readers load: each load must see one batch entirely,
// never an older one than the last load.
func testPUAConcurrentReads(t *testing.T, h *harness) {
	const (
		batches = 60
		rows    = 20
		readers = 3
	)
	batch := func(v int) *pua.Batch {
		b := &pua.Batch{PutPublications: []*pua.Publication{{ID: "p", ETag: strconv.Itoa(v), Body: []byte(strconv.Itoa(v))}}}
		for i := range rows {
			b.PutSubscriptions = append(b.PutSubscriptions, &pua.Subscription{
				ID: fmt.Sprintf("s%02d", i), LocalCSeq: uint32(v), NotifyBody: []byte(strconv.Itoa(v))})
		}
		if v > 0 {
			// The previous batch's extra rows go, this one's come.
			b.DeletePublications = []string{fmt.Sprintf("x%d", v-1)}
			b.DeleteSubscriptions = []string{fmt.Sprintf("x%d", v-1)}
		}
		b.PutPublications = append(b.PutPublications, &pua.Publication{ID: fmt.Sprintf("x%d", v), ETag: strconv.Itoa(v)})
		b.PutSubscriptions = append(b.PutSubscriptions, &pua.Subscription{ID: fmt.Sprintf("x%d", v), LocalCSeq: uint32(v)})
		return b
	}
	h.writePUA(batch(0))

	ctx := t.Context()
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			last, loads := -1, 0
			for {
				pubs, subs, err := h.s.LoadPUA(ctx)
				if err != nil {
					t.Errorf("reader %d: load: got error %v, want none", r, err)
					return
				}
				loads++
				v, err := consistentPUAVersion(pubs, subs, rows)
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
		if err := h.s.WritePUA(ctx, batch(v)); err != nil {
			t.Errorf("write %d: got error %v, want none", v, err)
			break
		}
	}
	close(done)
	wg.Wait()
	r := h.loadPUA()
	if v, err := consistentPUAVersion(r.Publications, r.Subscriptions, rows); err != nil || v != batches {
		t.Errorf("final state: got version %d, %v, want %d", v, err, batches)
	}
}

// consistentPUAVersion returns the version of the one batch the records
// show, or an error if they mix batches.
func consistentPUAVersion(pubs []*pua.Publication, subs []*pua.Subscription, rows int) (int, error) {
	if len(pubs) != 2 || len(subs) != rows+1 {
		return 0, fmt.Errorf("got %d publications, %d subscriptions, want 2, %d", len(pubs), len(subs), rows+1)
	}
	v := -1
	for _, p := range pubs {
		if p.ID == "p" {
			n, err := strconv.Atoi(string(p.Body))
			if err != nil {
				return 0, fmt.Errorf("publication body %q: %v", p.Body, err)
			}
			v = n
		}
	}
	if v < 0 {
		return 0, errors.New("got no publication p")
	}
	want := strconv.Itoa(v)
	for _, p := range pubs {
		if p.ETag != want || (p.ID != "p" && p.ID != "x"+want) {
			return 0, fmt.Errorf("got publication %s of version %s with publication p of version %d", p.ID, p.ETag, v)
		}
	}
	for _, s := range subs {
		if strings.HasPrefix(s.ID, "x") && s.ID != "x"+want {
			return 0, fmt.Errorf("got subscription %s with publication of version %d, want x%d", s.ID, v, v)
		}
		if int(s.LocalCSeq) != v {
			return 0, fmt.Errorf("got subscription %s of version %d with publication of version %d", s.ID, s.LocalCSeq, v)
		}
	}
	return v, nil
}

// testPUAFailedBatch writes batches that fail after rows of both kinds
// have been written within them: the stored records must stay what they
// were, and the store must keep working.
func testPUAFailedBatch(t *testing.T, h *harness) {
	initial := puaRecordsOf(
		[]*pua.Publication{puaPub("p1", 1), puaPub("p2", 2)},
		[]*pua.Subscription{puaSub("s1", 1), puaSub("s2", 2)},
	)
	h.writePUA(&pua.Batch{PutPublications: initial.Publications, PutSubscriptions: initial.Subscriptions})

	// good is a batch touching both tables, run before the bad row: within
	// a table the deletes run first, and subscriptions come last.
	good := func() *pua.Batch {
		b := &pua.Batch{DeletePublications: []string{"p1"}, DeleteSubscriptions: []string{"s1"}}
		for i := range 50 {
			b.PutPublications = append(b.PutPublications, puaPub(fmt.Sprintf("new%02d", i), i))
			b.PutSubscriptions = append(b.PutSubscriptions, puaSub(fmt.Sprintf("new%02d", i), i))
		}
		b.PutPublications = append(b.PutPublications, puaPub("p2", 9))
		b.PutSubscriptions = append(b.PutSubscriptions, puaSub("s2", 9))
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
		spoil   func(b *pua.Batch)
		wantErr string
	}{
		{"nil subscription last", t.Context(), func(b *pua.Batch) {
			b.PutSubscriptions = append(b.PutSubscriptions, nil)
		}, "put subscription 51: nil row"},
		{"subscription without id last", t.Context(), func(b *pua.Batch) {
			b.PutSubscriptions = append(b.PutSubscriptions, &pua.Subscription{CallID: "c"})
		}, "put subscription 51: empty id"},
		{"subscription notify time out of range last", t.Context(), func(b *pua.Batch) {
			b.PutSubscriptions = append(b.PutSubscriptions, &pua.Subscription{ID: "s9", NotifyAt: tooLate})
		}, "put subscription 51: notify at 2300-01-01T00:00:00Z out of range"},
		{"subscription desired out of range", t.Context(), func(b *pua.Batch) {
			b.PutSubscriptions[20].Desired = tooLate
		}, "put subscription 20: desired 2300"},
		{"nil publication last", t.Context(), func(b *pua.Batch) {
			b.PutPublications = append(b.PutPublications, nil)
		}, "put publication 51: nil row"},
		{"publication without id", t.Context(), func(b *pua.Batch) {
			b.PutPublications[30].ID = ""
		}, "put publication 30: empty id"},
		{"publication expires out of range", t.Context(), func(b *pua.Batch) {
			b.PutPublications[10].Expires = tooLate
		}, "put publication 10: expires 2300"},
		{"cancelled context", cancelled, func(*pua.Batch) {}, "context canceled"},
		{"expired context", expired, func(*pua.Batch) {}, "context deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			b := good()
			tt.spoil(b)
			err := h.s.WritePUA(tt.ctx, b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "write pua batch: ") {
				t.Errorf("got error %q, want it to start with the operation", err)
			}
			h.expectPUA(initial)
		})
	}

	// Nothing is left hanging: a good batch still goes through.
	h.writePUA(good())
	if r := h.loadPUA(); len(r.Publications) != 51 || len(r.Subscriptions) != 51 {
		t.Errorf("after the good batch: got %d publications, %d subscriptions, want 51, 51",
			len(r.Publications), len(r.Subscriptions))
	}
}

// testPUACancelDuring cancels the context while a large batch is being
// written. Whenever the cancel lands, the batch is stored whole or not at
// all.
func testPUACancelDuring(t *testing.T, h *harness) {
	const rows = 3000
	cseqs := func(r *puaRecords) map[string]uint32 {
		m := make(map[string]uint32, len(r.Subscriptions))
		for _, s := range r.Subscriptions {
			m[s.ID] = s.RemoteCSeq
		}
		return m
	}
	delays := []time.Duration{0, 100 * time.Microsecond, time.Millisecond, 5 * time.Millisecond,
		20 * time.Millisecond, 100 * time.Millisecond, time.Second}
	for i, delay := range delays {
		before := cseqs(h.loadPUA())
		b := &pua.Batch{}
		for j := range rows {
			s := puaSub(fmt.Sprintf("s%05d", j), j)
			s.RemoteCSeq = uint32(i + 1)
			b.PutSubscriptions = append(b.PutSubscriptions, s)
		}
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(delay, cancel)
		err := h.s.WritePUA(ctx, b)
		timer.Stop()
		cancel()
		after := cseqs(h.loadPUA())
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				t.Errorf("delay %v: got error %v, want context.Canceled", delay, err)
			}
			if !maps.Equal(before, after) {
				t.Fatalf("delay %v: write failed with %v but changed the records", delay, err)
			}
			continue
		}
		if len(after) != rows {
			t.Fatalf("delay %v: write succeeded: got %d subscriptions, want %d", delay, len(after), rows)
		}
		for id, v := range after {
			if v != uint32(i+1) {
				t.Fatalf("delay %v: write succeeded: got subscription %s remote cseq %d, want %d", delay, id, v, i+1)
			}
		}
	}
}

func testPUALargeBodies(t *testing.T, h *harness) {
	var pubs []*pua.Publication
	var subs []*pua.Subscription
	for i, n := range []int{64 << 10, 64<<10 + 1, 1 << 20} {
		p := puaPub(fmt.Sprintf("p%d", i), i)
		p.Body = body(i, n)
		pubs = append(pubs, p)
		s := puaSub(fmt.Sprintf("s%d", i), i)
		s.NotifyBody = body(i+50, n)
		subs = append(subs, s)
	}
	for i := range 200 {
		pubs[0].ExtraHeaders = append(pubs[0].ExtraHeaders, fmt.Sprintf("X-Header-%d: %s", i, strings.Repeat("v", i)))
		subs[0].ExtraHeaders = append(subs[0].ExtraHeaders, fmt.Sprintf("X-Header-%d: %s", i, strings.Repeat("w", i)))
		subs[0].RouteSet = append(subs[0].RouteSet, fmt.Sprintf("<sip:proxy%d.example.com:5060;transport=tcp;lr>", i))
	}
	h.writePUA(&pua.Batch{PutPublications: pubs, PutSubscriptions: subs})
	got := h.loadPUA()
	for i, p := range got.Publications {
		if !bytes.Equal(p.Body, pubs[i].Body) {
			t.Errorf("publication %s: got a body of %d bytes, want the %d bytes written", p.ID, len(p.Body), len(pubs[i].Body))
		}
	}
	for i, s := range got.Subscriptions {
		if !bytes.Equal(s.NotifyBody, subs[i].NotifyBody) {
			t.Errorf("subscription %s: got a notify body of %d bytes, want the %d bytes written", s.ID, len(s.NotifyBody), len(subs[i].NotifyBody))
		}
	}
	h.expectPUA(puaRecordsOf(pubs, subs))
}

func testPUANoAliasing(t *testing.T, h *harness) {
	p, s := puaPub("p", 1), puaSub("s", 1)
	want := puaRecordsOf([]*pua.Publication{puaPub("p", 1)}, []*pua.Subscription{puaSub("s", 1)})
	h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{p}, PutSubscriptions: []*pua.Subscription{s}})
	// The caller changes what it wrote...
	p.Body[0]++
	p.ExtraHeaders[0] = "X-Changed: 1"
	p.ETag = "changed"
	s.RouteSet[0] = "<sip:changed>"
	s.ExtraHeaders[1] = "X-Changed: 1"
	s.NotifyBody[0]++
	s.LocalCSeq++
	h.expectPUA(want)

	// ...and what it loaded.
	r := h.loadPUA()
	r.Publications[0].Body[0]++
	r.Publications[0].ExtraHeaders[1] = "X-Changed: 2"
	r.Publications[0].OwnerID = "changed"
	r.Subscriptions[0].RouteSet[1] = "<sip:changed>"
	r.Subscriptions[0].ExtraHeaders[0] = "X-Changed: 2"
	r.Subscriptions[0].NotifyBody[0]++
	r.Subscriptions[0].State = "changed"
	h.expectPUA(want)
}

// testPUAApartFromPresence writes presence and pua rows with the same ids:
// neither domain sees or changes the other's.
func testPUAApartFromPresence(t *testing.T, h *harness) {
	ctx := t.Context()
	if err := h.s.WritePresence(ctx, &presence.Batch{
		PutPublications:  []*presence.Publication{pub("x", 1)},
		PutSubscriptions: []*presence.Subscription{sub("x", 1)},
	}); err != nil {
		t.Fatalf("write presence: got error %v, want none", err)
	}
	h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{puaPub("x", 2)}, PutSubscriptions: []*pua.Subscription{puaSub("x", 2)}})
	h.expect(stateOf([]*presence.Publication{pub("x", 1)}, []*presence.Subscription{sub("x", 1)}, nil))

	h.writePUA(&pua.Batch{DeletePublications: []string{"x"}, DeleteSubscriptions: []string{"x"}})
	h.expect(stateOf([]*presence.Publication{pub("x", 1)}, []*presence.Subscription{sub("x", 1)}, nil))
	h.expectPUA(&puaRecords{})

	h.writePUA(&pua.Batch{PutPublications: []*pua.Publication{puaPub("x", 3)}, PutSubscriptions: []*pua.Subscription{puaSub("x", 3)}})
	if err := h.s.WritePresence(ctx, &presence.Batch{
		DeletePublications:  []presence.PublicationKey{{ID: "x"}},
		DeleteSubscriptions: []string{"x"},
	}); err != nil {
		t.Fatalf("delete presence: got error %v, want none", err)
	}
	h.expect(&presence.State{})
	h.expectPUA(puaRecordsOf([]*pua.Publication{puaPub("x", 3)}, []*pua.Subscription{puaSub("x", 3)}))
}
