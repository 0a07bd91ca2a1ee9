package test

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
)

// The TestSIPp tests drive the daemon with SIPp (Debian's sip-tester),
// an independent SIP implementation, from the scenarios in
// testdata/sipp. They skip when sipp is not installed, and fail instead
// with PRESENCED_REQUIRE_PEERS=1 (as CI runs them).

// runSIPp runs a scenario against d to completion and fails the test
// unless every call succeeded.
func runSIPp(t *testing.T, run *testpeer.SIPpRun, calls int) testpeer.SIPpResult {
	t.Helper()
	res, err := run.Wait()
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Screen)
	}
	if res.Successful != calls || res.Failed != 0 {
		t.Fatalf("got %d successful and %d failed calls, want %d and 0\n%s", res.Successful, res.Failed, calls, res.Screen)
	}
	return res
}

// TestSIPpPublish: 200 publication life cycles (initial, refresh with
// the entity-tag, remove) at 100 a second from the bench scenario; all
// succeed and nothing is left.
func TestSIPpPublish(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, baseConfig)
	run := testpeer.SIPp(t, testpeer.SIPpOptions{
		Scenario: "testdata/sipp/publish.xml", Target: d.UDP.String(),
		Calls: 200, Rate: 100, NoMessageLog: true,
	})
	run.Start()
	runSIPp(t, run, 200)
	var list []any
	if err := d.mi("presence_list", nil, &list); err != nil || len(list) != 0 {
		t.Errorf("presence_list after every publication was removed: got %v %v, want nothing", list, err)
	}
}

// TestSIPpSubscribe: 200 subscription life cycles (SUBSCRIBE, NOTIFY,
// un-SUBSCRIBE, final NOTIFY) at 100 a second from the bench scenario;
// all succeed and no subscription is left.
func TestSIPpSubscribe(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, baseConfig)
	run := testpeer.SIPp(t, testpeer.SIPpOptions{
		Scenario: "testdata/sipp/subscribe.xml", Target: d.UDP.String(),
		Calls: 200, Rate: 100, NoMessageLog: true,
	})
	run.Start()
	runSIPp(t, run, 200)
	waitFor(t, 5*time.Second, "every subscription to end", func() bool {
		var subs []any
		return d.mi("subscriptions_list", nil, &subs) == nil && len(subs) == 0
	})
}

// TestSIPpWatcher: SIPp watches a presentity; once it has the offline
// NOTIFY, the in-Go UA publishes, and SIPp's checks (testdata/sipp/
// watch.xml) want a NOTIFY with Event presence, Subscription-State
// active;expires=N and the published PIDF. The NOTIFYs it logged are
// checked here too: CSeqs rising, the last one terminated.
func TestSIPpWatcher(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, baseConfig)
	run := testpeer.SIPp(t, testpeer.SIPpOptions{
		Scenario: "testdata/sipp/watch.xml", Target: d.UDP.String(), Timeout: 30 * time.Second,
	})
	run.Start()
	waitFor(t, 10*time.Second, "SIPp to get the first NOTIFY", func() bool { return len(run.Received("NOTIFY")) >= 1 })
	ua := siptest.New(t, siptest.Options{Name: "publisher"})
	pres := "sip:sippwatched@127.0.0.1"
	res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.PUBLISH, URI: pres,
		Headers: map[string]string{"Event": "presence", "Expires": "600"}, ContentType: "application/pidf+xml",
		Body: pidfDoc(pres, "open", "published by the Go UA")})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("PUBLISH: got %v %v, want 200", res, err)
	}
	out := runSIPp(t, run, 1)
	notifies := out.Received("NOTIFY")
	if len(notifies) != 3 {
		t.Fatalf("SIPp got %d NOTIFYs, want 3 (offline, published, terminated)", len(notifies))
	}
	for i := 1; i < len(notifies); i++ {
		if notifies[i].CSeq() <= notifies[i-1].CSeq() {
			t.Errorf("NOTIFY %d has CSeq %d, want more than %d", i, notifies[i].CSeq(), notifies[i-1].CSeq())
		}
	}
	if got := notifies[2].Get("Subscription-State"); !strings.HasPrefix(got, "terminated") {
		t.Errorf("last NOTIFY: Subscription-State %q, want terminated", got)
	}
}

// TestSIPpLargeNotify: SIPp subscribes over UDP and publishes a PIDF
// whose note alone is 1619 bytes (testdata/sipp/large.xml); the NOTIFY
// carrying it is over 1300 bytes (RFC 3261 18.1.1 would have it go over
// TCP, which SIPp does not listen on) and must still arrive, over UDP,
// whole.
func TestSIPpLargeNotify(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, baseConfig)
	run := testpeer.SIPp(t, testpeer.SIPpOptions{
		Scenario: "testdata/sipp/large.xml", Target: d.UDP.String(), Transport: "u1", Timeout: 30 * time.Second,
	})
	run.Start()
	out := runSIPp(t, run, 1)
	var large *testpeer.SIPMessage
	for _, n := range out.Received("NOTIFY") {
		if strings.Contains(n.Body, "large-notify-0090") {
			large = &n
			break
		}
	}
	if large == nil {
		t.Fatalf("no NOTIFY with the large note among those SIPp got:\n%s", out.MessageLog)
	}
	if len(large.Raw) <= 1300 {
		t.Errorf("the NOTIFY is %d bytes, want over 1300 (the case under test)", len(large.Raw))
	}
	if large.Transport != "" && !strings.EqualFold(large.Transport, "UDP") {
		t.Errorf("the NOTIFY came over %s, want UDP", large.Transport)
	}
	for _, tok := range []string{"large-notify-0001 ", "large-notify-0045 ", "large-notify-0090</note>"} {
		if !strings.Contains(large.Body, tok) {
			t.Errorf("the NOTIFY body lacks %q: cut or mangled", tok)
		}
	}
}
