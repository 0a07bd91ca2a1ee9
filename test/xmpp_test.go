package test

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/xmpp"
	"github.com/presenced/presenced/xmpp/xmpptest"
)

// The gateway topology of these tests: Prosody serves example.com (XMPP
// users alice, bob) and routes the component sip.example.com to the
// daemon; SIP users are sip:<user>@sip.example.com, XMPP users
// sip:<user>@example.com, and a SIP watcher of an XMPP user waits for that
// user's answer (rule confirm).

// gatewayConfig is baseConfig with the gateway on Prosody s; extra is
// appended.
func gatewayConfig(t *testing.T, s *testpeer.ProsodyServer, extra string) string {
	t.Helper()
	host, port, err := net.SplitHostPort(s.ComponentAddr)
	if err != nil {
		t.Fatal(err)
	}
	return baseConfig + fmt.Sprintf(`
presence:
  authorization:
    default: allow
    rules:
      - presentity: "sip:*@%[5]s"
        event: presence
        action: confirm
xmpp:
  enabled: true
  xmpp_domain: %[1]s
  xmpp_host: %[2]s
  xmpp_port: %[3]s
  xmpp_password: %[4]s
  xmpp_user_domains: [%[5]s]
  reconnect_min_ms: 50
  reconnect_max: 1
pua_xmpp:
  enabled: true
  resync_timeout: 2
`, s.ComponentDomain, host, port, s.ComponentSecret, s.Domain) + extra
}

func startProsody(t *testing.T, users ...string) *testpeer.ProsodyServer {
	t.Helper()
	u := map[string]string{}
	for _, n := range users {
		u[n] = n + "-pw"
	}
	return testpeer.Prosody(t, testpeer.ProsodyOptions{Users: u})
}

