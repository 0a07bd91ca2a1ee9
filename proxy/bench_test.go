package proxy_test

import (
	"context"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/proxy"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/store/memory"
	"github.com/presenced/presenced/usrloc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// rig is a proxy on 127.0.0.1 with its location service and dialog
// tracker (memory store), and a callee phone registered as
// sip:bob@127.0.0.1.
type rig struct {
	stack   *sipnet.Stack
	dialogs *dialog.Service
	bob     *siptest.Phone
	alice   *siptest.Phone
}

func newRig(tb testing.TB, bob siptest.Behavior) *rig {
	tb.Helper()
	cfg := sipnet.Default()
	cfg.Listen = []string{"udp:127.0.0.1:0"}
	cfg.T1 = 100
	stack, err := sipnet.New(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	st := memory.New()
	ul, err := usrloc.New(usrloc.Default(), usrloc.Deps{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	dl, err := dialog.New(dialog.Default(), dialog.Deps{Store: st})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := proxy.New(proxy.Default(), proxy.Deps{SIP: stack, Locations: ul, Dialogs: dl})
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if err := stack.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, start := range []func(context.Context) error{p.Start, ul.Start, dl.Start} {
		if err := start(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, stop := range []func(context.Context) error{dl.Stop, ul.Stop, p.Stop, stack.Stop} {
			if err := stop(ctx); err != nil {
				tb.Errorf("stop: %v", err)
			}
		}
	})
	r := &rig{stack: stack, dialogs: dl, bob: siptest.NewPhone(tb, "bob"), alice: siptest.NewPhone(tb, "alice")}
	r.bob.Answer(bob)
	contact := r.bob.Contact("udp")
	src := r.bob.Addr("udp")
	_, err = ul.Update(ctx, "sip:bob@127.0.0.1", nil, func(now time.Time, _ []usrloc.Binding) ([]usrloc.Change, error) {
		return []usrloc.Change{{Binding: usrloc.Binding{Contact: contact.String(), Q: -1, Expires: now.Add(time.Hour),
			Received: src.String(), Transport: "udp"}}}, nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// call runs one call: INVITE, 180, 200, ACK, BYE, 200.
func (r *rig) call(tb testing.TB) {
	a, _ := r.stack.Addr("udp")
	o, err := r.alice.Invite(a, "sip:bob@127.0.0.1", "")
	if err != nil {
		tb.Fatal(err)
	}
	res, c, err := o.Final(5 * time.Second)
	if err != nil || res.StatusCode != 200 {
		tb.Fatalf("INVITE: got %v %v, want 200", res, err)
	}
	res, err = c.Bye(context.Background())
	if err != nil || res.StatusCode != 200 {
		tb.Fatalf("BYE: got %v %v, want 200", res, err)
	}
}

// TestInProcessCall: a call through a proxy built from its parts; the
// dialog ends; Stop leaves no goroutine behind (TestMain).
func TestInProcessCall(t *testing.T) {
	r := newRig(t, siptest.Behavior{Ring: true, Code: 200, Delay: 50 * time.Millisecond})
	events := make(chan dialog.Event, 16)
	r.dialogs.Subscribe(func(e dialog.Event) { events <- e })
	r.call(t)
	r.bob.WaitRequest(5*time.Second, sip.BYE, 1)
	var states []dialog.State
	for len(states) < 4 {
		select {
		case e := <-events:
			states = append(states, e.Dialog.State)
		case <-time.After(5 * time.Second):
			t.Fatalf("events: got %v, want 4", states)
		}
	}
	want := []dialog.State{dialog.Trying, dialog.Early, dialog.Confirmed, dialog.Terminated}
	for i := range want {
		if states[i] != want[i] {
			t.Fatalf("events: got %v, want %v", states, want)
		}
	}
}

// BenchmarkProxyCall: whole calls (INVITE, 180, 200, ACK, BYE, 200)
// through the proxy over loopback, one at a time: the caller and the
// callee are in-Go phones in the same process, so each call costs the
// proxy's two transactions, the stateless ACK, the dialog's events and
// its persistence (memory store), and both phones' work.
func BenchmarkProxyCall(b *testing.B) {
	r := newRig(b, siptest.Behavior{Ring: true, Code: 200})
	b.ReportAllocs()
	for b.Loop() {
		r.call(b)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
}
