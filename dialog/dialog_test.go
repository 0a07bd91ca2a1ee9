package dialog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/store/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tracker is a started Service with its events and hangups on channels.
type tracker struct {
	*dialog.Service
	events  chan dialog.Event
	hangups chan dialog.Record
}

func start(t *testing.T, cfg dialog.Config, st dialog.Store) *tracker {
	t.Helper()
	s, err := dialog.New(cfg, dialog.Deps{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	tr := &tracker{Service: s, events: make(chan dialog.Event, 100), hangups: make(chan dialog.Record, 10)}
	s.Subscribe(func(e dialog.Event) { tr.events <- e })
	s.OnHangup(func(r dialog.Record) { tr.hangups <- r })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.stop(t) })
	return tr
}

func (tr *tracker) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tr.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

// step is what an event says, in short.
type step struct {
	ID     string
	Kind   dialog.EventKind
	State  dialog.State
	Prev   dialog.State
	Reason string
	Code   int
}

func (tr *tracker) next(t *testing.T) step {
	t.Helper()
	select {
	case e := <-tr.events:
		return step{e.Dialog.ID, e.Kind, e.Dialog.State, e.Prev, e.Dialog.Reason, e.Dialog.Code}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return step{}
	}
}

func (tr *tracker) expect(t *testing.T, want ...step) {
	t.Helper()
	var got []step
	for range want {
		got = append(got, tr.next(t))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
}

// quiet fails if an event arrives before everything posted so far ran.
func (tr *tracker) quiet(t *testing.T) {
	t.Helper()
	if _, err := tr.List(context.Background()); err != nil { // a round trip through every shard
		t.Fatal(err)
	}
	select {
	case e := <-tr.events:
		t.Fatalf("got event %+v, want none", e)
	default:
	}
}

func call(n int) dialog.CallInfo {
	return dialog.CallInfo{
		CallID: fmt.Sprintf("call-%d@test", n), CallerTag: "ft", CallerCSeq: 10,
		Caller:     dialog.Party{URI: "sip:alice@example.com", Display: "Alice", Target: "sip:alice@192.0.2.1:5060"},
		CallerDest: "udp:203.0.113.1:40000",
	}
}

var bob = dialog.Party{URI: "sip:bob@example.com", Target: "sip:bob@192.0.2.2:5062"}

func confirm(b *dialog.Branch, tag string) {
	done := make(chan struct{})
	b.Confirm(dialog.Answer{ToTag: tag, Target: "sip:bob@192.0.2.2:5062"}, func() { close(done) })
	<-done
}

func TestLifecycle(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fromTag  string
		toTag    string
		wantWhy  string
		progress []int
		want     []dialog.State
	}{
		{"caller hangs up", "ft", "tt", dialog.ReasonLocalBye, []int{100, 180, 183, 180}, []dialog.State{dialog.Early}},
		{"callee hangs up", "tt", "ft", dialog.ReasonRemoteBye, []int{101, 180}, []dialog.State{dialog.Proceeding, dialog.Early}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := start(t, dialog.Default(), memory.New())
			c := tr.NewCall(call(1))
			b := c.Branch(bob, "")
			for _, code := range tc.progress {
				b.Progress(code, "tt")
			}
			confirm(b, "tt")
			tr.InDialog(dialog.Request{Method: "BYE", CallID: "call-1@test", FromTag: tc.fromTag, ToTag: tc.toTag, CSeq: 11})
			id := "call-1@test.0"
			want := []step{{ID: id, Kind: dialog.StateChanged, State: dialog.Trying}}
			prev := dialog.Trying
			for _, st := range tc.want {
				want = append(want, step{ID: id, Kind: dialog.StateChanged, State: st, Prev: prev})
				prev = st
			}
			want = append(want,
				step{ID: id, Kind: dialog.StateChanged, State: dialog.Confirmed, Prev: prev},
				step{ID: id, Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Confirmed, Reason: tc.wantWhy})
			tr.expect(t, want...)
			tr.quiet(t)
			if l, _ := tr.List(context.Background()); len(l) != 0 {
				t.Errorf("dlg_list after BYE: got %+v, want none", l)
			}
		})
	}
}

