package test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
)

// The proxy tests call between in-Go phones (internal/siptest.Phone)
// registered at an in-process daemon, and follow the calls in the
// dialog tracker the daemon exposes.

// proxyConfig is baseConfig with a short Timer C for the tests that wait
// for it.
const proxyConfig = baseConfig + `
proxy:
  timer_c: 2
`

// ringTime is how long the test phones ring before they answer: a 180
// and a final response sent back to back may be taken in either order by
// the daemon's UDP workers (a 180 after the 200 is then dropped, as RFC
// 3261 wants), and the tests check that the caller sees the ringing.
const ringTime = 100 * time.Millisecond

// dstep is a dialog event in short: the branch, the kind, the states and
// why it ended.
type dstep struct {
	Branch int
	Kind   dialog.EventKind
	State  dialog.State
	Prev   dialog.State
	Reason string
	Code   int
}

func (s dstep) String() string {
	k := ""
	if s.Kind == dialog.Refreshed {
		k = " refreshed"
	}
	return fmt.Sprintf("%d:%s->%s%s %s %d", s.Branch, s.Prev, s.State, k, s.Reason, s.Code)
}

// dialogLog records the tracker's events of an in-process daemon.
type dialogLog struct {
	mu     sync.Mutex
	events []dialog.Event
}

func watchDialogs(t *testing.T, d *daemon) *dialogLog {
	t.Helper()
	tr := d.srv.Dialogs()
	if tr == nil {
		t.Fatal("the daemon tracks no dialogs")
	}
	l := &dialogLog{}
	tr.Subscribe(func(e dialog.Event) {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	})
	return l
}

// of returns the events of a call, in order.
func (l *dialogLog) of(callID string) []dstep {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []dstep
	for _, e := range l.events {
		if e.Dialog.CallID == callID {
			out = append(out, dstep{e.Dialog.Branch, e.Kind, e.Dialog.State, e.Prev, e.Dialog.Reason, e.Dialog.Code})
		}
	}
	return out
}

// wait waits until the call has n events and returns them.
func (l *dialogLog) wait(t *testing.T, callID string, n int) []dstep {
	t.Helper()
	var got []dstep
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = l.of(callID)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s: got events %v, want %d", callID, got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// expect waits for the call's events and compares them with want.
func (l *dialogLog) expect(t *testing.T, callID string, want ...dstep) {
	t.Helper()
	got := l.wait(t, callID, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("call %s events:\n got %v\nwant %v", callID, got, want)
	}
}

// branchSteps picks the events of one branch.
func branchSteps(steps []dstep, branch int) []dstep {
	var out []dstep
	for _, s := range steps {
		if s.Branch == branch {
			out = append(out, s)
		}
	}
	return out
}

func trying(b int) dstep { return dstep{Branch: b, Kind: dialog.StateChanged, State: dialog.Trying} }
func early(b int) dstep {
	return dstep{Branch: b, Kind: dialog.StateChanged, State: dialog.Early, Prev: dialog.Trying}
}
func confirmed(b int, prev dialog.State) dstep {
	return dstep{Branch: b, Kind: dialog.StateChanged, State: dialog.Confirmed, Prev: prev}
}
func ended(b int, prev dialog.State, reason string, code int) dstep {
	return dstep{Branch: b, Kind: dialog.StateChanged, State: dialog.Terminated, Prev: prev, Reason: reason, Code: code}
}

// dlgList returns the ids and states dlg_list shows.
func dlgList(t *testing.T, d *daemon) []string {
	t.Helper()
	var list []struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	if err := d.mi("dlg_list", nil, &list); err != nil {
		t.Fatalf("dlg_list: %v", err)
	}
	var out []string
	for _, e := range list {
		out = append(out, e.ID+" "+e.State)
	}
	return out
}

func waitNoDialogs(t *testing.T, d *daemon) {
	t.Helper()
	waitFor(t, 5*time.Second, "dlg_list to be empty", func() bool { return len(dlgList(t, d)) == 0 })
}

// phoneAt starts a phone and registers it as aor at the daemon.
func phoneAt(t *testing.T, d *daemon, name, aor string, b siptest.Behavior, transport ...string) *siptest.Phone {
	t.Helper()
	p := siptest.NewPhone(t, name, transport...)
	p.Answer(b)
	tr := "udp"
	if len(transport) > 0 {
		tr = transport[0]
	}
	res, err := p.Register(ctxT(t), addrOf(d, tr), aor, tr)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER %s: got %v %v, want 200", aor, res, err)
	}
	return p
}

