package test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
	"github.com/presenced/presenced/pidf"
)

// basicOf returns "open" or "closed" for a presence NOTIFY body.
func basicOf(t *testing.T, n *sip.Request) string {
	t.Helper()
	doc, err := pidf.Parse(n.Body())
	if err != nil {
		return "unparsable"
	}
	if open, _, _ := pidf.Summary(doc); open {
		return "open"
	}
	return "closed"
}

// tupleStates counts the open and closed tuples of a NOTIFY's PIDF.
func tupleStates(n *sip.Request) (open, closed int) {
	doc, err := pidf.Parse(n.Body())
	if err != nil {
		return -1, -1
	}
	for _, t := range doc.Tuples {
		switch t.Basic {
		case pidf.BasicOpen:
			open++
		case pidf.BasicClosed:
			closed++
		}
	}
	return open, closed
}

// watch subscribes w to pres at target and returns the dialog and the
// index of the first NOTIFY.
func watch(t *testing.T, w *siptest.UA, target netip.AddrPort, pres string) (*siptest.Dialog, int) {
	t.Helper()
	res, dlg, err := w.Subscribe(ctxT(t), target, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode >= 300 {
		t.Fatalf("subscribe %s: %v %v", pres, res, err)
	}
	_, i := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	return dlg, i
}

// waitBasic waits for a NOTIFY of dlg after index i saying basic.
func waitBasic(t *testing.T, w *siptest.UA, dlg *siptest.Dialog, i int, basic string, timeout time.Duration) int {
	t.Helper()
	_, j := w.WaitNotify(timeout, i+1, func(r *sip.Request) bool {
		return siptest.InDialog(dlg)(r) && basicOf(t, r) == basic
	})
	return j
}

// TestPresenceFromRegister: a REGISTER makes the AOR open for a watcher,
// an unREGISTER closed.
func TestPresenceFromRegister(t *testing.T) {
	d := startDaemon(t, baseConfig)
	w := siptest.New(t, siptest.Options{Name: "watcher"})
	phone := siptest.New(t, siptest.Options{Name: "ann"})
	aor := "sip:ann@127.0.0.1"
	dlg, i := watch(t, w, d.UDP, aor)
	register(t, phone, d, aor, "c1", 1, []string{"<sip:ann@127.0.0.1:7200>;expires=600"})
	i = waitBasic(t, w, dlg, i, "open", 5*time.Second)
	register(t, phone, d, aor, "c1", 2, []string{"<sip:ann@127.0.0.1:7200>;expires=0"})
	waitBasic(t, w, dlg, i, "closed", 5*time.Second)
}

// TestPresenceTwoContacts: every contact counts: one leaving keeps the
// AOR open, the last leaving closes it.
func TestPresenceTwoContacts(t *testing.T) {
	d := startDaemon(t, baseConfig)
	w := siptest.New(t, siptest.Options{Name: "watcher"})
	phone := siptest.New(t, siptest.Options{Name: "ben"})
	aor := "sip:ben@127.0.0.1"
	dlg, i := watch(t, w, d.UDP, aor)
	register(t, phone, d, aor, "desk", 1, []string{"<sip:ben@127.0.0.1:7301>;expires=600"})
	i = waitBasic(t, w, dlg, i, "open", 5*time.Second)
	register(t, phone, d, aor, "mobile", 1, []string{"<sip:ben@127.0.0.1:7302>;expires=600"})
	n, i := w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if doc, err := pidf.Parse(n.Body()); err != nil || len(doc.Tuples) != 2 {
		t.Fatalf("two contacts: got %s, want two tuples", n.Body())
	}
	register(t, phone, d, aor, "desk", 2, []string{"<sip:ben@127.0.0.1:7301>;expires=0"})
	n, i = w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if basicOf(t, n) != "open" {
		t.Fatalf("one contact left: got %s, want still open", n.Body())
	}
	register(t, phone, d, aor, "mobile", 2, []string{"<sip:ben@127.0.0.1:7302>;expires=0"})
	waitBasic(t, w, dlg, i, "closed", 5*time.Second)
}

// TestPresenceExpiryAndNoFlap: a phone re-registering on time stays open
// the whole time; once it stops, its binding expires and the AOR closes.
func TestPresenceExpiryAndNoFlap(t *testing.T) {
	d := startDaemon(t, baseConfig+`
registrar: {min_expires: 1}
presence: {min_expires_publish: 1}
pua: {min_expires: 1}
`)
	w := siptest.New(t, siptest.Options{Name: "watcher"})
	phone := siptest.New(t, siptest.Options{Name: "cleo"})
	aor := "sip:cleo@127.0.0.1"
	dlg, i := watch(t, w, d.UDP, aor)
	start := len(w.Notifies())
	for cseq := uint32(1); cseq <= 5; cseq++ {
		register(t, phone, d, aor, "c1", cseq, []string{"<sip:cleo@127.0.0.1:7400>;expires=3"})
		if cseq == 1 {
			i = waitBasic(t, w, dlg, i, "open", 5*time.Second)
		}
		next := time.Now().Add(1500 * time.Millisecond)
		for time.Now().Before(next) { // re-register every 1.5 s, before the 3 s run out
			time.Sleep(50 * time.Millisecond)
		}
	}
	for k, n := range w.Notifies()[start:] {
		if siptest.InDialog(dlg)(n) && basicOf(t, n) != "open" {
			t.Fatalf("NOTIFY %d while registering on time: %s, want open", k, n.Body())
		}
	}
	waitBasic(t, w, dlg, i, "closed", 10*time.Second)
}

// TestPresencePublishSelection: with publish mode header, only REGISTERs
// carrying the header publish.
func TestPresencePublishSelection(t *testing.T) {
	d := startDaemon(t, baseConfig+`
pua_usrloc:
  publish: {mode: header, header: X-Publish-Presence, value: "yes"}
`)
	phone := siptest.New(t, siptest.Options{Name: "dan"})
	register(t, phone, d, "sip:quiet@127.0.0.1", "c1", 1, []string{"<sip:quiet@127.0.0.1:7500>;expires=600"})
	register(t, phone, d, "sip:loud@127.0.0.1", "c2", 1, []string{"<sip:loud@127.0.0.1:7501>;expires=600"}, "X-Publish-Presence: yes")
	waitFor(t, 5*time.Second, "loud's publication", func() bool {
		var list []struct{ URI string }
		return d.mi("presence_list", nil, &list) == nil && len(list) == 1 && list[0].URI == "sip:loud@127.0.0.1"
	})
}

// TestPresenceFromSIPpPhone: a SIPp phone registers and unregisters; an
// in-Go watcher sees it open, then closed.
func TestPresenceFromSIPpPhone(t *testing.T) {
	d := startDaemon(t, baseConfig)
	w := siptest.New(t, siptest.Options{Name: "watcher"})
	aor := "sip:sippphone@127.0.0.1"
	dlg, i := watch(t, w, d.UDP, aor)
	run := testpeer.SIPp(t, testpeer.SIPpOptions{
		Scenario: "testdata/sipp/phone-register.xml", Target: d.UDP.String(), Timeout: 30 * time.Second,
		Vars: map[string]string{"user": "sippphone", "pause": "1000"},
	})
	run.Start()
	i = waitBasic(t, w, dlg, i, "open", 10*time.Second)
	runSIPp(t, run, 1)
	waitBasic(t, w, dlg, i, "closed", 10*time.Second)
}

// TestPresenceFromRegisterKamailio: the same with Kamailio 5.6 as the
// presence server: the registrar is ours, the PUBLISHes go to Kamailio,
// the watcher is subscribed there.
func TestPresenceFromRegisterKamailio(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioOptions{Config: "presence"})
	kaddr := netip.MustParseAddrPort(k.Addr)
	d := startDaemon(t, baseConfig+"pua:\n  presence_server: \"sip:"+k.Addr+"\"\npresence: {enabled: false}\n")
	w := siptest.New(t, siptest.Options{Name: "kwatcher"})
	phone := siptest.New(t, siptest.Options{Name: "eve"})
	aor := "sip:eve@127.0.0.1"
	dlg, i := watch(t, w, kaddr, aor)
	register(t, phone, d, aor, "c1", 1, []string{"<sip:eve@127.0.0.1:7600>;expires=600"})
	register(t, phone, d, aor, "c2", 1, []string{"<sip:eve@127.0.0.1:7601>;expires=600"})
	// Kamailio runs PUBLISHes for one presentity in parallel worker
	// processes, each NOTIFYing from what it read, so each step waits for
	// the state the previous one left: two open tuples, then one open and
	// the removed one closed.
	_, i = w.WaitNotify(10*time.Second, i+1, func(r *sip.Request) bool {
		open, closed := tupleStates(r)
		return siptest.InDialog(dlg)(r) && open == 2 && closed == 0
	})
	register(t, phone, d, aor, "c1", 2, []string{"<sip:eve@127.0.0.1:7600>;expires=0"})
	// Kamailio still has the second contact's publication: still open.
	_, i = w.WaitNotify(10*time.Second, i+1, func(r *sip.Request) bool {
		open, _ := tupleStates(r)
		return siptest.InDialog(dlg)(r) && open == 1
	})
	// Kamailio NOTIFYs a removal before it drops the publication from its
	// cache; a removal processed meanwhile would aggregate the first one
	// back in. Fetch until the first is gone.
	waitFor(t, 10*time.Second, "Kamailio to drop the first contact's publication", func() bool {
		res, fdlg, err := w.Subscribe(ctxT(t), kaddr, siptest.Request{URI: aor, Headers: map[string]string{"Event": "presence", "Expires": "0"}})
		if err != nil || res.StatusCode >= 300 {
			t.Fatalf("fetch: %v %v", res, err)
		}
		n, _ := w.WaitNotify(5*time.Second, 0, siptest.InDialog(fdlg))
		open, closed := tupleStates(n)
		return open == 1 && closed == 0
	})
	register(t, phone, d, aor, "c2", 2, []string{"<sip:eve@127.0.0.1:7601>;expires=0"})
	_, _ = w.WaitNotify(10*time.Second, i+1, func(r *sip.Request) bool {
		return siptest.InDialog(dlg)(r) && (basicOf(t, r) == "closed" || len(strings.TrimSpace(string(r.Body()))) == 0)
	})
}
