package storetest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/usrloc"
)

// Dialog runs the dialog.Store suite against the backend newState makes.
func Dialog(t *testing.T, newState Factory) {
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"round trip of every field", testDialogRoundTrip},
		{"empty route sets load as nil", testDialogEmptyRoutesNil},
		{"times load in UTC without monotonic reading", testDialogTimesUTC},
		{"puts and deletes", testDialogPutsAndDeletes},
		{"upsert replaces", testDialogUpsertReplaces},
		{"empty batch", testDialogEmptyBatch},
		{"restart", testDialogRestart},
		{"failed batch leaves nothing", testDialogFailedBatch},
		{"no aliasing", testDialogNoAliasing},
		{"apart from usrloc", testDialogApart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newHarness(t, newState))
		})
	}
}

// dlg is a fixture: every field of dialog n differs from the same field
// of dialog m.
func dlg(id string, n int) *dialog.Record {
	return &dialog.Record{
		Dialog: dialog.Dialog{
			ID: id, CallID: fmt.Sprintf("call-%d@192.0.2.1", n), Branch: n % 17,
			CallerTag: fmt.Sprintf("ft%d", n), CalleeTag: fmt.Sprintf("tt%d", n),
			Caller: dialog.Party{URI: fmt.Sprintf("sip:alice%d@example.com", n), Display: fmt.Sprintf(`Älice "%d", <x>`, n),
				Target: fmt.Sprintf("sip:alice@192.0.2.%d:%d;transport=tcp;ob", n%250, 5060+n)},
			Callee: dialog.Party{URI: fmt.Sprintf("sip:bob%d@example.com", n), Display: fmt.Sprintf("Bob %d", n),
				Target: fmt.Sprintf("sip:bob@[2001:db8::%d]:%d", n+1, 5070+n)},
			State:     dialog.Confirmed,
			Created:   at(n, -time.Minute),
			Confirmed: at(n, 0),
			Expires:   at(n, 12*time.Hour),
		},
		CallerCSeq:  math.MaxUint32 - uint32(n),
		CalleeCSeq:  uint32(n),
		CallerRoute: []string{fmt.Sprintf("<sip:edge%d.example.com;lr>", n), `<sip:p2.example.com;lr;x="a,b">`},
		CalleeRoute: []string{fmt.Sprintf("<sip:[2001:db8::%d]:5061;transport=tcp;lr>", n+1)},
		CallerDest:  fmt.Sprintf("udp:192.0.2.%d:%d", n%250, 40000+n),
		CalleeDest:  fmt.Sprintf("tcp:[2001:db8::%d]:%d", n+1, 41000+n),
	}
}

func sortDialogs(ds []*dialog.Record) []*dialog.Record {
	slices.SortFunc(ds, func(a, b *dialog.Record) int { return strings.Compare(a.ID, b.ID) })
	return ds
}

func (h *harness) writeDialogs(b *dialog.Batch) {
	h.t.Helper()
	if err := h.s.WriteDialogs(h.t.Context(), b); err != nil {
		h.t.Fatalf("write: got error %v, want none", err)
	}
}

func (h *harness) loadDialogs() []*dialog.Record {
	h.t.Helper()
	ds, err := h.s.LoadDialogs(h.t.Context())
	if err != nil {
		h.t.Fatalf("load: got error %v, want none", err)
	}
	return sortDialogs(ds)
}

// expectDialogs fails unless the stored dialogs are want.
func (h *harness) expectDialogs(want ...*dialog.Record) {
	h.t.Helper()
	if diff := gocmp.Diff(sortDialogs(slices.Clone(want)), h.loadDialogs()); diff != "" {
		h.t.Fatalf("stored dialogs (-want +got):\n%s", diff)
	}
}

