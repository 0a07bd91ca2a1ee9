package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/watcherinfo"
)

func tuplePIDF(entity, id, basic string) []byte {
	return []byte(fmt.Sprintf(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s"><tuple id="%s"><status><basic>%s</basic></status></tuple></presence>`, entity, id, basic))
}

func send(t *testing.T, ua *siptest.UA, d *daemon, r siptest.Request) *sip.Response {
	t.Helper()
	res, _, err := ua.Send(ctxT(t), d.UDP, r)
	if err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.URI, err)
	}
	return res
}

// TestPresenceMerge: two publications of one presentity are merged into
// one document; when the last goes, watchers get the offline body.
func TestPresenceMerge(t *testing.T) {
	d := startDaemon(t, baseConfig)
	ua := siptest.New(t, siptest.Options{})
	pres := "sip:ivy@127.0.0.1"
	pub := func(id, basic string) string {
		res := send(t, ua, d, siptest.Request{Method: sip.PUBLISH, URI: pres, Headers: map[string]string{"Event": "presence"},
			ContentType: "application/pidf+xml", Body: tuplePIDF(pres, id, basic)})
		if res.StatusCode != 200 {
			t.Fatalf("publish: %d", res.StatusCode)
		}
		return siptest.Header(res, "SIP-ETag")
	}
	phone := pub("phone", "open")
	softphone := pub("softphone", "closed")

	res, dlg, err := ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	n, i := ua.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	doc, err := pidf.Parse(n.Body())
	if err != nil {
		t.Fatalf("NOTIFY body: %v", err)
	}
	if len(doc.Tuples) != 2 || doc.Entity != pres {
		t.Fatalf("merged document: got entity %q and %d tuples, want %s and 2: %s", doc.Entity, len(doc.Tuples), pres, n.Body())
	}

	for _, etag := range []string{phone, softphone} {
		res := send(t, ua, d, siptest.Request{Method: sip.PUBLISH, URI: pres, Headers: map[string]string{"Event": "presence", "SIP-If-Match": etag, "Expires": "0"}})
		if res.StatusCode != 200 {
			t.Fatalf("remove: %d", res.StatusCode)
		}
		n, i = ua.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	}
	doc, err = pidf.Parse(n.Body())
	if err != nil {
		t.Fatalf("offline body: %v", err)
	}
	if open, _, _ := pidf.Summary(doc); open || len(doc.Tuples) != 1 {
		t.Errorf("after the last publication went: got %s, want one closed tuple", n.Body())
	}
}

// TestWatcherInfo: a presence.winfo subscriber gets the full watcher list,
// then a partial document for each watcher that comes or goes.
func TestWatcherInfo(t *testing.T) {
	d := startDaemon(t, baseConfig)
	owner := siptest.New(t, siptest.Options{Name: "owner"})
	bob := siptest.New(t, siptest.Options{Name: "bob"})
	pres := "sip:judy@127.0.0.1"
	res, wdlg, err := owner.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, From: pres, Headers: map[string]string{"Event": "presence.winfo"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("winfo subscribe: %v %v", res, err)
	}
	n, i := owner.WaitNotify(5*time.Second, 0, siptest.InDialog(wdlg))
	doc, err := watcherinfo.Parse(n.Body())
	if err != nil {
		t.Fatalf("winfo body: %v\n%s", err, n.Body())
	}
	if doc.State != "full" || siptest.Header(n, "Content-Type") != "application/watcherinfo+xml" {
		t.Fatalf("first winfo NOTIFY: state %q type %q, want full application/watcherinfo+xml", doc.State, siptest.Header(n, "Content-Type"))
	}
	v0 := doc.Version

	res, bdlg, err := bob.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, From: "sip:bob@127.0.0.1", Headers: map[string]string{"Event": "presence"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("bob subscribe: %v %v", res, err)
	}
	n, i = owner.WaitNotify(5*time.Second, i+1, siptest.InDialog(wdlg))
	doc, err = watcherinfo.Parse(n.Body())
	if err != nil {
		t.Fatal(err)
	}
	if doc.State != "partial" || doc.Version != v0+1 || len(doc.Lists) != 1 || len(doc.Lists[0].Watchers) != 1 {
		t.Fatalf("winfo after bob subscribed: got %s, want partial version %d with one watcher", n.Body(), v0+1)
	}
	w := doc.Lists[0].Watchers[0]
	if w.URI != "sip:bob@127.0.0.1" || w.Status != "active" || doc.Lists[0].Package != "presence" || doc.Lists[0].Resource != pres {
		t.Errorf("watcher: got %+v in %+v", w, doc.Lists[0])
	}

	if _, err := bdlg.Request(ctxT(t), sip.SUBSCRIBE, map[string]string{"Event": "presence", "Expires": "0"}); err != nil {
		t.Fatal(err)
	}
	n, _ = owner.WaitNotify(5*time.Second, i+1, siptest.InDialog(wdlg))
	doc, err = watcherinfo.Parse(n.Body())
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Lists) != 1 || len(doc.Lists[0].Watchers) != 1 || doc.Lists[0].Watchers[0].Status != "terminated" || doc.Version != v0+2 {
		t.Errorf("winfo after bob left: got %s, want version %d with bob terminated", n.Body(), v0+2)
	}
}

