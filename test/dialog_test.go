package test

import (
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
)

// The dialog tests follow calls through the proxy into the tracker: its
// maximum lifetime, dlg_end_dlg, bad input that must track nothing, and
// restarts after which a BYE still ends a call set up before.

// TestDialogMaxLifetime: a call outliving dialog.max_lifetime is ended:
// both phones get a BYE from the proxy, within the dialog (tags the
// right way round), and the branch ends in timeout.
func TestDialogMaxLifetime(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, baseConfig+`
dialog:
  max_lifetime: 1
`)
	dl := watchDialogs(t, d)
	aor := "sip:longcall@127.0.0.1"
	bob := phoneAt(t, d, "bob", aor, siptest.Behavior{Code: 200})
	alice := siptest.NewPhone(t, "alice")
	began := time.Now()
	o, res, ac := call(t, d, alice, aor)
	if res.StatusCode != 200 {
		t.Fatalf("got %d, want 200", res.StatusCode)
	}
	toBob := bob.WaitRequest(10*time.Second, sip.BYE, 1)
	toAlice := alice.WaitRequest(10*time.Second, sip.BYE, 1)
	if took := time.Since(began); took < time.Second {
		t.Errorf("BYEs after %v, want the lifetime (1s) first", took)
	}
	bc := bob.WaitCall(time.Second, 1)
	for _, tc := range []struct {
		name     string
		bye      *sip.Request
		from, to string
		uriHas   string
		cseqOver uint32
		callID   string
	}{
		{"to the callee", toBob, ac.LocalTag, ac.RemoteTag, bob.Addr("udp").String(), 1, o.CallID()},
		{"to the caller", toAlice, bc.LocalTag, bc.RemoteTag, alice.Addr("udp").String(), 0, o.CallID()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := siptest.Tag(tc.bye.From().Params); got != tc.from {
				t.Errorf("From tag: got %q, want %q", got, tc.from)
			}
			if got := siptest.Tag(tc.bye.To().Params); got != tc.to {
				t.Errorf("To tag: got %q, want %q", got, tc.to)
			}
			if got := string(*tc.bye.CallID()); got != tc.callID {
				t.Errorf("Call-ID: got %q, want %q", got, tc.callID)
			}
			if got := tc.bye.Recipient.String(); !strings.Contains(got, tc.uriHas) {
				t.Errorf("Request-URI: got %s, want the phone's contact %s", got, tc.uriHas)
			}
			if got := siptest.CSeq(tc.bye); got <= tc.cseqOver {
				t.Errorf("CSeq: got %d, want above %d", got, tc.cseqOver)
			}
		})
	}
	dl.expect(t, o.CallID(), trying(0), confirmed(0, dialog.Trying), ended(0, dialog.Confirmed, dialog.ReasonTimeout, 0))
	waitNoDialogs(t, d)
}

// TestDialogEnd: dlg_end_dlg ends a call with a BYE to both phones; a
// Call-ID without a confirmed dialog gets 404.
func TestDialogEnd(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, proxyConfig)
	dl := watchDialogs(t, d)
	aor := "sip:ended@127.0.0.1"
	bob := phoneAt(t, d, "bob", aor, siptest.Behavior{Code: 200})
	alice := siptest.NewPhone(t, "alice")
	o, _, _ := call(t, d, alice, aor)
	var out map[string]int
	if err := d.mi("dlg_end_dlg", map[string]string{"callid": o.CallID()}, &out); err != nil || out["ended"] != 1 {
		t.Fatalf("dlg_end_dlg: got %v %v, want 1 ended", out, err)
	}
	bob.WaitRequest(5*time.Second, sip.BYE, 1)
	alice.WaitRequest(5*time.Second, sip.BYE, 1)
	dl.expect(t, o.CallID(), trying(0), confirmed(0, dialog.Trying), ended(0, dialog.Confirmed, dialog.ReasonAdmin, 0))
	if err := d.mi("dlg.end_dlg", []string{o.CallID()}, nil); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("second dlg_end_dlg: got %v, want a 404", err)
	}
	waitNoDialogs(t, d)
}