func testDialogRoundTrip(t *testing.T, h *harness) {
	ds := []*dialog.Record{dlg("d1", 1), dlg("d2", 2), dlg("d0", 0), {Dialog: dialog.Dialog{ID: "minimal", CallID: "c"}}}
	ds = append(ds, &dialog.Record{
		Dialog: dialog.Dialog{ID: "limits", CallID: "l", Branch: math.MaxInt, Created: time.Unix(0, math.MinInt64).UTC(),
			Expires: time.Unix(0, math.MaxInt64).UTC()},
		CallerCSeq: math.MaxUint32, CalleeCSeq: math.MaxUint32,
	})
	// The branches of one call are dialogs of their own.
	for i := range 3 {
		d := dlg(fmt.Sprintf("call-7.%x", i), 7)
		d.Branch = i
		ds = append(ds, d)
	}
	h.writeDialogs(&dialog.Batch{Put: ds})
	h.expectDialogs(ds...)
}

func testDialogEmptyRoutesNil(t *testing.T, h *harness) {
	d := dlg("d", 1)
	d.CallerRoute, d.CalleeRoute = []string{}, []string{}
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{d}})
	for _, g := range h.loadDialogs() {
		if g.CallerRoute != nil || g.CalleeRoute != nil {
			t.Errorf("dialog %s routes: got %#v and %#v, want nil", g.ID, g.CallerRoute, g.CalleeRoute)
		}
	}
}

func testDialogTimesUTC(t *testing.T, h *harness) {
	zone := time.FixedZone("X", 5*3600)
	now := time.Now().In(zone)
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{
		{Dialog: dialog.Dialog{ID: "a", CallID: "c", Created: now, Confirmed: now.Add(time.Second), Expires: now.Add(time.Hour)}},
		{Dialog: dialog.Dialog{ID: "b", CallID: "c"}},
	}})
	ds := h.loadDialogs()
	u := now.Round(0).UTC()
	tests := []struct {
		name      string
		got, want time.Time
	}{
		{"created", ds[0].Created, u},
		{"confirmed", ds[0].Confirmed, u.Add(time.Second)},
		{"expires", ds[0].Expires, u.Add(time.Hour)},
		{"zero created", ds[1].Created, time.Time{}},
		{"zero confirmed", ds[1].Confirmed, time.Time{}},
		{"zero expires", ds[1].Expires, time.Time{}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func testDialogPutsAndDeletes(t *testing.T, h *harness) {
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{dlg("a", 1), dlg("b", 2)}})
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{dlg("b", 5), dlg("c", 3)}, Delete: []string{"a"}})
	h.expectDialogs(dlg("b", 5), dlg("c", 3))
	// The deletes run before the puts.
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{dlg("c", 7)}, Delete: []string{"b", "c", "missing", ""}})
	h.expectDialogs(dlg("c", 7))
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{dlg("d", 8), dlg("d", 9)}})
	h.expectDialogs(dlg("c", 7), dlg("d", 9))
	h.writeDialogs(&dialog.Batch{Delete: []string{"c", "d"}})
	h.expectDialogs()
}

func testDialogUpsertReplaces(t *testing.T, h *harness) {
	mk := func(n int) *dialog.Record {
		if n < 0 {
			return &dialog.Record{Dialog: dialog.Dialog{ID: "d", CallID: "other"}}
		}
		return dlg("d", n)
	}
	for _, tt := range []struct {
		name        string
		first, then int
	}{
		{"every field changed", 1, 2},
		{"every field cleared", 3, -1},
		{"cleared fields set again", -1, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{mk(tt.first)}})
			h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{mk(tt.then)}})
			h.expectDialogs(mk(tt.then))
		})
	}
}

func testDialogEmptyBatch(t *testing.T, h *harness) {
	for _, b := range []*dialog.Batch{nil, {}, {Put: []*dialog.Record{}, Delete: []string{}}} {
		if err := h.s.WriteDialogs(t.Context(), b); err != nil {
			t.Errorf("write %#v: got error %v, want none", b, err)
		}
	}
	if ds, err := h.s.LoadDialogs(t.Context()); err != nil || ds != nil {
		t.Errorf("load: got %#v, %v, want nil, nil", ds, err)
	}
}