func dialogBody(entity, id, state string, partial bool) []byte {
	st := "full"
	if partial {
		st = "partial"
	}
	return []byte(fmt.Sprintf(`<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="%s" entity="%s"><dialog id="%s" call-id="c-%s" direction="initiator"><state>%s</state></dialog></dialog-info>`, st, entity, id, id, state))
}

// TestDialogEvent: full state after SUBSCRIBE, partial after PUBLISH, a
// version per watcher increasing by one.
func TestDialogEvent(t *testing.T) {
	d := startDaemon(t, baseConfig)
	ua := siptest.New(t, siptest.Options{})
	pres := "sip:kim@127.0.0.1"
	res, dlg, err := ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "dialog"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	n, i := ua.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	doc, err := dialoginfo.Parse(n.Body())
	if err != nil {
		t.Fatalf("%v\n%s", err, n.Body())
	}
	if doc.State != "full" || len(doc.Dialogs) != 0 {
		t.Fatalf("idle document: got %s", n.Body())
	}
	version := doc.Version
	var etag string
	for _, state := range []string{"early", "confirmed", "terminated"} {
		h := map[string]string{"Event": "dialog"}
		if etag != "" {
			h["SIP-If-Match"] = etag
		}
		res := send(t, ua, d, siptest.Request{Method: sip.PUBLISH, URI: pres, Headers: h, ContentType: "application/dialog-info+xml", Body: dialogBody(pres, "d1", state, true)})
		if res.StatusCode != 200 {
			t.Fatalf("publish %s: %d %s", state, res.StatusCode, res.Reason)
		}
		etag = siptest.Header(res, "SIP-ETag")
		n, i = ua.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
		doc, err := dialoginfo.Parse(n.Body())
		if err != nil {
			t.Fatal(err)
		}
		if doc.State != "partial" || doc.Version != version+1 || len(doc.Dialogs) != 1 || doc.Dialogs[0].State != state {
			t.Fatalf("after publishing %s: got %s, want partial version %d with the dialog %s", state, n.Body(), version+1, state)
		}
		version = doc.Version
	}
	// A refresh of the subscription brings the full state again.
	if _, err := dlg.Request(ctxT(t), sip.SUBSCRIBE, map[string]string{"Event": "dialog", "Expires": "600"}); err != nil {
		t.Fatal(err)
	}
	n, _ = ua.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	doc, err = dialoginfo.Parse(n.Body())
	if err != nil {
		t.Fatal(err)
	}
	if doc.State != "full" || doc.Version != version+1 || len(doc.Dialogs) != 1 || doc.Dialogs[0].State != "terminated" {
		t.Errorf("after refresh: got %s, want full version %d with the terminated dialog", n.Body(), version+1)
	}
}