func TestForkedBranches(t *testing.T) {
	tr := start(t, dialog.Default(), memory.New())
	c := tr.NewCall(call(2))
	b0 := c.Branch(bob, "")
	b1 := c.Branch(dialog.Party{URI: "sip:bob@example.com", Target: "sip:bob@192.0.2.3"}, "udp:203.0.113.3:5060")
	b0.Progress(180, "t0")
	b1.Progress(180, "t1")
	confirm(b1, "t1")
	b0.End(dialog.ReasonReplaced, 487)
	tr.expect(t,
		step{ID: "call-2@test.0", Kind: dialog.StateChanged, State: dialog.Trying},
		step{ID: "call-2@test.1", Kind: dialog.StateChanged, State: dialog.Trying},
		step{ID: "call-2@test.0", Kind: dialog.StateChanged, State: dialog.Early, Prev: dialog.Trying},
		step{ID: "call-2@test.1", Kind: dialog.StateChanged, State: dialog.Early, Prev: dialog.Trying},
		step{ID: "call-2@test.1", Kind: dialog.StateChanged, State: dialog.Confirmed, Prev: dialog.Early},
		step{ID: "call-2@test.0", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Early, Reason: dialog.ReasonReplaced, Code: 487},
	)
	l, err := tr.List(context.Background())
	if err != nil || len(l) != 1 || l[0].ID != "call-2@test.1" || l[0].State != dialog.Confirmed || l[0].CalleeTag != "t1" {
		t.Fatalf("dlg_list: got %+v, %v, want call-2@test.1 confirmed", l, err)
	}
	// The BYE of the answered branch finds it by its tags.
	if hop, ok := tr.Peer("call-2@test", "ft", "t1"); !ok || hop.Dest != "udp:203.0.113.3:5060" {
		t.Errorf("peer toward the callee: got %+v %v, want its NAT address", hop, ok)
	}
	if hop, ok := tr.Peer("call-2@test", "t1", "ft"); !ok || hop.Target != "sip:alice@192.0.2.1:5060" || hop.Dest != "udp:203.0.113.1:40000" {
		t.Errorf("peer toward the caller: got %+v %v, want its contact and source", hop, ok)
	}
	tr.InDialog(dialog.Request{Method: "BYE", CallID: "call-2@test", FromTag: "t1", ToTag: "ft"})
	tr.expect(t, step{ID: "call-2@test.1", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Confirmed, Reason: dialog.ReasonRemoteBye})
	if _, ok := tr.Peer("call-2@test", "ft", "t1"); ok {
		t.Errorf("peer after BYE: got one, want none")
	}
}

// TestNothingAfterTerminated: an early, a 2xx or a re-INVITE coming after
// a branch ended change nothing (no "early after terminated").
func TestNothingAfterTerminated(t *testing.T) {
	st := memory.New()
	tr := start(t, dialog.Default(), st)
	c := tr.NewCall(call(3))
	b := c.Branch(bob, "")
	b.End(dialog.ReasonCancelled, 487)
	b.Progress(180, "tt")
	confirm(b, "tt") // done runs though: the proxy relays the 2xx anyway
	b.End(dialog.ReasonRejected, 486)
	tr.Refreshed("call-3@test", "ft", "tt")
	tr.expect(t,
		step{ID: "call-3@test.0", Kind: dialog.StateChanged, State: dialog.Trying},
		step{ID: "call-3@test.0", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Trying, Reason: dialog.ReasonCancelled, Code: 487},
	)
	tr.quiet(t)
	if ds, _ := st.LoadDialogs(context.Background()); len(ds) != 0 {
		t.Errorf("store: got %d dialogs, want none", len(ds))
	}
}

// TestRetryNumbering: an INVITE retried with the same Call-ID and From
// tag (after a 407) gets new branch ids.
func TestRetryNumbering(t *testing.T) {
	tr := start(t, dialog.Default(), nil)
	tr.NewCall(call(4)).Branch(bob, "").End(dialog.ReasonRejected, 407)
	tr.NewCall(call(4)).Branch(bob, "")
	tr.expect(t,
		step{ID: "call-4@test.0", Kind: dialog.StateChanged, State: dialog.Trying},
		step{ID: "call-4@test.0", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Trying, Reason: dialog.ReasonRejected, Code: 407},
		step{ID: "call-4@test.1", Kind: dialog.StateChanged, State: dialog.Trying},
	)
}

func TestRefreshed(t *testing.T) {
	st := memory.New()
	tr := start(t, dialog.Default(), st)
	b := tr.NewCall(call(5)).Branch(bob, "")
	confirm(b, "tt")
	tr.InDialog(dialog.Request{Method: "INVITE", CallID: "call-5@test", FromTag: "tt", ToTag: "ft", CSeq: 7, Contact: "sip:bob@192.0.2.9"})
	tr.Refreshed("call-5@test", "tt", "ft")
	tr.InDialog(dialog.Request{Method: "PRACK", CallID: "call-5@test", FromTag: "ft", ToTag: "tt", CSeq: 12})
	tr.expect(t,
		step{ID: "call-5@test.0", Kind: dialog.StateChanged, State: dialog.Trying},
		step{ID: "call-5@test.0", Kind: dialog.StateChanged, State: dialog.Confirmed, Prev: dialog.Trying},
		step{ID: "call-5@test.0", Kind: dialog.Refreshed, State: dialog.Confirmed, Prev: dialog.Confirmed},
	)
	tr.quiet(t)
	tr.stop(t)
	ds, _ := st.LoadDialogs(context.Background())
	if len(ds) != 1 || ds[0].CalleeCSeq != 7 || ds[0].CallerCSeq != 12 || ds[0].Callee.Target != "sip:bob@192.0.2.9" {
		t.Fatalf("store: got %+v, want the CSeqs and the refreshed target", ds)
	}
}