func testDialogRestart(t *testing.T, h *harness) {
	ds := []*dialog.Record{dlg("d1", 1), dlg("d2", 2), dlg("d3", 3)}
	h.writeDialogs(&dialog.Batch{Put: ds})
	h.restart()
	h.expectDialogs(ds...)
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{dlg("d2", 9), dlg("d4", 4)}, Delete: []string{"d1"}})
	h.restart()
	h.expectDialogs(dlg("d2", 9), ds[2], dlg("d4", 4))
}

// testDialogFailedBatch writes batches that fail after a delete and puts
// within them: the stored dialogs stay what they were.
func testDialogFailedBatch(t *testing.T, h *harness) {
	initial := []*dialog.Record{dlg("d1", 1), dlg("d2", 2)}
	h.writeDialogs(&dialog.Batch{Put: initial})
	good := func() *dialog.Batch {
		b := &dialog.Batch{Delete: []string{"d1"}}
		for i := range 30 {
			b.Put = append(b.Put, dlg(fmt.Sprintf("new%02d", i), i))
		}
		return b
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tooLate := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		ctx     context.Context
		spoil   func(b *dialog.Batch)
		wantErr string
	}{
		{"nil dialog last", t.Context(), func(b *dialog.Batch) { b.Put = append(b.Put, nil) }, "put dialog 30: nil row"},
		{"dialog without id", t.Context(), func(b *dialog.Batch) { b.Put[10].ID = "" }, "put dialog 10: empty id"},
		{"dialog without call id last", t.Context(), func(b *dialog.Batch) {
			b.Put = append(b.Put, &dialog.Record{Dialog: dialog.Dialog{ID: "x"}})
		}, "put dialog 30: empty call id"},
		{"expires out of range", t.Context(), func(b *dialog.Batch) { b.Put[29].Expires = tooLate }, "put dialog 29: expires 2300"},
		{"cancelled context", cancelled, func(*dialog.Batch) {}, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h.with(t)
			b := good()
			tt.spoil(b)
			err := h.s.WriteDialogs(tt.ctx, b)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(err.Error(), "write dialog batch: ") {
				t.Errorf("got error %q, want it to start with the operation", err)
			}
			h.expectDialogs(initial...)
		})
	}
	h.writeDialogs(good())
	if got := len(h.loadDialogs()); got != 31 {
		t.Errorf("after the good batch: got %d dialogs, want 31", got)
	}
}

func testDialogNoAliasing(t *testing.T, h *harness) {
	d := dlg("d", 1)
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{d}})
	d.CallerRoute[0] = "<sip:changed;lr>"
	d.Callee.Target = "sip:changed"
	d.Expires = d.Expires.Add(time.Hour)
	h.expectDialogs(dlg("d", 1))
	ds := h.loadDialogs()
	ds[0].CalleeRoute[0] = "<sip:changed;lr>"
	ds[0].CallerRoute = append(ds[0].CallerRoute, "<sip:appended;lr>")
	h.expectDialogs(dlg("d", 1))
}

// testDialogApart writes a binding and a dialog with the same id: neither
// domain sees or changes the other's.
func testDialogApart(t *testing.T, h *harness) {
	b := &usrloc.Binding{ID: "x", AOR: "sip:x@example.com", Contact: "sip:x@192.0.2.1"}
	h.writeBindings(&usrloc.Batch{Put: []*usrloc.Binding{b}})
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{dlg("x", 1)}})
	h.expectBindings(b)
	h.writeDialogs(&dialog.Batch{Delete: []string{"x"}})
	h.expectBindings(b)
	h.expectDialogs()
	h.writeDialogs(&dialog.Batch{Put: []*dialog.Record{dlg("x", 2)}})
	h.writeBindings(&usrloc.Batch{Delete: []string{"x"}})
	h.expectDialogs(dlg("x", 2))
}
