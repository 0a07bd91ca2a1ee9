package test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
)

func publishPIDF(t *testing.T, ua *siptest.UA, d *daemon, pres, basic, note string) string {
	t.Helper()
	res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.PUBLISH, URI: pres,
		Headers: map[string]string{"Event": "presence", "Expires": "3600"}, ContentType: "application/pidf+xml", Body: pidfDoc(pres, basic, note)})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("publish %s: %v %v", pres, res, err)
	}
	return siptest.Header(res, "SIP-ETag")
}

// TestSubscribeLifecycle: initial SUBSCRIBE gets 200 (not 202) and a
// NOTIFY with the full state; a publication change is notified; a refresh
// gets a NOTIFY; Expires 0 ends it with terminated; CSeqs increase;
// Subscription-State carries the remaining expires; Contact is ours.
func TestSubscribeLifecycle(t *testing.T) {
	d := startDaemon(t, baseConfig)
	pub := siptest.New(t, siptest.Options{Name: "pub"})
	w := siptest.New(t, siptest.Options{Name: "watcher"})
	ctx := ctxT(t)
	pres := "sip:carol@127.0.0.1"
	publishPIDF(t, pub, d, pres, "open", "first")

	res, dlg, err := w.Subscribe(ctx, d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence;id=42", "Expires": "600", "Accept": "application/pidf+xml"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: got %v %v, want 200", res, err)
	}
	if siptest.Header(res, "Expires") != "600" || res.Contact() == nil {
		t.Fatalf("subscribe 200: Expires %q Contact %v, want 600 and a Contact", siptest.Header(res, "Expires"), res.Contact())
	}
	n, i := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	checkNotify(t, n, "presence;id=42", "active;expires=", "first")
	if n.Contact() == nil {
		t.Error("NOTIFY has no Contact")
	}
	cseq := siptest.CSeq(n)

	publishPIDF(t, pub, d, pres, "closed", "second")
	n, i = w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	checkNotify(t, n, "presence;id=42", "active;expires=", "second")
	if got := siptest.CSeq(n); got <= cseq {
		t.Errorf("CSeq after publish: got %d, want more than %d", got, cseq)
	}
	cseq = siptest.CSeq(n)

	res, err = dlg.Request(ctx, sip.SUBSCRIBE, map[string]string{"Event": "presence;id=42", "Expires": "300"})
	if err != nil || res.StatusCode != 200 || siptest.Header(res, "Expires") != "300" {
		t.Fatalf("refresh: got %v %v, want 200 with Expires 300", res, err)
	}
	n, i = w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	checkNotify(t, n, "presence;id=42", "active;expires=", "second")
	if ss := siptest.Header(n, "Subscription-State"); !strings.Contains(ss, "expires=300") && !strings.Contains(ss, "expires=299") {
		t.Errorf("Subscription-State after refresh: got %q, want expires=300", ss)
	}
	if got := siptest.CSeq(n); got <= cseq {
		t.Errorf("CSeq after refresh: got %d, want more than %d", got, cseq)
	}

	res, err = dlg.Request(ctx, sip.SUBSCRIBE, map[string]string{"Event": "presence;id=42", "Expires": "0"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("unsubscribe: got %v %v, want 200", res, err)
	}
	n, _ = w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if ss := siptest.Header(n, "Subscription-State"); !strings.HasPrefix(ss, "terminated") {
		t.Errorf("final NOTIFY: Subscription-State %q, want terminated", ss)
	}
	res, err = dlg.Request(ctx, sip.SUBSCRIBE, map[string]string{"Event": "presence;id=42", "Expires": "300"})
	if err != nil || res.StatusCode != 481 {
		t.Fatalf("refresh after unsubscribe: got %v %v, want 481", res, err)
	}
}

func checkNotify(t *testing.T, n *sip.Request, event, state, bodyPart string) {
	t.Helper()
	if got := siptest.Header(n, "Event"); got != event {
		t.Errorf("Event: got %q, want %q", got, event)
	}
	if got := siptest.Header(n, "Subscription-State"); !strings.HasPrefix(got, state) {
		t.Errorf("Subscription-State: got %q, want prefix %q", got, state)
	}
	if !strings.Contains(string(n.Body()), bodyPart) {
		t.Errorf("body: got %s, want it to contain %q", n.Body(), bodyPart)
	}
}

// TestSubscribeErrors: 481, 489, 423, 400 for missing parts.
func TestSubscribeErrors(t *testing.T) {
	d := startDaemon(t, baseConfig)
	w := siptest.New(t, siptest.Options{})
	ctx := ctxT(t)
	tests := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"unknown event", map[string]string{"Event": "weather"}, 489},
		{"missing event", map[string]string{}, 489},
		{"too brief", map[string]string{"Event": "presence", "Expires": "5"}, 423},
		{"bad expires", map[string]string{"Event": "presence", "Expires": "-1"}, 400},
		{"not acceptable", map[string]string{"Event": "presence", "Accept": "text/plain"}, 406},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _, err := w.Subscribe(ctx, d.UDP, siptest.Request{URI: "sip:dave@127.0.0.1", Headers: tt.headers})
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.want {
				t.Fatalf("got %d %s, want %d", res.StatusCode, res.Reason, tt.want)
			}
			if tt.want == 423 && siptest.Header(res, "Min-Expires") != "60" {
				t.Errorf("Min-Expires: got %q, want 60", siptest.Header(res, "Min-Expires"))
			}
		})
	}
	t.Run("unknown dialog", func(t *testing.T) {
		res, dlg, err := w.Subscribe(ctx, d.UDP, siptest.Request{URI: "sip:dave@127.0.0.1", Headers: map[string]string{"Event": "presence"}})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("subscribe: %v %v", res, err)
		}
		dlg.RemoteTag = "forged"
		res, err = dlg.Request(ctx, sip.SUBSCRIBE, map[string]string{"Event": "presence", "Expires": "600"})
		if err != nil || res.StatusCode != 481 {
			t.Fatalf("got %v %v, want 481", res, err)
		}
	})
}