// TestSLASenderExcluded: a dialog;sla publication naming a phone in its
// Sender header reaches every other phone of the line, not that one.
func TestSLASenderExcluded(t *testing.T) {
	d := startDaemon(t, baseConfig)
	line := "sip:line1@127.0.0.1"
	// Polycom style: each phone's Contact user is the line's user.
	a := siptest.New(t, siptest.Options{Name: "line1"})
	b := siptest.New(t, siptest.Options{Name: "line1"})
	var dlgs []*siptest.Dialog
	for _, ua := range []*siptest.UA{a, b} {
		res, dlg, err := ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: line, From: line, Headers: map[string]string{"Event": "dialog;sla"}})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("subscribe: %v %v", res, err)
		}
		ua.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
		dlgs = append(dlgs, dlg)
	}
	res := send(t, a, d, siptest.Request{Method: sip.PUBLISH, URI: line,
		Headers:     map[string]string{"Event": "dialog;sla", "Sender": contactOf(a)},
		ContentType: "application/dialog-info+xml", Body: dialogBody(line, "x1", "confirmed", false)})
	if res.StatusCode != 200 {
		t.Fatalf("publish: %d %s", res.StatusCode, res.Reason)
	}
	n, _ := b.WaitNotify(5*time.Second, 1, siptest.InDialog(dlgs[1]))
	if !strings.Contains(string(n.Body()), "confirmed") || siptest.Header(n, "Event") != "dialog;sla" {
		t.Fatalf("phone B: got Event %q body %s, want the confirmed dialog", siptest.Header(n, "Event"), n.Body())
	}
	// A refresh of A's subscription proves A's dialog is alive; its own
	// state must never have reached it.
	if _, err := dlgs[0].Request(ctxT(t), sip.SUBSCRIBE, map[string]string{"Event": "dialog;sla", "Expires": "600"}); err != nil {
		t.Fatal(err)
	}
	a.WaitNotify(5*time.Second, 1, siptest.InDialog(dlgs[0]))
	for i, n := range a.Notifies() {
		if i == len(a.Notifies())-1 {
			break // the refresh NOTIFY carries the full state, that is fine
		}
		if strings.Contains(string(n.Body()), "confirmed") {
			t.Errorf("phone A got its own state in NOTIFY %d: %s", i, n.Body())
		}
	}
}