// xmppUser logs a Prosody user in and makes it available.
func xmppUser(t *testing.T, s *testpeer.ProsodyServer, user string) *xmpptest.Client {
	t.Helper()
	roots, err := s.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	c := xmpptest.Dial(t, xmpptest.Options{Addr: s.C2SAddr, Domain: s.Domain, User: user, Password: user + "-pw", Roots: roots})
	if err := c.Presence("", ""); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitLink waits until the daemon's component link is up (connects
// reaching n).
func waitLink(t *testing.T, d *daemon, n uint64) xmpp.Status {
	t.Helper()
	var st xmpp.Status
	waitFor(t, 20*time.Second, fmt.Sprintf("xmpp link up (%d connects)", n), func() bool {
		if err := d.mi("xmpp_status", nil, &st); err != nil {
			t.Fatalf("xmpp_status: %v", err)
		}
		return st.State == xmpp.StateUp && st.Connects >= n
	})
	return st
}

// publishRich publishes an RPID document for pres (Expires 0 removes).
func publishRich(t *testing.T, ua *siptest.UA, d *daemon, pres string, open bool, activity, note string, etag string, expires int) string {
	t.Helper()
	r := siptest.Request{Method: sip.PUBLISH, URI: pres, Headers: map[string]string{"Event": "presence", "Expires": fmt.Sprint(expires)}}
	if etag != "" {
		r.Headers["SIP-If-Match"] = etag
	}
	if expires > 0 {
		rs := pidf.RichStatus{Entity: pres, Open: open, Note: note}
		if activity != "" {
			rs.Activities = []string{activity}
		}
		r.ContentType, r.Body = pidf.ContentType, pidf.Rich(rs)
	}
	res := send(t, ua, d, r)
	if res.StatusCode != 200 {
		t.Fatalf("publish %s: %d %s", pres, res.StatusCode, res.Reason)
	}
	return siptest.Header(res, "SIP-ETag")
}

// presenceFrom matches a presence of type typ from the bare JID from with
// the given show and status.
func presenceFrom(from, typ, show, status string) func(xmpp.Stanza) bool {
	return func(s xmpp.Stanza) bool {
		p, ok := s.(xmpp.Presence)
		return ok && p.Type == typ && strings.SplitN(p.From, "/", 2)[0] == from && p.Show == show && p.Status == status
	}
}

// notifyState matches a NOTIFY of dlg with Subscription-State state and,
// for a body, basic, the RPID activity (or none) and the note ("*": any).
func notifyState(t *testing.T, dlg *siptest.Dialog, state, basic, activity, note string) func(*sip.Request) bool {
	return func(n *sip.Request) bool {
		if !siptest.InDialog(dlg)(n) || !strings.HasPrefix(siptest.Header(n, "Subscription-State"), state) {
			return false
		}
		if basic == "" {
			return true
		}
		doc, err := pidf.Parse(n.Body())
		if err != nil {
			return false
		}
		open, acts, gotNote := pidf.Summary(doc)
		if (basic == pidf.BasicOpen) != open || gotNote != note && note != "*" {
			return false
		}
		if activity == "" {
			return len(acts) == 0
		}
		return len(acts) == 1 && acts[0] == activity
	}
}

// TestXMPPSubscribesToSIP: an XMPP user subscribes to a SIP user through
// the gateway and sees her come online, change status (away, dnd, with a
// note) and go offline.
func TestXMPPSubscribesToSIP(t *testing.T) {
	s := startProsody(t, "alice")
	d := startDaemon(t, gatewayConfig(t, s, ""))
	waitLink(t, d, 1)
	alice := xmppUser(t, s, "alice")
	carolJID, carol := "carol@sip.example.com", "sip:carol@sip.example.com"
	phone := siptest.New(t, siptest.Options{Name: "carol"})

	if err := alice.Send(xmpp.Presence{To: carolJID, Type: xmpp.Subscribe}); err != nil {
		t.Fatal(err)
	}
	alice.Wait(t, 10*time.Second, 0, "subscribed", xmpptest.PresenceFrom(carolJID, xmpp.Subscribed))
	_, i := alice.Wait(t, 10*time.Second, 0, "carol offline", xmpptest.PresenceFrom(carolJID, xmpp.Unavailable))

	etag := publishRich(t, phone, d, carol, true, "", "at my desk", "", 600)
	_, i = alice.Wait(t, 10*time.Second, i, "carol online", presenceFrom(carolJID, xmpp.Available, "", "at my desk"))
	etag = publishRich(t, phone, d, carol, true, pidf.ActivityAway, "lunch", etag, 600)
	_, i = alice.Wait(t, 10*time.Second, i, "carol away", presenceFrom(carolJID, xmpp.Available, xmpp.ShowAway, "lunch"))
	etag = publishRich(t, phone, d, carol, true, pidf.ActivityOnThePhone, "call with Bob", etag, 600)
	_, i = alice.Wait(t, 10*time.Second, i, "carol dnd", presenceFrom(carolJID, xmpp.Available, xmpp.ShowDND, "call with Bob"))
	publishRich(t, phone, d, carol, false, "", "", etag, 0)
	alice.Wait(t, 10*time.Second, i, "carol offline again", xmpptest.PresenceFrom(carolJID, xmpp.Unavailable))

	// The gateway holds one SIP subscription for alice, refreshed forever;
	// unsubscribe ends it.
	var recs []struct{ Watcher, Event, Source, State string }
	if err := d.mi("pua_list", nil, &recs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Source == "xmpp" && r.Event == "presence" && r.Watcher == "sip:alice@example.com" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("pua_list: got %d xmpp subscriptions of alice (%+v), want 1", n, recs)
	}
	if err := alice.Send(xmpp.Presence{To: carolJID, Type: xmpp.Unsubscribe}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the subscription to end", func() bool {
		recs = nil
		if err := d.mi("pua_list", nil, &recs); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Source == "xmpp" && r.Event == "presence" && r.State != "terminated" {
				return false
			}
		}
		return true
	})
}