func addrOf(d *daemon, tr string) netip.AddrPort {
	if tr == "tcp" {
		return d.TCP
	}
	return d.UDP
}

// call makes alice call uri through the daemon and waits for the final
// response.
func call(t *testing.T, d *daemon, alice *siptest.Phone, uri string) (*siptest.Outgoing, *sip.Response, *siptest.Call) {
	t.Helper()
	o, err := alice.Invite(d.UDP, uri, "")
	if err != nil {
		t.Fatalf("INVITE: %v", err)
	}
	res, c, err := o.Final(10 * time.Second)
	if err != nil {
		t.Fatalf("INVITE %s: %v", uri, err)
	}
	return o, res, c
}

// TestProxyCall: a call answered, then hung up by the caller or by the
// callee; the INVITE reaches the callee with our Record-Route, the ACK and
// the BYE follow the route set through us (loose routing), and the
// tracker reports trying, early, confirmed, terminated with the side that
// hung up.
func TestProxyCall(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)
	us := d.UDP.String()
	for _, tc := range []struct {
		name   string
		callee bool // the callee hangs up
		reason string
	}{
		{"caller hangs up", false, dialog.ReasonLocalBye},
		{"callee hangs up", true, dialog.ReasonRemoteBye},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aor := "sip:bob-" + strings.ReplaceAll(tc.name, " ", "-") + "@127.0.0.1"
			bob := phoneAt(t, d, "bob", aor, siptest.Behavior{Ring: true, Code: 200, Delay: ringTime})
			alice := siptest.NewPhone(t, "alice")
			o, res, ac := call(t, d, alice, aor)
			if res.StatusCode != 200 {
				t.Fatalf("INVITE: got %d, want 200", res.StatusCode)
			}
			if _, err := o.Ringing(time.Second); err != nil {
				t.Errorf("180 before the 200: %v", err)
			}
			inv := bob.WaitRequest(5*time.Second, sip.INVITE, 1)
			if rr := siptest.Header(inv, "Record-Route"); !strings.Contains(rr, us) || !strings.Contains(rr, ";lr") {
				t.Errorf("INVITE at the callee: Record-Route %q, want ours (%s;lr)", rr, us)
			}
			if got := inv.Recipient.String(); !strings.Contains(got, bob.Addr("udp").String()) {
				t.Errorf("INVITE at the callee: Request-URI %s, want its contact", got)
			}
			if len(ac.RouteSet) != 1 || !strings.Contains(ac.RouteSet[0], us) {
				t.Fatalf("caller's route set: got %v, want our Record-Route", ac.RouteSet)
			}
			ack := bob.WaitRequest(5*time.Second, sip.ACK, 1)
			if n := len(ack.GetHeaders("Via")); n != 2 {
				t.Errorf("ACK at the callee: %d Vias, want 2 (the caller's and ours)", n)
			}
			waitFor(t, 5*time.Second, "the dialog confirmed in dlg_list", func() bool {
				l := dlgList(t, d)
				return len(l) == 1 && l[0] == o.CallID()+".0 confirmed"
			})

			var byeAt *siptest.Phone
			if tc.callee {
				bc := bob.WaitCall(5*time.Second, 1)
				if res, err := bc.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
					t.Fatalf("callee's BYE: got %v %v, want 200", res, err)
				}
				byeAt = alice
			} else {
				if res, err := ac.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
					t.Fatalf("caller's BYE: got %v %v, want 200", res, err)
				}
				byeAt = bob
			}
			bye := byeAt.WaitRequest(5*time.Second, sip.BYE, 1)
			if r := siptest.Header(bye, "Route"); r != "" {
				t.Errorf("BYE at the far end: Route %q, want ours removed", r)
			}
			if n := len(bye.GetHeaders("Via")); n != 2 {
				t.Errorf("BYE at the far end: %d Vias, want 2 (it came through us)", n)
			}
			dl.expect(t, o.CallID(), trying(0), early(0), confirmed(0, dialog.Early), ended(0, dialog.Confirmed, tc.reason, 0))
			waitNoDialogs(t, d)
		})
	}
}