// TestRestart: a dialog confirmed before a restart is ended by a BYE
// after it; one whose lifetime passed meanwhile is ended at Start.
func TestRestart(t *testing.T) {
	st := memory.New()
	tr := start(t, dialog.Default(), st)
	confirm(tr.NewCall(call(6)).Branch(bob, ""), "tt6")
	confirm(tr.NewCall(call(7)).Branch(bob, ""), "tt7")
	tr.stop(t)
	ds, _ := st.LoadDialogs(context.Background())
	if len(ds) != 2 {
		t.Fatalf("store: got %d dialogs, want 2", len(ds))
	}
	// The second one's lifetime ran out while the tracker was down.
	for _, d := range ds {
		if d.CallID == "call-7@test" {
			d.Expires = time.Now().Add(-time.Second)
			if err := st.WriteDialogs(context.Background(), &dialog.Batch{Put: []*dialog.Record{d}}); err != nil {
				t.Fatal(err)
			}
		}
	}

	tr2 := start(t, dialog.Default(), st)
	tr2.expect(t, step{ID: "call-7@test.0", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Confirmed, Reason: dialog.ReasonTimeout})
	select {
	case r := <-tr2.hangups:
		if r.CallID != "call-7@test" || r.CalleeTag != "tt7" || r.CallerDest != "udp:203.0.113.1:40000" {
			t.Errorf("hangup: got %+v, want call-7 with its routing", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no hangup for the lapsed dialog")
	}
	l, _ := tr2.List(context.Background())
	if len(l) != 1 || l[0].ID != "call-6@test.0" || l[0].State != dialog.Confirmed {
		t.Fatalf("dlg_list after restart: got %+v, want call-6 confirmed", l)
	}
	tr2.InDialog(dialog.Request{Method: "BYE", CallID: "call-6@test", FromTag: "ft", ToTag: "tt6"})
	tr2.expect(t, step{ID: "call-6@test.0", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Confirmed, Reason: dialog.ReasonLocalBye})
	tr2.stop(t)
	if ds, _ := st.LoadDialogs(context.Background()); len(ds) != 0 {
		t.Errorf("store after both ended: got %d dialogs, want none", len(ds))
	}
}

func TestMaxLifetime(t *testing.T) {
	cfg := dialog.Default()
	cfg.MaxLifetime = 1
	tr := start(t, cfg, nil)
	began := time.Now()
	confirm(tr.NewCall(call(8)).Branch(bob, ""), "tt")
	tr.expect(t,
		step{ID: "call-8@test.0", Kind: dialog.StateChanged, State: dialog.Trying},
		step{ID: "call-8@test.0", Kind: dialog.StateChanged, State: dialog.Confirmed, Prev: dialog.Trying},
		step{ID: "call-8@test.0", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Confirmed, Reason: dialog.ReasonTimeout},
	)
	if d := time.Since(began); d < time.Second {
		t.Errorf("ended after %v, want at least the lifetime of 1s", d)
	}
	select {
	case r := <-tr.hangups:
		if r.ID != "call-8@test.0" || r.Caller.Target != "sip:alice@192.0.2.1:5060" || r.Callee.Target != "sip:bob@192.0.2.2:5062" {
			t.Errorf("hangup: got %+v, want both targets", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no hangup")
	}
}

func TestEnd(t *testing.T) {
	tr := start(t, dialog.Default(), nil)
	confirm(tr.NewCall(call(9)).Branch(bob, ""), "tt")
	tr.NewCall(call(10)).Branch(bob, "") // early: not ended by End
	tr.expect(t,
		step{ID: "call-9@test.0", Kind: dialog.StateChanged, State: dialog.Trying},
		step{ID: "call-9@test.0", Kind: dialog.StateChanged, State: dialog.Confirmed, Prev: dialog.Trying},
		step{ID: "call-10@test.0", Kind: dialog.StateChanged, State: dialog.Trying},
	)
	if n, err := tr.End(context.Background(), "call-10@test"); n != 0 || err != nil {
		t.Errorf("end of an unanswered call: got %d %v, want 0", n, err)
	}
	if n, err := tr.End(context.Background(), "call-9@test"); n != 1 || err != nil {
		t.Fatalf("end: got %d %v, want 1", n, err)
	}
	tr.expect(t, step{ID: "call-9@test.0", Kind: dialog.StateChanged, State: dialog.Terminated, Prev: dialog.Confirmed, Reason: dialog.ReasonAdmin})
	if r := <-tr.hangups; r.ID != "call-9@test.0" {
		t.Errorf("hangup: got %s, want call-9@test.0", r.ID)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  dialog.Config
		want int
	}{
		{"default", dialog.Default(), 0},
		{"zero lifetime", dialog.Config{MaxLifetime: 0}, 1},
		{"too many shards", dialog.Config{MaxLifetime: 10, Shards: 5000}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(tc.cfg.Validate()); got != tc.want {
				t.Errorf("got %d problems, want %d", got, tc.want)
			}
		})
	}
}