// TestSIPSubscribesToXMPP: a SIP user's subscription to an XMPP user
// waits for that user's answer; approved, the SIP user sees the XMPP user
// online, away, dnd with a note, and offline.
func TestSIPSubscribesToXMPP(t *testing.T) {
	s := startProsody(t, "alice")
	d := startDaemon(t, gatewayConfig(t, s, ""))
	waitLink(t, d, 1)
	alice := xmppUser(t, s, "alice")
	w := siptest.New(t, siptest.Options{Name: "carol"})
	aliceURI := "sip:alice@example.com"

	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: aliceURI, From: "sip:carol@sip.example.com", Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	_, i := w.WaitNotify(10*time.Second, 0, notifyState(t, dlg, "pending", "", "", ""))

	// The request reaches alice as an XMPP subscription request.
	alice.Wait(t, 10*time.Second, 0, "carol's request", xmpptest.PresenceFrom("carol@sip.example.com", xmpp.Subscribe))
	if err := alice.Send(xmpp.Presence{To: "carol@sip.example.com", Type: xmpp.Subscribed}); err != nil {
		t.Fatal(err)
	}
	_, i = w.WaitNotify(10*time.Second, i+1, notifyState(t, dlg, "active", pidf.BasicOpen, "", ""))

	for _, step := range []struct{ show, status, activity string }{
		{xmpp.ShowAway, "coffee", pidf.ActivityAway},
		{xmpp.ShowDND, "in a meeting", pidf.ActivityBusy},
		{xmpp.ShowXA, "", pidf.ActivityAway},
		{"", "back", ""},
	} {
		if err := alice.Presence(step.show, step.status); err != nil {
			t.Fatal(err)
		}
		_, i = w.WaitNotify(10*time.Second, i+1, notifyState(t, dlg, "active", pidf.BasicOpen, step.activity, step.status))
	}
	if err := alice.Presence(xmpp.Unavailable, "gone home"); err != nil {
		t.Fatal(err)
	}
	w.WaitNotify(10*time.Second, i+1, notifyState(t, dlg, "active", pidf.BasicClosed, "", "gone home"))
}

// TestXMPPAuthorization: two SIP watchers ask an XMPP user; the user
// accepts one and refuses the other, and the watchers end active and
// terminated.
func TestXMPPAuthorization(t *testing.T) {
	s := startProsody(t, "bob")
	d := startDaemon(t, gatewayConfig(t, s, ""))
	waitLink(t, d, 1)
	bob := xmppUser(t, s, "bob")
	bobURI := "sip:bob@example.com"
	watch := func(name string) (*siptest.UA, *siptest.Dialog) {
		ua := siptest.New(t, siptest.Options{Name: name})
		res, dlg, err := ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: bobURI, From: "sip:" + name + "@sip.example.com", Headers: map[string]string{"Event": "presence", "Expires": "600"}})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("%s subscribe: %v %v", name, res, err)
		}
		ua.WaitNotify(10*time.Second, 0, notifyState(t, dlg, "pending", "", "", ""))
		return ua, dlg
	}
	dave, ddlg := watch("dave")
	erin, edlg := watch("erin")
	bob.Wait(t, 10*time.Second, 0, "dave's request", xmpptest.PresenceFrom("dave@sip.example.com", xmpp.Subscribe))
	bob.Wait(t, 10*time.Second, 0, "erin's request", xmpptest.PresenceFrom("erin@sip.example.com", xmpp.Subscribe))

	if err := bob.Send(xmpp.Presence{To: "dave@sip.example.com", Type: xmpp.Subscribed}); err != nil {
		t.Fatal(err)
	}
	if err := bob.Send(xmpp.Presence{To: "erin@sip.example.com", Type: xmpp.Unsubscribed}); err != nil {
		t.Fatal(err)
	}
	dave.WaitNotify(10*time.Second, 0, notifyState(t, ddlg, "active", pidf.BasicOpen, "", ""))
	n, _ := erin.WaitNotify(10*time.Second, 0, notifyState(t, edlg, "terminated", "", "", ""))
	if ss := siptest.Header(n, "Subscription-State"); !strings.Contains(ss, "reason=rejected") {
		t.Errorf("erin got %q, want terminated;reason=rejected", ss)
	}
	var pending []struct{ Presentity, Watcher string }
	if err := d.mi("watchers_pending", nil, &pending); err != nil || len(pending) != 0 {
		t.Errorf("watchers_pending: got %+v %v, want none", pending, err)
	}
	var st struct {
		Events map[string]uint64 `json:"events"`
	}
	if err := d.mi("pua_xmpp_status", nil, &st); err != nil || st.Events["authorize_allow"] != 1 || st.Events["authorize_deny"] != 1 {
		t.Errorf("pua_xmpp_status: got %+v %v, want one allow and one deny", st, err)
	}
}