// TestProxyCancel: the caller CANCELs while the callee rings; the callee
// gets the CANCEL, the caller a 487, the branch ends cancelled.
func TestProxyCancel(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)
	aor := "sip:ringer@127.0.0.1"
	phoneAt(t, d, "ringer", aor, siptest.Behavior{Ring: true})
	alice := siptest.NewPhone(t, "alice")
	o, err := alice.Invite(d.UDP, aor, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Ringing(5 * time.Second); err != nil {
		t.Fatalf("ringing: %v", err)
	}
	o.Cancel()
	res, _, err := o.Final(10 * time.Second)
	if err != nil || res.StatusCode != 487 {
		t.Fatalf("after CANCEL: got %v %v, want 487", res, err)
	}
	dl.expect(t, o.CallID(), trying(0), early(0), ended(0, dialog.Early, dialog.ReasonCancelled, 487))
	waitNoDialogs(t, d)
}

// TestProxyBusy: the callee answers 486; the caller gets it; the branch
// ends rejected with the code.
func TestProxyBusy(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)
	aor := "sip:busy@127.0.0.1"
	phoneAt(t, d, "busy", aor, siptest.Behavior{Ring: true, Code: 486, Delay: ringTime})
	alice := siptest.NewPhone(t, "alice")
	o, res, _ := call(t, d, alice, aor)
	if res.StatusCode != 486 {
		t.Fatalf("got %d, want 486", res.StatusCode)
	}
	dl.expect(t, o.CallID(), trying(0), early(0), ended(0, dialog.Early, dialog.ReasonRejected, 486))
	waitNoDialogs(t, d)
}

// TestProxyFork: two phones registered for one AOR both ring; one
// answers; the other gets a CANCEL and its branch ends replaced; each
// branch has its own dialog id.
func TestProxyFork(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)
	aor := "sip:desk@127.0.0.1"
	ringer := phoneAt(t, d, "desk1", aor, siptest.Behavior{Ring: true})
	answerer := phoneAt(t, d, "desk2", aor, siptest.Behavior{Ring: true, Code: 200, Delay: 300 * time.Millisecond})
	alice := siptest.NewPhone(t, "alice")
	o, res, ac := call(t, d, alice, aor)
	if res.StatusCode != 200 {
		t.Fatalf("got %d, want 200", res.StatusCode)
	}
	ringer.WaitRequest(5*time.Second, sip.INVITE, 1)
	answerer.WaitRequest(5*time.Second, sip.ACK, 1)
	// The ringing phone's INVITE ends with the 487 it answered the CANCEL
	// with (Requests() of the ringer only shows what it recorded; the
	// CANCEL is answered by its stack).
	steps := dl.wait(t, o.CallID(), 6)
	var won, lost int = -1, -1
	for _, s := range steps {
		if s.State == dialog.Confirmed {
			won = s.Branch
		}
		if s.State == dialog.Terminated {
			lost = s.Branch
		}
	}
	if won < 0 || lost < 0 || won == lost {
		t.Fatalf("events %v: want one branch confirmed and the other terminated", steps)
	}
	if got, want := branchSteps(steps, won), []dstep{trying(won), early(won), confirmed(won, dialog.Early)}; !slices.Equal(got, want) {
		t.Errorf("answered branch: got %v, want %v", got, want)
	}
	if got, want := branchSteps(steps, lost), []dstep{trying(lost), early(lost), ended(lost, dialog.Early, dialog.ReasonReplaced, 487)}; !slices.Equal(got, want) {
		t.Errorf("cancelled branch: got %v, want %v", got, want)
	}
	if l := dlgList(t, d); len(l) != 1 || l[0] != fmt.Sprintf("%s.%d confirmed", o.CallID(), won) {
		t.Errorf("dlg_list: got %v, want only the answered branch", l)
	}
	if res, err := ac.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: got %v %v", res, err)
	}
	waitNoDialogs(t, d)
}

