package test

import (
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
)

// The TestBug tests reproduce daemon bugs found by the bad-input, fuzz and
// restart tests, each on its own, and fail until the bug is fixed. Each
// says what is sent, what comes back, and what RFC or design rule it
// breaks.

// sqliteConfig is baseConfig on an SQLite file in dir, to restart on.
func sqliteConfig(dir string) string {
	return strings.Replace(baseConfig, "backend: memory", "backend: sqlite\n  path: "+strconv.Quote(filepath.Join(dir, "presenced.db")), 1)
}

// listSubscriptions returns the ids of the daemon's subscriptions.
func listSubscriptions(t *testing.T, d *daemon) []string {
	t.Helper()
	var list []struct {
		ID string `json:"id"`
	}
	if err := d.mi("subscriptions_list", nil, &list); err != nil {
		t.Fatalf("subscriptions_list: %v", err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

// metric returns the value of a Prometheus counter or gauge without
// labels from the daemon's /metrics, 0 when absent.
func metric(t *testing.T, d *daemon, name string) float64 {
	t.Helper()
	res, err := http.Get("http://" + d.MI + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// TestBugUnsubscribeRevivedAfterRestart: a subscription ended by an
// un-SUBSCRIBE (answered 200, final NOTIFY terminated) is back after a
// restart, and the daemon notifies a watcher that left.
//
// Cause: resubscribe (presence/subscribe.go) submits the store delete,
// then dropSub queues the final NOTIFY before it sets sub.gone; sendNext
// (presence/notify.go) sends it at once and, seeing !sub.gone, submits
// the write-behind PutSubscriptions after the delete. The committer's
// merge keeps the last change of a key, so the row is written back.
// subExpired and a deny through watcher_authorize take the same path.
func TestBugUnsubscribeRevivedAfterRestart(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, sqliteConfig(dir))
	w := siptest.New(t, siptest.Options{Name: "leaver"})
	pres := "sip:revived@127.0.0.1"
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: got %v %v, want 200", res, err)
	}
	_, i := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	// Once the daemon has the 200 to its NOTIFY, none is in flight and the
	// final NOTIFY goes out at once, as it does for any watcher that
	// leaves a while after its last NOTIFY.
	waitFor(t, 5*time.Second, "the NOTIFY's 200 to reach the daemon", func() bool {
		return metric(t, d, "presenced_notify_sent_total") >= 1
	})
	res, err = dlg.Request(ctxT(t), sip.SUBSCRIBE, map[string]string{"Event": "presence", "Expires": "0"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("un-SUBSCRIBE: got %v %v, want 200", res, err)
	}
	w.WaitNotify(5*time.Second, i+1, func(r *sip.Request) bool {
		return siptest.InDialog(dlg)(r) && strings.HasPrefix(siptest.Header(r, "Subscription-State"), "terminated")
	})
	if ids := listSubscriptions(t, d); len(ids) != 0 {
		t.Fatalf("before the restart: got subscriptions %v, want none", ids)
	}
	d.stop()

	d = startDaemon(t, sqliteConfig(dir))
	if ids := listSubscriptions(t, d); len(ids) != 0 {
		t.Errorf("after the restart: got subscriptions %v, want none (the watcher unsubscribed before)", ids)
	}
}

// TestBugGracefulStopDropsSubscriptions: a subscription whose NOTIFY is
// still unanswered when the daemon stops gracefully (SIGTERM) is deleted
// from the store, so it is gone after the restart although the watcher
// never failed. Under load every subscription with a NOTIFY in flight is
// lost this way (TestRestartGraceful).
//
// Cause: server.Stop stops the SIP stack before the presence server; the
// stack ends the NOTIFY client transactions with ErrStopped, notifyDone
// (presence/notify.go) takes that as a transport failure and, with
// end_subscription_on_timeout (the default), calls dropSubQuietly, whose
// delete the committer flushes on the way out.
func TestBugGracefulStopDropsSubscriptions(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, sqliteConfig(dir))
	w := siptest.New(t, siptest.Options{Name: "slow", T1: 1000})
	slow := make(chan struct{}, 1)
	w.AnswerWith(func(*sip.Request) int {
		select {
		case slow <- struct{}{}:
		default:
		}
		return 0 // no answer yet: the NOTIFY stays in flight
	})
	pres := "sip:inflight@127.0.0.1"
	res, _, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: got %v %v, want 200", res, err)
	}
	select {
	case <-slow:
	case <-time.After(5 * time.Second):
		t.Fatal("no NOTIFY after the SUBSCRIBE")
	}
	before := listSubscriptions(t, d)
	if len(before) != 1 {
		t.Fatalf("before the stop: got subscriptions %v, want one", before)
	}
	d.stop() // well within the NOTIFY's 64*T1

	d = startDaemon(t, sqliteConfig(dir))
	if after := listSubscriptions(t, d); len(after) != 1 || after[0] != before[0] {
		t.Errorf("after a graceful restart: got subscriptions %v, want %v (acknowledged, never ended)", after, before)
	}
}

// TestBugSubscribeUnusableContact: a SUBSCRIBE whose Contact cannot be a
// remote target gets 200 and then never a NOTIFY: the subscription is
// dropped silently at the first NOTIFY ("cannot build notify"). RFC 3261
// 8.1.1.8 and 12.1.2 want exactly one SIP or SIPS URI in the Contact of a
// request that makes a dialog, and RFC 6665 4.2.1 wants a NOTIFY at once
// after the 200; such a SUBSCRIBE should get 400.
//
// Cause: handleSubscribe (presence/subscribe.go) checks only that a
// Contact is present; the remote target is parsed lazily by parseURIs
// (presence/notify.go) when the first NOTIFY is built. With two URIs the
// last one is taken.
func TestBugSubscribeUnusableContact(t *testing.T) {
	d := startDaemon(t, baseConfig)
	for _, tc := range []struct{ name, contact string }{
		{"wildcard", "*"},
		{"tel URI", "<tel:+15551234567>"},
		{"no host", "<sip:w@>"},
		{"two URIs", "<sip:a@127.0.0.1:9>, <sip:b@127.0.0.1:9>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, "udp", d.UDP.String())
			id := "contact-" + rawID()
			c.send(rawReq("SUBSCRIBE", "sip:contact-"+rawID()+"@127.0.0.1", id, c.Local(), "UDP", []string{"Event: presence", "Contact: " + tc.contact}, ""))
			if res := c.response(id, 5*time.Second); res == nil || res.Code != 400 {
				t.Errorf("SUBSCRIBE with Contact %s: got %v, want 400", tc.contact, res)
			}
		})
	}
}

// TestBugRequireNotChecked: a request requiring an extension the daemon
// does not support is served as if it did not. RFC 3261 8.2.2.3: the UAS
// MUST answer 420 (Bad Extension) with an Unsupported header listing the
// option tags it does not understand.
//
// Cause: neither sipnet's checks (sipnet/validate.go checkRequest) nor the
// handlers look at Require.
func TestBugRequireNotChecked(t *testing.T) {
	d := startDaemon(t, baseConfig)
	uri := "sip:require@127.0.0.1"
	for _, tc := range []struct {
		method string
		extra  []string
		body   string
	}{
		{"OPTIONS", nil, ""},
		{"PUBLISH", []string{"Event: presence", "Content-Type: application/pidf+xml"}, string(pidfDoc(uri, "open", "x"))},
		{"SUBSCRIBE", []string{"Event: presence", "Contact: <sip:w@127.0.0.1:9>"}, ""},
	} {
		t.Run(tc.method, func(t *testing.T) {
			c := dialRaw(t, "udp", d.UDP.String())
			id := "require-" + rawID()
			c.send(rawReq(tc.method, uri, id, c.Local(), "UDP", append([]string{"Require: x-no-such-extension"}, tc.extra...), tc.body))
			res := c.response(id, 5*time.Second)
			if res == nil || res.Code != 420 || !strings.Contains(res.Get("Unsupported"), "x-no-such-extension") {
				t.Errorf("%s with Require x-no-such-extension: got %v (Unsupported %q), want 420 with Unsupported: x-no-such-extension", tc.method, res, res.Get("Unsupported"))
			}
		})
	}
}

// TestBugRepeatedSingleValueHeaders: a request with two Call-ID, From, To
// or CSeq headers is served (the parser keeps one of them: the response
// to a double Call-ID carries the second). RFC 3261 7.3 allows repeated
// header rows only for comma-separated lists, and the RFC 4475 torture
// test "multi01" (multiple values in single-value required fields) says an
// element receiving it MUST respond 400.
//
// Cause: sipgo's parser accepts the repetition and sipnet's checkRequest
// (sipnet/validate.go) does not count these headers.
func TestBugRepeatedSingleValueHeaders(t *testing.T) {
	d := startDaemon(t, baseConfig)
	for _, h := range []string{"Call-ID: second-call-id", "From: <sip:other@127.0.0.1>;tag=second", "To: <sip:other@127.0.0.1>", "CSeq: 7 OPTIONS", "Max-Forwards: 5"} {
		name, _, _ := strings.Cut(h, ":")
		t.Run(name, func(t *testing.T) {
			c := dialRaw(t, "udp", d.UDP.String())
			id := "multi-" + rawID()
			c.send(rawReq("OPTIONS", "sip:x@127.0.0.1", id, c.Local(), "UDP", []string{"+" + h}, ""))
			res := c.response("", 5*time.Second)
			if res == nil || res.Code != 400 {
				t.Errorf("OPTIONS with two %s headers: got %v, want 400", name, res)
			}
		})
	}
}

// TestBugLowerCaseMethod: method names are case-sensitive (RFC 3261 7.1),
// so "options" is an unknown extension method and gets 405 with Allow.
// The daemon answers 400 "CSeq method does not match the request",
// although the request line and the CSeq both say "options".
//
// Cause: sipgo's parseRequestLine upper-cases the method of the request
// line but not the one of the CSeq, and sipnet's checkRequest compares
// the two.
func TestBugLowerCaseMethod(t *testing.T) {
	d := startDaemon(t, baseConfig)
	c := dialRaw(t, "udp", d.UDP.String())
	id := "lower-" + rawID()
	c.send(rawReq("options", "sip:x@127.0.0.1", id, c.Local(), "UDP", nil, ""))
	if res := c.response(id, 5*time.Second); res == nil || res.Code != 405 || res.Get("Allow") == "" {
		t.Errorf("request with method \"options\": got %v, want 405 with Allow", res)
	}
}

// TestBugTCPSplitRequest: over TCP, a request whose header section the
// daemon reads in two pieces gets 405 Method Not Allowed: an OPTIONS with
// a 6 KB header, or the request of a pipelined burst that straddles a
// 4 KB read. (Regression of the lower-case method check.)
//
// Cause: frameTCP (sipnet/tcp.go) takes rawMethod and repeatedRawHeader
// from stream.Buffer() before each ParseNext, but sipgo's ParserStream has
// already consumed the start line (and the complete headers) of a message
// it could not finish; on the next read the buffer starts inside the
// headers, rawMethod returns the name of a header ("X-Pad:"), which is not
// the method, and handleRequest (sipnet/worker.go) answers 405. The
// repeated-header check sees only part of the headers the same way.
func TestBugTCPSplitRequest(t *testing.T) {
	d := startDaemon(t, baseConfig)
	t.Run("6 KB header", func(t *testing.T) {
		c := dialRaw(t, "tcp", d.TCP.String())
		id := "long-" + rawID()
		c.send(rawReq("OPTIONS", "sip:x@127.0.0.1", id, c.Local(), "TCP", []string{"X-Pad: " + strings.Repeat("p", 6000)}, ""))
		if res := c.response(id, 5*time.Second); res == nil || res.Code != 200 {
			t.Errorf("OPTIONS with a 6 KB header over TCP: got %v, want 200", res)
		}
	})
	t.Run("40 pipelined requests", func(t *testing.T) {
		c := dialRaw(t, "tcp", d.TCP.String())
		var burst []byte
		for i := range 40 {
			burst = append(burst, rawReq("OPTIONS", "sip:x@127.0.0.1", "pipe-"+strconv.Itoa(i), c.Local(), "TCP", nil, "")...)
		}
		c.send(burst) // about 10 KB
		for i := range 40 {
			if res := c.response("pipe-"+strconv.Itoa(i), 5*time.Second); res == nil || res.Code != 200 {
				t.Errorf("request %d of the burst: got %v, want 200", i, res)
			}
		}
	})
}