// TestAuthorization: a confirm policy leaves a watcher pending (no state)
// until the management API allows it; a deny policy polite-blocks.
func TestAuthorization(t *testing.T) {
	d := startDaemon(t, baseConfig+`
presence:
  authorization:
    default: allow
    rules:
      - watcher: "sip:stranger@*"
        action: confirm
      - watcher: "sip:spy@*"
        action: deny
`)
	pres := "sip:leo@127.0.0.1"
	owner := siptest.New(t, siptest.Options{Name: "leo"})
	publishPIDF(t, owner, d, pres, "open", "secret-note")
	stranger := siptest.New(t, siptest.Options{Name: "stranger"})
	res, dlg, err := stranger.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, From: "sip:stranger@127.0.0.1", Headers: map[string]string{"Event": "presence"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	n, i := stranger.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	if ss := siptest.Header(n, "Subscription-State"); !strings.HasPrefix(ss, "pending") || len(n.Body()) != 0 {
		t.Fatalf("pending watcher: got %q with body %q, want pending and no body", ss, n.Body())
	}
	var pending []struct{ Presentity, Watcher, Event string }
	if err := d.mi("watchers_pending", nil, &pending); err != nil || len(pending) != 1 || pending[0].Watcher != "sip:stranger@127.0.0.1" {
		t.Fatalf("watchers_pending: got %+v %v", pending, err)
	}
	if err := d.mi("watcher_authorize", map[string]string{"presentity_uri": pres, "watcher_uri": "sip:stranger@127.0.0.1", "decision": "allow"}, nil); err != nil {
		t.Fatalf("watcher_authorize: %v", err)
	}
	n, _ = stranger.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if ss := siptest.Header(n, "Subscription-State"); !strings.HasPrefix(ss, "active") || !strings.Contains(string(n.Body()), "secret-note") {
		t.Fatalf("allowed watcher: got %q %s, want active with the state", ss, n.Body())
	}

	spy := siptest.New(t, siptest.Options{Name: "spy"})
	res, sdlg, err := spy.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, From: "sip:spy@127.0.0.1", Headers: map[string]string{"Event": "presence"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("spy subscribe: %v %v", res, err)
	}
	n, _ = spy.WaitNotify(5*time.Second, 0, siptest.InDialog(sdlg))
	if ss := siptest.Header(n, "Subscription-State"); !strings.HasPrefix(ss, "active") || strings.Contains(string(n.Body()), "secret-note") {
		t.Fatalf("polite-blocked watcher: got %q %s, want active without the real state", ss, n.Body())
	}
}

// TestLargeNotify: a NOTIFY over 1300 bytes still reaches a watcher over
// UDP (up to 65,000 bytes) and over TCP.
func TestLargeNotify(t *testing.T) {
	d := startDaemon(t, baseConfig)
	pres := "sip:max@127.0.0.1"
	big := fmt.Sprintf(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s"><tuple id="t"><status><basic>open</basic></status><note>%s</note></tuple></presence>`, pres, strings.Repeat("n", 6000))
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			w := siptest.New(t, siptest.Options{Transports: []string{tr}})
			target := d.UDP
			if tr == "tcp" {
				target = d.TCP
			}
			res, dlg, err := w.Subscribe(ctxT(t), target, siptest.Request{URI: pres, Transport: tr, Headers: map[string]string{"Event": "presence"}})
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("subscribe: %v %v", res, err)
			}
			_, i := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
			res, _, err = w.Send(ctxT(t), target, siptest.Request{Method: sip.PUBLISH, URI: pres, Transport: tr, Headers: map[string]string{"Event": "presence"}, ContentType: "application/pidf+xml", Body: []byte(big)})
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("publish: %v %v", res, err)
			}
			n, _ := w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
			if len(n.Body()) < 6000 {
				t.Errorf("got a %d-byte body, want the whole document", len(n.Body()))
			}
		})
	}
}

func contactOf(ua *siptest.UA) string {
	u := ua.Contact("udp")
	return "<" + u.String() + ">"
}

// TestMixDialogPresence: with mix_dialog_presence, a confirmed dialog
// publication makes presence watchers see "on the phone".
func TestMixDialogPresence(t *testing.T) {
	d := startDaemon(t, baseConfig+"presence:\n  mix_dialog_presence: true\n")
	ua := siptest.New(t, siptest.Options{})
	pres := "sip:otto@127.0.0.1"
	publishPIDF(t, ua, d, pres, "open", "at desk")
	res, dlg, err := ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	n, i := ua.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	if strings.Contains(string(n.Body()), "on-the-phone") {
		t.Fatalf("before the call: got %s", n.Body())
	}
	res = send(t, ua, d, siptest.Request{Method: sip.PUBLISH, URI: pres, Headers: map[string]string{"Event": "dialog"},
		ContentType: "application/dialog-info+xml", Body: dialogBody(pres, "call1", "confirmed", true)})
	if res.StatusCode != 200 {
		t.Fatalf("dialog publish: %d", res.StatusCode)
	}
	n, _ = ua.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if !strings.Contains(string(n.Body()), "on-the-phone") || !strings.Contains(string(n.Body()), "at desk") {
		t.Errorf("during the call: got %s, want on-the-phone merged with the published state", n.Body())
	}
}