// TestProxyForkDecline: of two phones, one rings and the other declines
// with 603: the 6xx CANCELs the ringing branch (16.7 step 5) and goes to
// the caller; the ringing branch ends cancelled, the other rejected.
func TestProxyForkDecline(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)
	aor := "sip:decline@127.0.0.1"
	phoneAt(t, d, "ringing", aor, siptest.Behavior{Ring: true})
	phoneAt(t, d, "declining", aor, siptest.Behavior{Ring: true, Code: 603, Delay: 200 * time.Millisecond})
	alice := siptest.NewPhone(t, "alice")
	o, res, _ := call(t, d, alice, aor)
	if res.StatusCode != 603 {
		t.Fatalf("got %d, want 603", res.StatusCode)
	}
	steps := dl.wait(t, o.CallID(), 6)
	var reasons []string
	for _, s := range steps {
		if s.State == dialog.Terminated {
			reasons = append(reasons, fmt.Sprintf("%s %d", s.Reason, s.Code))
		}
	}
	slices.Sort(reasons)
	if want := []string{"cancelled 487", "rejected 603"}; !slices.Equal(reasons, want) {
		t.Errorf("branch endings: got %v, want %v (events %v)", reasons, want, steps)
	}
	waitNoDialogs(t, d)
}

// TestProxyRefusals: 404 for an unknown user, 480 for a known one without
// a usable contact, 483 for Max-Forwards 0, 482 for a request that loops
// back to us (a contact registered at our own address), 403 for a
// foreign domain; none of them is tracked.
func TestProxyRefusals(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, baseConfig+`
domains: ["127.0.0.1"]
`)
	dl := watchDialogs(t, d)
	ua := siptest.New(t, siptest.Options{Name: "reg"})
	// A user whose only contact we cannot reach (TLS).
	if res := register(t, ua, d, "sip:secure@127.0.0.1", "r1", 1, []string{"<sips:secure@127.0.0.1:5999>"}); res.StatusCode != 200 {
		t.Fatalf("REGISTER sips: got %d", res.StatusCode)
	}
	// A user registered at our own address: the INVITE comes back.
	if res := register(t, ua, d, "sip:loop@127.0.0.1", "r2", 1, []string{"<sip:loop@" + d.UDP.String() + ">"}); res.StatusCode != 200 {
		t.Fatalf("REGISTER loop: got %d", res.StatusCode)
	}
	alice := siptest.NewPhone(t, "alice")
	for _, tc := range []struct {
		name  string
		uri   string
		extra []string
		want  int
	}{
		{"unknown user", "sip:nobody@127.0.0.1", nil, 404},
		{"no usable contact", "sip:secure@127.0.0.1", nil, 480},
		{"max-forwards 0", "sip:secure@127.0.0.1", []string{"Max-Forwards: 0"}, 483},
		{"loop", "sip:loop@127.0.0.1", nil, 482},
		{"foreign domain", "sip:bob@example.org", nil, 403},
		{"unsupported proxy-require", "sip:secure@127.0.0.1", []string{"Proxy-Require: foo"}, 420},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := alice.Invite(d.UDP, tc.uri, "", tc.extra...)
			if err != nil {
				t.Fatal(err)
			}
			res, _, err := o.Final(10 * time.Second)
			if err != nil || res.StatusCode != tc.want {
				t.Fatalf("got %v %v, want %d", res, err, tc.want)
			}
			if tc.name != "loop" {
				if got := dl.of(o.CallID()); len(got) != 0 {
					t.Errorf("tracked: %v, want nothing", got)
				}
			}
		})
	}
	waitNoDialogs(t, d)
}