// TestDialogBadInput: malformed INVITEs, missing headers, a CANCEL for
// nothing, requests within unknown dialogs: each gets the right answer
// and nothing is tracked.
func TestDialogBadInput(t *testing.T) {
	t.Parallel()
	d, _ := startWatchedDaemon(t, proxyConfig, true)
	dl := watchDialogs(t, d)
	bob := phoneAt(t, d, "bob", "sip:badbob@127.0.0.1", siptest.Behavior{Code: 200})
	contact := func(local string) string { return "Contact: <sip:x@" + local + ">" }
	inv := func(extra ...string) func(local, id string) []byte {
		return func(local, id string) []byte {
			return rawReq("INVITE", "sip:badbob@127.0.0.1", id, local, "UDP", append([]string{contact(local)}, extra...), "")
		}
	}
	inDialog := func(method string, extra ...string) func(local, id string) []byte {
		return func(local, id string) []byte {
			return rawReq(method, "sip:badbob@127.0.0.1", id, local, "UDP",
				append([]string{"To: <sip:badbob@127.0.0.1>;tag=nosuch", contact(local)}, extra...), "")
		}
	}
	us := d.UDP.String()
	runRawCases(t, d, []rawCase{
		{name: "INVITE without Contact", msg: req("INVITE", "sip:badbob@127.0.0.1", nil, ""), want: 400, reason: "Contact"},
		{name: "INVITE without Call-ID", msg: inv("-Call-ID"), want: 400, anyCallID: true},
		{name: "INVITE without From", msg: inv("-From"), want: 400, reason: "From"},
		{name: "INVITE without CSeq", msg: inv("-CSeq"), want: 400, reason: "CSeq"},
		{name: "INVITE with a CSeq of another method", msg: inv("CSeq: 1 BYE"), want: 400},
		{name: "INVITE with a malformed To", msg: inv("To: <sip:badbob@127.0.0.1"), want: 400},
		{name: "INVITE with a truncated body", msg: inv("Content-Length: 200"), want: 400},
		{name: "INVITE with two Max-Forwards", msg: inv("+Max-Forwards: 10"), want: 400},
		{name: "INVITE for a tel URI", msg: func(local, id string) []byte {
			return rawReq("INVITE", "tel:+15551234", id, local, "UDP", []string{contact(local)}, "")
		}, want: 416},
		{name: "INVITE with Max-Forwards 0", msg: inv("Max-Forwards: 0"), want: 483},
		{name: "INVITE with a malformed Route", msg: inv("Route: <tel:+1>"), want: 400},
		{name: "CANCEL for nothing", msg: req("CANCEL", "sip:badbob@127.0.0.1", nil, ""), want: 481},
		{name: "BYE outside a dialog", msg: req("BYE", "sip:badbob@127.0.0.1", nil, ""), want: 481},
		{name: "BYE for an unknown dialog", msg: inDialog("BYE"), want: 481},
		{name: "BYE for an unknown dialog to us", msg: func(local, id string) []byte {
			return rawReq("BYE", "sip:x@"+us, id, local, "UDP", []string{"To: <sip:x@127.0.0.1>;tag=nosuch"}, "")
		}, want: 481},
		{name: "re-INVITE for an unknown dialog", msg: inDialog("INVITE"), want: 481},
		{name: "UPDATE for an unknown dialog", msg: inDialog("UPDATE"), want: 481},
		{name: "INFO for an unknown dialog", msg: inDialog("INFO"), want: 481},
		{name: "PRACK outside a dialog", msg: req("PRACK", "sip:badbob@127.0.0.1", nil, ""), want: 481},
		{name: "stray ACK", msg: inDialog("ACK"), want: 0},
		{name: "stray ACK with our Route", msg: inDialog("ACK", "Route: <sip:"+us+";lr>", "Max-Forwards: 0"), want: 0},
	})
	if n := len(bob.Received("")); n != 0 {
		t.Errorf("the phone got %d requests, want none", n)
	}
	dl.mu.Lock()
	events := len(dl.events)
	dl.mu.Unlock()
	if events != 0 {
		t.Errorf("tracker: got %d events, want none", events)
	}
	if l := dlgList(t, d); len(l) != 0 {
		t.Errorf("dlg_list: got %v, want nothing", l)
	}
}