// TestSubscribeFetch: an initial SUBSCRIBE with Expires 0 gets one NOTIFY
// with the state and terminated, and leaves nothing behind.
func TestSubscribeFetch(t *testing.T) {
	d := startDaemon(t, baseConfig)
	w := siptest.New(t, siptest.Options{})
	pres := "sip:erin@127.0.0.1"
	publishPIDF(t, w, d, pres, "open", "fetched")
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence", "Expires": "0"}})
	if err != nil || res.StatusCode != 200 || siptest.Header(res, "Expires") != "0" {
		t.Fatalf("fetch: got %v %v, want 200 Expires 0", res, err)
	}
	n, _ := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	checkNotify(t, n, "presence", "terminated;reason=timeout", "fetched")
	var subs []any
	if err := d.mi("subscriptions_list", nil, &subs); err != nil || len(subs) != 0 {
		t.Fatalf("subscriptions after fetch: got %v %v, want none", subs, err)
	}
}

// TestSubscribeExpiry: a subscription not refreshed ends with
// terminated;reason=timeout.
func TestSubscribeExpiry(t *testing.T) {
	d := startDaemon(t, baseConfig+`
presence:
  min_expires_subscribe: 1
`)
	w := siptest.New(t, siptest.Options{})
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: "sip:frank@127.0.0.1", Headers: map[string]string{"Event": "presence", "Expires": "1"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	n, _ := w.WaitNotify(5*time.Second, 0, func(r *sip.Request) bool {
		return siptest.InDialog(dlg)(r) && strings.HasPrefix(siptest.Header(r, "Subscription-State"), "terminated")
	})
	if got := siptest.Header(n, "Subscription-State"); got != "terminated;reason=timeout" {
		t.Errorf("got %q, want terminated;reason=timeout", got)
	}
	waitFor(t, 5*time.Second, "the subscription to go", func() bool {
		var subs []any
		return d.mi("subscriptions_list", nil, &subs) == nil && len(subs) == 0
	})
}

// TestNotifyRouteSet: the NOTIFY follows the Record-Route of the SUBSCRIBE.
func TestNotifyRouteSet(t *testing.T) {
	d := startDaemon(t, baseConfig)
	w := siptest.New(t, siptest.Options{})
	rr := "<sip:" + w.Addr("udp").String() + ";lr;proxy=test>"
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: "sip:gina@127.0.0.1", Headers: map[string]string{"Event": "presence", "Record-Route": rr}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	n, _ := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	if got := siptest.Header(n, "Route"); !strings.Contains(got, "proxy=test") {
		t.Errorf("Route: got %q, want the recorded route %s", got, rr)
	}
}

// TestNotifyFailures: a NOTIFY answered 481 ends the subscription; a 408
// ends it or keeps it as configured.
func TestNotifyFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		config string
		code   int
		ends   bool
	}{
		{"481 ends", "", 481, true},
		{"408 ends by default", "", 408, true},
		{"408 kept when configured", "presence:\n  end_subscription_on_timeout: false\n", 408, false},
		{"500 kept", "", 500, false},
		{"no answer ends", "", 0, true},
		{"no answer kept when configured", "presence:\n  end_subscription_on_timeout: false\n", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// A short T1 makes an unanswered NOTIFY time out in 64*T1 = 1.3 s.
			d := startDaemon(t, strings.Replace(baseConfig, "t1_ms: 100", "t1_ms: 20", 1)+tt.config)
			// The watcher's own stack would answer an unanswered NOTIFY
			// itself after its 64*T1: make that later than the daemon's.
			w := siptest.New(t, siptest.Options{T1: 1000})
			pres := "sip:hank@127.0.0.1"
			res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence"}})
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("subscribe: %v %v", res, err)
			}
			w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
			refused := make(chan struct{})
			var once sync.Once
			w.AnswerWith(func(r *sip.Request) int {
				code := 200
				once.Do(func() { code = tt.code; close(refused) })
				return code
			})
			publishPIDF(t, w, d, pres, "open", "refused")
			select {
			case <-refused:
			case <-time.After(5 * time.Second):
				t.Fatal("no NOTIFY after the publication")
			}
			if tt.ends {
				waitFor(t, 5*time.Second, "the subscription to end", func() bool {
					var subs []any
					return d.mi("subscriptions_list", nil, &subs) == nil && len(subs) == 0
				})
				return
			}
			// Kept: the next change still reaches the watcher.
			publishPIDF(t, w, d, pres, "open", "after")
			n, _ := w.WaitNotify(5*time.Second, 1, siptest.InDialog(dlg))
			if !strings.Contains(string(n.Body()), "after") {
				t.Errorf("got %s, want the state published after the failure", n.Body())
			}
		})
	}
}