// TestProxyReinvite: a re-INVITE within the call goes through us (loose
// routing) and the tracker reports it as Refreshed; UPDATE, INFO and
// PRACK-less requests pass without an event.
func TestProxyReinvite(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)
	aor := "sip:reinv@127.0.0.1"
	bob := phoneAt(t, d, "bob", aor, siptest.Behavior{Code: 200})
	alice := siptest.NewPhone(t, "alice")
	o, _, ac := call(t, d, alice, aor)
	res, err := ac.Reinvite(5 * time.Second)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE: got %v %v, want 200", res, err)
	}
	if n := len(bob.Received(sip.INVITE)); n != 2 {
		t.Errorf("callee got %d INVITEs, want 2", n)
	}
	bob.WaitRequest(5*time.Second, sip.ACK, 2)
	if res, err := ac.Request(ctxT(t), sip.INFO); err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: got %v %v, want 200", res, err)
	}
	bc := bob.WaitCall(5*time.Second, 1)
	if res, err := bc.Request(ctxT(t), sip.UPDATE); err != nil || res.StatusCode != 200 {
		t.Fatalf("UPDATE from the callee: got %v %v, want 200", res, err)
	}
	if res, err := bc.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: got %v %v", res, err)
	}
	dl.expect(t, o.CallID(),
		trying(0), confirmed(0, dialog.Trying),
		dstep{Branch: 0, Kind: dialog.Refreshed, State: dialog.Confirmed, Prev: dialog.Confirmed},
		dstep{Branch: 0, Kind: dialog.Refreshed, State: dialog.Confirmed, Prev: dialog.Confirmed},
		ended(0, dialog.Confirmed, dialog.ReasonRemoteBye, 0))
}

// TestProxyTimerC: a phone that rings and never answers is CANCELled
// after Timer C; the caller gets 408 and the branch ends in timeout.
func TestProxyTimerC(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, baseConfig+`
proxy:
  timer_c: 1
`)
	dl := watchDialogs(t, d)
	aor := "sip:forever@127.0.0.1"
	phoneAt(t, d, "forever", aor, siptest.Behavior{Ring: true})
	alice := siptest.NewPhone(t, "alice")
	began := time.Now()
	o, res, _ := call(t, d, alice, aor)
	if res.StatusCode != 408 {
		t.Fatalf("got %d, want 408", res.StatusCode)
	}
	if took := time.Since(began); took < time.Second {
		t.Errorf("answered after %v, want Timer C (1s) first", took)
	}
	dl.expect(t, o.CallID(), trying(0), early(0), ended(0, dialog.Early, dialog.ReasonTimeout, 487))
}

// TestProxyTCPCallee: a callee registered over TCP is reached over TCP
// with a double Record-Route (one per transport), and the BYE from the
// UDP caller crosses over.
func TestProxyTCPCallee(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	aor := "sip:tcpbob@127.0.0.1"
	bob := phoneAt(t, d, "tcpbob", aor, siptest.Behavior{Code: 200}, "tcp")
	alice := siptest.NewPhone(t, "alice")
	_, res, ac := call(t, d, alice, aor)
	if res.StatusCode != 200 {
		t.Fatalf("got %d, want 200", res.StatusCode)
	}
	inv := bob.WaitRequest(5*time.Second, sip.INVITE, 1)
	rrs := inv.GetHeaders("Record-Route")
	if len(rrs) != 2 || !strings.Contains(rrs[0].Value(), "transport=tcp") || strings.Contains(rrs[1].Value(), "transport=tcp") {
		t.Fatalf("Record-Route at the TCP callee: got %v, want ours for TCP then ours for UDP", rrs)
	}
	if res, err := ac.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE: got %v %v, want 200", res, err)
	}
	bob.WaitRequest(5*time.Second, sip.BYE, 1)
	waitNoDialogs(t, d)
}