// TestXMPPMessages: an instant message each way.
func TestXMPPMessages(t *testing.T) {
	s := startProsody(t, "alice")
	d := startDaemon(t, gatewayConfig(t, s, ""))
	waitLink(t, d, 1)
	alice := xmppUser(t, s, "alice")
	carol := siptest.New(t, siptest.Options{Name: "carol"})
	if res := register(t, carol, d, "sip:carol@sip.example.com", "reg1", 1, []string{contactOf(carol) + ";expires=600"}); res.StatusCode != 200 {
		t.Fatalf("register: %d", res.StatusCode)
	}

	// XMPP to SIP.
	if err := alice.Send(xmpp.Message{To: "carol@sip.example.com", Type: "chat", Body: "hello carol, ça va?"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "carol's MESSAGE", func() bool {
		for _, r := range carol.Requests() {
			if r.Method == sip.MESSAGE {
				return true
			}
		}
		return false
	})
	var msg *sip.Request
	for _, r := range carol.Requests() {
		if r.Method == sip.MESSAGE {
			msg = r
		}
	}
	if string(msg.Body()) != "hello carol, ça va?" || msg.From().Address.String() != "sip:alice@example.com" || !strings.HasPrefix(siptest.Header(msg, "Content-Type"), "text/plain") {
		t.Errorf("carol got From %s, %s %q; want alice's text/plain", msg.From().Address.String(), siptest.Header(msg, "Content-Type"), msg.Body())
	}

	// SIP to XMPP.
	res := send(t, carol, d, siptest.Request{Method: sip.MESSAGE, URI: "sip:alice@example.com", From: "sip:carol@sip.example.com", ContentType: "text/plain", Body: []byte("hi alice")})
	if res.StatusCode != 202 {
		t.Fatalf("MESSAGE to alice: %d %s, want 202", res.StatusCode, res.Reason)
	}
	st, _ := alice.Wait(t, 10*time.Second, 0, "carol's message", func(s xmpp.Stanza) bool {
		m, ok := s.(xmpp.Message)
		return ok && m.From == "carol@sip.example.com" && m.Body == "hi alice"
	})
	if m := st.(xmpp.Message); m.Type != "chat" {
		t.Errorf("alice got type %q, want chat", m.Type)
	}

	// A SIP user who is not registered: the XMPP sender hears why.
	if err := alice.Send(xmpp.Message{To: "nobody@sip.example.com", Type: "chat", ID: "m2", Body: "anyone?"}); err != nil {
		t.Fatal(err)
	}
	st, _ = alice.Wait(t, 10*time.Second, 0, "an error", func(s xmpp.Stanza) bool {
		m, ok := s.(xmpp.Message)
		return ok && m.Type == "error" && m.From == "nobody@sip.example.com"
	})
	if e := st.(xmpp.Message).Error; e == nil || e.Condition != "recipient-unavailable" {
		t.Errorf("got error %+v, want recipient-unavailable", e)
	}
}

// TestXMPPProsodyRestart: Prosody restarted in the middle; the gateway
// reconnects by itself and both directions work again.
func TestXMPPProsodyRestart(t *testing.T) {
	s := startProsody(t, "alice")
	d := startDaemon(t, gatewayConfig(t, s, ""))
	waitLink(t, d, 1)
	alice := xmppUser(t, s, "alice")
	w := siptest.New(t, siptest.Options{Name: "carol"})
	carolJID, carol := "carol@sip.example.com", "sip:carol@sip.example.com"

	// Both ways before: alice watches carol, carol watches alice.
	if err := alice.Send(xmpp.Presence{To: carolJID, Type: xmpp.Subscribe}); err != nil {
		t.Fatal(err)
	}
	alice.Wait(t, 10*time.Second, 0, "subscribed", xmpptest.PresenceFrom(carolJID, xmpp.Subscribed))
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: "sip:alice@example.com", From: carol, Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	alice.Wait(t, 10*time.Second, 0, "carol's request", xmpptest.PresenceFrom(carolJID, xmpp.Subscribe))
	if err := alice.Send(xmpp.Presence{To: carolJID, Type: xmpp.Subscribed}); err != nil {
		t.Fatal(err)
	}
	_, i := w.WaitNotify(10*time.Second, 0, notifyState(t, dlg, "active", pidf.BasicOpen, "", ""))
	etag := publishRich(t, w, d, carol, true, "", "before", "", 600)
	alice.Wait(t, 10*time.Second, 0, "carol before", presenceFrom(carolJID, xmpp.Available, "", "before"))

	xmpptest.RestartProsody(t, s, syscall.SIGTERM)
	// alice's session died with Prosody: the SIP side sees her offline.
	_, i = w.WaitNotify(15*time.Second, i+1, notifyState(t, dlg, "active", pidf.BasicClosed, "", "*"))
	st := waitLink(t, d, 2)
	if st.LastError == "" {
		t.Errorf("xmpp_status %+v, want the drop as last_error", st)
	}

	// carol changes while alice is away; alice comes back and sees it.
	publishRich(t, w, d, carol, true, pidf.ActivityBusy, "after", etag, 600)
	alice2 := xmppUser(t, s, "alice")
	alice2.Wait(t, 10*time.Second, 0, "carol after", presenceFrom(carolJID, xmpp.Available, xmpp.ShowDND, "after"))
	if err := alice2.Presence(xmpp.ShowAway, "back again"); err != nil {
		t.Fatal(err)
	}
	w.WaitNotify(10*time.Second, i+1, notifyState(t, dlg, "active", pidf.BasicOpen, pidf.ActivityAway, "back again"))
}

// TestXMPPProsodyCrash: Prosody killed (it tells nobody its users are
// gone) and started again; the gateway reconnects, probes the XMPP users
// it publishes for, and shows the one that did not come back offline.
func TestXMPPProsodyCrash(t *testing.T) {
	s := startProsody(t, "alice")
	d := startDaemon(t, gatewayConfig(t, s, ""))
	waitLink(t, d, 1)
	alice := xmppUser(t, s, "alice")
	w := siptest.New(t, siptest.Options{Name: "carol"})
	carolJID := "carol@sip.example.com"
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: "sip:alice@example.com", From: "sip:carol@sip.example.com", Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	alice.Wait(t, 10*time.Second, 0, "carol's request", xmpptest.PresenceFrom(carolJID, xmpp.Subscribe))
	if err := alice.Send(xmpp.Presence{To: carolJID, Type: xmpp.Subscribed}); err != nil {
		t.Fatal(err)
	}
	if err := alice.Presence(xmpp.ShowChat, "here"); err != nil {
		t.Fatal(err)
	}
	_, i := w.WaitNotify(10*time.Second, 0, notifyState(t, dlg, "active", pidf.BasicOpen, "", "here"))

	xmpptest.RestartProsody(t, s, syscall.SIGKILL)
	waitLink(t, d, 2)
	_, i = w.WaitNotify(15*time.Second, i+1, notifyState(t, dlg, "active", pidf.BasicClosed, "", "*"))
	var st struct {
		Events map[string]uint64 `json:"events"`
	}
	if err := d.mi("pua_xmpp_status", nil, &st); err != nil || st.Events["withdraw"] != 1 {
		t.Errorf("pua_xmpp_status: got %+v %v, want one withdraw", st, err)
	}
	alice2 := xmppUser(t, s, "alice")
	if err := alice2.Presence(xmpp.ShowDND, "back"); err != nil {
		t.Fatal(err)
	}
	w.WaitNotify(10*time.Second, i+1, notifyState(t, dlg, "active", pidf.BasicOpen, pidf.ActivityBusy, "back"))
}

// sipWatchesXMPP makes SIP user w (sip:<name>@sip.example.com) watch the
// XMPP user of c, who accepts; it returns the dialog and the index of the
// active NOTIFY.
func sipWatchesXMPP(t *testing.T, d *daemon, w *siptest.UA, name string, c *xmpptest.Client) (*siptest.Dialog, int) {
	t.Helper()
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: "sip:" + c.Bare, From: "sip:" + name + "@sip.example.com", Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	c.Wait(t, 10*time.Second, 0, name+"'s request", xmpptest.PresenceFrom(name+"@sip.example.com", xmpp.Subscribe))
	if err := c.Send(xmpp.Presence{To: name + "@sip.example.com", Type: xmpp.Subscribed}); err != nil {
		t.Fatal(err)
	}
	_, i := w.WaitNotify(10*time.Second, 0, notifyState(t, dlg, "active", pidf.BasicOpen, "", "*"))
	return dlg, i
}

// TestXMPPDaemonRestart: the daemon restarts (SQLite, same ports) while
// one XMPP user stays online and another leaves; afterwards the SIP
// watcher sees the one who left offline and the other still online.
func TestXMPPDaemonRestart(t *testing.T) {
	s := startProsody(t, "alice", "bob")
	port := testpeer.FreePort(t, "udp+tcp")
	cfg := strings.Replace(gatewayConfig(t, s, ""), `listen: ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"]`, fmt.Sprintf(`listen: ["udp:127.0.0.1:%d", "tcp:127.0.0.1:%d"]`, port, port), 1)
	cfg = strings.Replace(cfg, "backend: memory", "backend: sqlite\n  path: "+strconv.Quote(filepath.Join(t.TempDir(), "presenced.db")), 1)
	d := startDaemon(t, cfg)
	waitLink(t, d, 1)
	alice, bob := xmppUser(t, s, "alice"), xmppUser(t, s, "bob")
	w := siptest.New(t, siptest.Options{Name: "carol"})
	// alice and carol watch each other; bob lets carol watch him.
	if err := alice.Send(xmpp.Presence{To: "carol@sip.example.com", Type: xmpp.Subscribe}); err != nil {
		t.Fatal(err)
	}
	alice.Wait(t, 10*time.Second, 0, "subscribed", xmpptest.PresenceFrom("carol@sip.example.com", xmpp.Subscribed))
	adlg, ai := sipWatchesXMPP(t, d, w, "carol", alice)
	bdlg, bi := sipWatchesXMPP(t, d, w, "carol", bob)

	// Both publications acknowledged (and so stored) before the stop.
	waitFor(t, 10*time.Second, "both publications stored", func() bool {
		var recs []struct{ Kind, Presentity, State string }
		if err := d.mi("pua_list", nil, &recs); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range recs {
			if r.Kind == "publication" && r.State == "published" {
				n++
			}
		}
		return n == 2
	})
	d.stop()
	bob.Close()
	d = startDaemon(t, cfg)
	waitLink(t, d, 1)
	w.WaitNotify(15*time.Second, bi+1, notifyState(t, bdlg, "active", pidf.BasicClosed, "", "*"))
	var st struct {
		Events map[string]uint64 `json:"events"`
	}
	waitFor(t, 10*time.Second, "the resync", func() bool {
		if err := d.mi("pua_xmpp_status", nil, &st); err != nil {
			t.Fatal(err)
		}
		return st.Events["resync"] >= 1
	})
	for _, n := range w.Notifies()[ai+1:] {
		if siptest.InDialog(adlg)(n) && basicOf(t, n) == pidf.BasicClosed {
			t.Fatalf("alice, online all along, shown closed after the restart: %s", n.Body())
		}
	}
	if st.Events["probe"] == 0 && st.Events["publish"] == 0 {
		t.Logf("pua_xmpp events %v", st.Events)
	}
	if err := alice.Presence(xmpp.ShowAway, "still here"); err != nil {
		t.Fatal(err)
	}
	w.WaitNotify(10*time.Second, ai+1, notifyState(t, adlg, "active", pidf.BasicOpen, pidf.ActivityAway, "still here"))
}

// TestXMPPBadInput: malformed stanzas, unknown addresses and oversized
// messages get clear errors on the XMPP side and in xmpp_status; the SIP
// side is not affected.
func TestXMPPBadInput(t *testing.T) {
	s := startProsody(t, "alice")
	cfg := strings.Replace(gatewayConfig(t, s, ""), "  reconnect_max: 1\n", "  reconnect_max: 1\n  max_message_size: 1000\n", 1)
	d := startDaemon(t, cfg+`
proxy:
  enabled: false
domains: [example.com, sip.example.com, 127.0.0.1]
`)
	waitLink(t, d, 1)
	alice := xmppUser(t, s, "alice")
	ua := siptest.New(t, siptest.Options{Name: "carol"})

	// A show value RFC 6121 does not have.
	if err := alice.Send(xmpp.Presence{To: "carol@sip.example.com", Show: "sleeping"}); err != nil {
		t.Fatal(err)
	}
	st, _ := alice.Wait(t, 10*time.Second, 0, "bad-request", xmpptest.PresenceFrom("carol@sip.example.com", xmpp.TypeError))
	if e := st.(xmpp.Presence).Error; e == nil || e.Condition != "bad-request" {
		t.Errorf("got %+v, want bad-request", e)
	}
	// An oversized message.
	if err := alice.Send(xmpp.Message{To: "carol@sip.example.com", Type: "chat", Body: strings.Repeat("x", 2000)}); err != nil {
		t.Fatal(err)
	}
	st, _ = alice.Wait(t, 10*time.Second, 0, "policy-violation", func(s xmpp.Stanza) bool {
		m, ok := s.(xmpp.Message)
		return ok && m.Type == "error"
	})
	if e := st.(xmpp.Message).Error; e == nil || e.Condition != "policy-violation" {
		t.Errorf("got %+v, want policy-violation", e)
	}

	var status xmpp.Status
	if err := d.mi("xmpp_status", nil, &status); err != nil {
		t.Fatal(err)
	}
	if status.State != xmpp.StateUp || status.Malformed != 1 || !strings.Contains(status.LastError, "sleeping") || status.Messages["xmpp_failed"] != 1 {
		t.Errorf("xmpp_status %+v, want up, 1 malformed (sleeping), 1 failed message", status)
	}

	// SIP MESSAGEs the gateway cannot carry.
	for _, tc := range []struct {
		name, uri, ct string
		body          []byte
		code          int
	}{
		{"oversized", "sip:alice@example.com", "text/plain", []byte(strings.Repeat("y", 1500)), 413},
		{"html", "sip:alice@example.com", "text/html", []byte("<b>x</b>"), 415},
		{"not an xmpp user", "sip:dave@127.0.0.1", "text/plain", []byte("x"), 404},
	} {
		res := send(t, ua, d, siptest.Request{Method: sip.MESSAGE, URI: tc.uri, From: "sip:carol@sip.example.com", ContentType: tc.ct, Body: tc.body})
		if res.StatusCode != tc.code {
			t.Errorf("%s: got %d %s, want %d", tc.name, res.StatusCode, res.Reason, tc.code)
		}
	}

	// The SIP side still serves.
	publishPIDF(t, ua, d, "sip:carol@sip.example.com", "open", "fine")
	watch(t, siptest.New(t, siptest.Options{Name: "w"}), d.UDP, "sip:carol@sip.example.com")
}

// TestXMPPHandshakeRefused: an XMPP server that refuses the handshake is a
// clear error in the log and xmpp_status; the SIP side works, and a
// MESSAGE for an XMPP user gets 503.
func TestXMPPHandshakeRefused(t *testing.T) {
	s := startProsody(t)
	cfg := strings.Replace(gatewayConfig(t, s, ""), "xmpp_password: "+s.ComponentSecret, "xmpp_password: not-the-secret", 1)
	d := startDaemon(t, cfg)
	var st xmpp.Status
	waitFor(t, 20*time.Second, "two refused handshakes", func() bool {
		if err := d.mi("xmpp_status", nil, &st); err != nil {
			t.Fatal(err)
		}
		return st.ConnectFailures >= 2
	})
	if st.Connects != 0 || !strings.Contains(st.LastError, "not-authorized") {
		t.Errorf("xmpp_status %+v, want no connect and not-authorized", st)
	}
	ua := siptest.New(t, siptest.Options{Name: "carol"})
	res := send(t, ua, d, siptest.Request{Method: sip.MESSAGE, URI: "sip:alice@example.com", From: "sip:carol@sip.example.com", ContentType: "text/plain", Body: []byte("hello?")})
	if res.StatusCode != 503 || siptest.Header(res, "Retry-After") == "" {
		t.Errorf("MESSAGE: got %d %s (Retry-After %q), want 503 with Retry-After", res.StatusCode, res.Reason, siptest.Header(res, "Retry-After"))
	}
	publishPIDF(t, ua, d, "sip:carol@sip.example.com", "open", "fine")
	watch(t, siptest.New(t, siptest.Options{Name: "w"}), d.UDP, "sip:carol@sip.example.com")
	if up := metric(t, d, "presenced_xmpp_link_up"); up != 0 {
		t.Errorf("presenced_xmpp_link_up got %v, want 0", up)
	}
}