// TestDialogRestartKill9: a call is up through the daemon process; the
// daemon is killed with SIGKILL right after the caller got the 200, and
// started again on the same SQLite file; dlg_list shows the call, the
// caller's BYE reaches the callee through the restarted daemon, and the
// dialog is gone.
func TestDialogRestartKill9(t *testing.T) {
	t.Parallel()
	d := newProcDaemon(t)
	aor := "sip:k9bob@127.0.0.1"
	bob := siptest.NewPhone(t, "k9bob")
	if res, err := bob.Register(ctxT(t), d.UDP, aor, "udp"); err != nil || res.StatusCode != 200 {
		t.Fatalf("REGISTER: got %v %v", res, err)
	}
	alice := siptest.NewPhone(t, "alice")
	o, err := alice.Invite(d.UDP, aor, "")
	if err != nil {
		t.Fatal(err)
	}
	res, ac, err := o.Final(10 * time.Second)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INVITE: got %v %v, want 200", res, err)
	}
	bob.WaitRequest(5*time.Second, sip.ACK, 1)
	d.stop(syscall.SIGKILL, 10*time.Second)
	d.start()

	type entry struct {
		ID     string `json:"id"`
		CallID string `json:"call_id"`
		State  string `json:"state"`
	}
	var list []entry
	if err := d.call("dlg_list", nil, &list); err != nil {
		t.Fatalf("dlg_list: %v", err)
	}
	if len(list) != 1 || list[0].CallID != o.CallID() || list[0].State != "confirmed" {
		t.Fatalf("dlg_list after kill -9: got %+v, want the call confirmed", list)
	}
	if res, err := ac.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE after the restart: got %v %v, want 200", res, err)
	}
	bob.WaitRequest(5*time.Second, sip.BYE, 1)
	waitFor(t, 5*time.Second, "dlg_list to be empty", func() bool {
		list = nil
		return d.call("dlg_list", nil, &list) == nil && len(list) == 0
	})
}

// TestDialogRestartEvents: the same in process, to see the tracker's
// events: a call set up before a restart on SQLite (same ports), a BYE
// from the callee after it: the restarted tracker emits Terminated
// (remote-bye) from confirmed.
func TestDialogRestartEvents(t *testing.T) {
	t.Parallel()
	port := testpeer.FreePort(t, "udp+tcp")
	cfg := strings.Replace(sqliteConfig(t.TempDir()), `["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]`,
		`["udp:127.0.0.1:`+strconv.Itoa(port)+`", "tcp:127.0.0.1:`+strconv.Itoa(port)+`"]`, 1)
	d := startDaemon(t, cfg)
	aor := "sip:evbob@127.0.0.1"
	bob := phoneAt(t, d, "evbob", aor, siptest.Behavior{Code: 200})
	alice := siptest.NewPhone(t, "alice")
	o, res, _ := call(t, d, alice, aor)
	if res.StatusCode != 200 {
		t.Fatalf("got %d, want 200", res.StatusCode)
	}
	d.stop()

	d2 := startDaemon(t, cfg)
	dl := watchDialogs(t, d2)
	if l := dlgList(t, d2); len(l) != 1 || l[0] != o.CallID()+".0 confirmed" {
		t.Fatalf("dlg_list after the restart: got %v, want the call", l)
	}
	bc := bob.WaitCall(time.Second, 1)
	if res, err := bc.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
		t.Fatalf("BYE after the restart: got %v %v, want 200", res, err)
	}
	alice.WaitRequest(5*time.Second, sip.BYE, 1)
	dl.expect(t, o.CallID(), ended(0, dialog.Confirmed, dialog.ReasonRemoteBye, 0))
	waitNoDialogs(t, d2)
}