// TestProxyTCPCaller: a caller over TCP to a UDP callee: the caller's
// route set names us over TCP, the callee's over UDP; the callee's BYE
// reaches the caller over TCP.
func TestProxyTCPCaller(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	aor := "sip:udpbob@127.0.0.1"
	bob := phoneAt(t, d, "udpbob", aor, siptest.Behavior{Code: 200})
	alice := siptest.NewPhone(t, "tcpalice", "tcp")
	o, err := alice.Invite(d.TCP, aor, "tcp")
	if err != nil {
		t.Fatal(err)
	}
	res, ac, err := o.Final(10 * time.Second)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: got %v %v, want 200", res, err)
	}
	if len(ac.RouteSet) != 2 || !strings.Contains(ac.RouteSet[0], "transport=tcp") || strings.Contains(ac.RouteSet[1], "transport=tcp") {
		t.Fatalf("caller's route set: got %v, want ours for TCP then ours for UDP", ac.RouteSet)
	}
	bob.WaitRequest(5*time.Second, sip.ACK, 1)
	bc := bob.WaitCall(time.Second, 1)
	if len(bc.RouteSet) != 2 || strings.Contains(bc.RouteSet[0], "transport=tcp") {
		t.Fatalf("callee's route set: got %v, want ours for UDP then ours for TCP", bc.RouteSet)
	}
	if res, err := bc.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
		t.Fatalf("callee's BYE: got %v %v, want 200", res, err)
	}
	bye := alice.WaitRequest(5*time.Second, sip.BYE, 1)
	if v := bye.Via(); v == nil || !strings.EqualFold(v.Transport, "TCP") {
		t.Errorf("BYE at the caller: top Via %v, want TCP", v)
	}
	waitNoDialogs(t, d)
}

// TestProxyMessage: a MESSAGE to a registered user is proxied to its
// phone (through proxy.Wrap's rule), one to an unregistered user is 404.
func TestProxyMessage(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	bob := phoneAt(t, d, "bob", "sip:msg@127.0.0.1", siptest.Behavior{Code: 200})
	ua := siptest.New(t, siptest.Options{Name: "sender"})
	res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.MESSAGE, URI: "sip:msg@127.0.0.1", ContentType: "text/plain", Body: []byte("hi")})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("MESSAGE: got %v %v, want 200", res, err)
	}
	if m := bob.WaitRequest(5*time.Second, sip.MESSAGE, 1); string(m.Body()) != "hi" {
		t.Errorf("MESSAGE body at the phone: %q", m.Body())
	}
	res, _, err = ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.MESSAGE, URI: "sip:nobody@127.0.0.1", ContentType: "text/plain", Body: []byte("hi")})
	if err != nil || res.StatusCode != 404 {
		t.Fatalf("MESSAGE to nobody: got %v %v, want 404", res, err)
	}
	// OPTIONS to the server is still the server's.
	res, _, err = ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.OPTIONS, URI: "sip:" + d.UDP.String()})
	if err != nil || res.StatusCode != 200 || siptest.Header(res, "Allow") == "" {
		t.Fatalf("OPTIONS: got %v %v, want our 200 with Allow", res, err)
	}
}

// TestSIPpCall: SIPp, an independent SIP implementation, on either side
// of calls through the proxy: as the caller of an in-Go phone
// (caller.xml: INVITE, 180, 200, ACK and BYE along the route set), and as
// the callee of an in-Go phone that answers (callee-answer.xml), is busy
// (callee-busy.xml) or rings until the caller cancels (callee-ring.xml).
func TestSIPpCall(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)

	t.Run("sipp calls", func(t *testing.T) {
		aor := "sip:gobob@127.0.0.1"
		bob := phoneAt(t, d, "gobob", aor, siptest.Behavior{Ring: true, Code: 200, Delay: ringTime})
		run := testpeer.SIPp(t, testpeer.SIPpOptions{
			Scenario: "testdata/sipp/caller.xml", Target: d.UDP.String(), Calls: 3, Rate: 10,
			Vars: map[string]string{"callee": "gobob", "pause": "200"},
		})
		run.Start()
		out := runSIPp(t, run, 3)
		bob.WaitRequest(5*time.Second, sip.ACK, 3)
		bob.WaitRequest(5*time.Second, sip.BYE, 3)
		var callIDs []string
		for _, m := range out.Messages() {
			if id := m.Get("Call-ID"); m.Method == "INVITE" && !slices.Contains(callIDs, id) {
				callIDs = append(callIDs, id)
			}
		}
		if len(callIDs) != 3 {
			t.Fatalf("SIPp sent INVITEs of %d calls, want 3", len(callIDs))
		}
		for _, id := range callIDs {
			dl.expect(t, id, trying(0), early(0), confirmed(0, dialog.Early), ended(0, dialog.Confirmed, dialog.ReasonLocalBye, 0))
		}
		waitNoDialogs(t, d)
	})

	for _, tc := range []struct {
		name     string
		scenario string
		want     int
		last     dstep
	}{
		{"sipp answers", "callee-answer.xml", 200, ended(0, dialog.Confirmed, dialog.ReasonLocalBye, 0)},
		{"sipp is busy", "callee-busy.xml", 486, ended(0, dialog.Trying, dialog.ReasonRejected, 486)},
		{"sipp rings until cancelled", "callee-ring.xml", 487, ended(0, dialog.Early, dialog.ReasonCancelled, 487)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := testpeer.SIPp(t, testpeer.SIPpOptions{Scenario: "testdata/sipp/" + tc.scenario, Timeout: 20 * time.Second})
			run.Start()
			user := "sipp" + strings.TrimSuffix(strings.TrimPrefix(tc.scenario, "callee-"), ".xml")
			aor := "sip:" + user + "@127.0.0.1"
			ua := siptest.New(t, siptest.Options{Name: "reg"})
			if res := register(t, ua, d, aor, "reg-"+user, 1, []string{"<sip:sippcallee@" + run.LocalAddr() + ">"}); res.StatusCode != 200 {
				t.Fatalf("REGISTER: got %d", res.StatusCode)
			}
			alice := siptest.NewPhone(t, "alice")
			o, err := alice.Invite(d.UDP, aor, "")
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == 487 {
				if _, err := o.Ringing(10 * time.Second); err != nil {
					t.Fatalf("ringing: %v", err)
				}
				o.Cancel()
			}
			res, ac, err := o.Final(15 * time.Second)
			if err != nil || res.StatusCode != tc.want {
				t.Fatalf("INVITE: got %v %v, want %d", res, err, tc.want)
			}
			if ac != nil {
				// SIPp takes the BYE only once it has the ACK.
				waitFor(t, 5*time.Second, "SIPp to get the ACK", func() bool { return len(run.Received("ACK")) > 0 })
				if res, err := ac.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
					t.Fatalf("BYE: got %v %v, want 200", res, err)
				}
			}
			runSIPp(t, run, 1)
			// Wait for the branch to end (its last event), then compare.
			var steps []dstep
			waitFor(t, 10*time.Second, "the branch to end", func() bool {
				steps = dl.of(o.CallID())
				return len(steps) > 0 && steps[len(steps)-1].State == dialog.Terminated
			})
			if got := steps[len(steps)-1]; got != tc.last {
				t.Errorf("last event: got %v, want %v (all: %v)", got, tc.last, steps)
			}
			waitNoDialogs(t, d)
		})
	}
}
