package pua_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	. "github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/store/memory"
)

// uas is a scripted presence server: each PUBLISH and SUBSCRIBE is
// recorded and answered by script.
type uas struct {
	t      *testing.T
	stack  *sipnet.Stack
	mu     sync.Mutex
	reqs   []*sip.Request
	script func(n int, req *sip.Request) (code int, hdrs map[string]string) // n counts from 0
	seen   chan struct{}
}

func newUAS(t *testing.T, script func(n int, req *sip.Request) (int, map[string]string)) *uas {
	t.Helper()
	cfg := sipnet.Default()
	cfg.Listen = []string{"udp:127.0.0.1:0"}
	cfg.T1 = 20
	st, err := sipnet.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &uas{t: t, stack: st, script: script, seen: make(chan struct{}, 1000)}
	h := func(tx *sipnet.ServerTx) {
		u.mu.Lock()
		n := len(u.reqs)
		u.reqs = append(u.reqs, tx.Request())
		u.mu.Unlock()
		code, hdrs := u.script(n, tx.Request())
		u.seen <- struct{}{}
		if code == 0 {
			return // no answer: the client times out
		}
		res := tx.NewResponse(code, "Scripted")
		for k, v := range hdrs {
			res.AppendHeader(sip.NewHeader(k, v))
		}
		_ = tx.Respond(res)
	}
	st.Handle(sip.PUBLISH, h)
	st.Handle(sip.SUBSCRIBE, h)
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_ = st.Stop(ctx)
	})
	return u
}

func (u *uas) requests() []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*sip.Request(nil), u.reqs...)
}

// wait waits until n requests have arrived.
func (u *uas) wait(n int, timeout time.Duration) []*sip.Request {
	u.t.Helper()
	deadline := time.After(timeout)
	for {
		if r := u.requests(); len(r) >= n {
			return r
		}
		select {
		case <-u.seen:
		case <-deadline:
			u.t.Fatalf("got %d requests, want %d", len(u.requests()), n)
		}
	}
}

func (u *uas) addr() string {
	a, _ := u.stack.Addr("udp")
	return "sip:" + a.String()
}

// newClient starts a pua core publishing to server (a SIP URI), with a
// fast T1 so timeouts come quickly.
func newClient(t *testing.T, server string, mutate func(*Config)) *Client {
	t.Helper()
	scfg := sipnet.Default()
	scfg.Listen = []string{"udp:127.0.0.1:0"}
	scfg.T1 = 10
	st, err := sipnet.New(scfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default()
	cfg.PresenceServer = server
	cfg.Shards = 2
	cfg.MinExpires = 1
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := New(cfg, Deps{SIP: st, Store: memory.New()})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = c.Stop(ctx)
		_ = st.Stop(ctx)
	})
	return c
}

func hdr(m *sip.Request, name string) string {
	for _, h := range m.Headers() {
		if strings.EqualFold(h.Name(), name) {
			return h.Value()
		}
	}
	return ""
}

// etagServer answers every PUBLISH 200 with a fresh ETag etag<n> and the
// Expires asked (or grant when not zero).
func etagServer(grant int) func(n int, req *sip.Request) (int, map[string]string) {
	return func(n int, req *sip.Request) (int, map[string]string) {
		exp := hdr(req, "Expires")
		if grant > 0 && exp != "0" {
			exp = strconv.Itoa(grant)
		}
		return 200, map[string]string{"SIP-ETag": fmt.Sprintf("etag%d", n), "Expires": exp}
	}
}

func publish(t *testing.T, c *Client, r PublishRequest) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if r.Presentity == "" {
		r.Presentity = "sip:alice@example.com"
	}
	if r.Event == "" {
		r.Event = "presence"
	}
	if r.Source == "" {
		r.Source = SourceUsrloc
	}
	return c.PublishWait(ctx, r)
}

var body = []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"><tuple id="t"><status><basic>open</basic></status></tuple></presence>`)

// TestPublishLifecycle: initial, refresh, modify and remove, each with the
// right SIP-If-Match, body and Expires.
func TestPublishLifecycle(t *testing.T) {
	u := newUAS(t, etagServer(0))
	c := newClient(t, u.addr(), nil)
	steps := []struct {
		name     string
		req      PublishRequest
		ifMatch  string
		withBody bool
		expires  string
	}{
		{"initial", PublishRequest{Expires: 600, Body: body}, "", true, "600"},
		{"refresh", PublishRequest{Expires: 600}, "etag0", false, "600"},
		{"modify", PublishRequest{Expires: 600, Body: body}, "etag1", true, "600"},
		{"remove", PublishRequest{Expires: 0}, "etag2", false, "0"},
	}
	for i, s := range steps {
		r := publish(t, c, s.req)
		if !r.OK() {
			t.Fatalf("%s: got %+v, want 2xx", s.name, r)
		}
		req := u.wait(i+1, 5*time.Second)[i]
		if got := hdr(req, "SIP-If-Match"); got != s.ifMatch {
			t.Errorf("%s: SIP-If-Match got %q, want %q", s.name, got, s.ifMatch)
		}
		if got := len(req.Body()) > 0; got != s.withBody {
			t.Errorf("%s: body present %v, want %v", s.name, got, s.withBody)
		}
		if got := hdr(req, "Expires"); got != s.expires {
			t.Errorf("%s: Expires got %q, want %s", s.name, got, s.expires)
		}
		if got := hdr(req, "Event"); got != "presence" {
			t.Errorf("%s: Event got %q", s.name, got)
		}
		if req.Recipient.String() != "sip:alice@example.com" || req.From().Address.String() != "sip:alice@example.com" {
			t.Errorf("%s: R-URI %s From %s, want the presentity", s.name, req.Recipient.String(), req.From().Address.String())
		}
	}
	recs, _ := c.Records(context.Background(), "")
	if len(recs) != 0 {
		t.Errorf("records after remove: got %+v, want none", recs)
	}
}

// Test412Republishes: a 412 to a refresh re-publishes the cached body as
// a new initial publication, at once.
func Test412Republishes(t *testing.T) {
	u := newUAS(t, func(n int, req *sip.Request) (int, map[string]string) {
		if n == 1 {
			return 412, nil
		}
		return 200, map[string]string{"SIP-ETag": fmt.Sprintf("etag%d", n), "Expires": hdr(req, "Expires")}
	})
	c := newClient(t, u.addr(), nil)
	if r := publish(t, c, PublishRequest{Expires: 600, Body: body}); !r.OK() {
		t.Fatal(r)
	}
	r := publish(t, c, PublishRequest{Expires: 600})
	if !r.OK() || r.ETag != "etag2" {
		t.Fatalf("refresh after 412: got %+v, want 2xx with etag2", r)
	}
	reqs := u.wait(3, 5*time.Second)
	if hdr(reqs[2], "SIP-If-Match") != "" || string(reqs[2].Body()) != string(body) {
		t.Errorf("after 412: got If-Match %q body %q, want an initial PUBLISH with the cached body", hdr(reqs[2], "SIP-If-Match"), reqs[2].Body())
	}
}

// Test423RetriesWithMinExpires: a 423 is retried with its Min-Expires.
func Test423RetriesWithMinExpires(t *testing.T) {
	u := newUAS(t, func(n int, req *sip.Request) (int, map[string]string) {
		if n == 0 {
			return 423, map[string]string{"Min-Expires": "1800"}
		}
		return 200, map[string]string{"SIP-ETag": "e", "Expires": hdr(req, "Expires")}
	})
	c := newClient(t, u.addr(), nil)
	r := publish(t, c, PublishRequest{Expires: 60, Body: body})
	if !r.OK() || r.Expires != 1800 {
		t.Fatalf("got %+v, want 2xx with Expires 1800", r)
	}
	if got := hdr(u.wait(2, 5*time.Second)[1], "Expires"); got != "1800" {
		t.Errorf("retry Expires: got %s, want 1800", got)
	}
}

// TestBackoffKeepsRecord: a 503 with Retry-After and then a timeout keep
// the record, which is published once the server answers.
func TestBackoffKeepsRecord(t *testing.T) {
	u := newUAS(t, func(n int, req *sip.Request) (int, map[string]string) {
		switch n {
		case 0:
			return 503, map[string]string{"Retry-After": "1"}
		case 1:
			return 0, nil // no answer: a local timeout
		}
		return 200, map[string]string{"SIP-ETag": "late", "Expires": hdr(req, "Expires")}
	})
	c := newClient(t, u.addr(), nil)
	r := publish(t, c, PublishRequest{Expires: 600, Body: body})
	if r.Code != 503 {
		t.Fatalf("first outcome: got %+v, want the 503", r)
	}
	start := time.Now()
	reqs := u.wait(3, 10*time.Second)
	if d := reqs[1].Body(); string(d) != string(body) {
		t.Errorf("retry body: got %q", d)
	}
	if time.Since(start) < 900*time.Millisecond {
		t.Errorf("retried after %v, want Retry-After (1 s) honoured", time.Since(start))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, _ := c.Records(context.Background(), "")
		if len(recs) == 1 && recs[0].ETag == "late" && recs[0].State == "published" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("records: got %+v, want one published with ETag late", recs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestQueueOrder: updates issued at once go out one at a time, each with
// the ETag of the previous answer.
func TestQueueOrder(t *testing.T) {
	u := newUAS(t, etagServer(0))
	c := newClient(t, u.addr(), nil)
	if r := publish(t, c, PublishRequest{Expires: 600, Body: body}); !r.OK() {
		t.Fatal(r)
	}
	var wg sync.WaitGroup
	results := make([]Result, 5)
	for i := range 5 {
		wg.Add(1)
		b := []byte(strings.Replace(string(body), "open", fmt.Sprintf("open%d", i), 1))
		c.Publish(PublishRequest{Presentity: "sip:alice@example.com", Event: "presence", Source: SourceUsrloc, Expires: 600, Body: b},
			func(r Result) { results[i] = r; wg.Done() })
	}
	wg.Wait()
	reqs := u.requests()
	if len(reqs) != 6 {
		t.Fatalf("got %d PUBLISHes, want 6", len(reqs))
	}
	for i := 1; i < 6; i++ {
		if got, want := hdr(reqs[i], "SIP-If-Match"), fmt.Sprintf("etag%d", i-1); got != want {
			t.Errorf("PUBLISH %d: SIP-If-Match got %q, want %q", i, got, want)
		}
		if !strings.Contains(string(reqs[i].Body()), fmt.Sprintf("open%d", i-1)) {
			t.Errorf("PUBLISH %d: body %s, want update %d", i, reqs[i].Body(), i-1)
		}
	}
	for i, r := range results {
		if !r.OK() {
			t.Errorf("update %d: %+v", i, r)
		}
	}
}

// TestRefreshBeforeExpiry: a publication "until removed" granted 3 s is
// refreshed before it lapses, again and again.
func TestRefreshBeforeExpiry(t *testing.T) {
	type stamp struct {
		at  time.Time
		req *sip.Request
	}
	var mu sync.Mutex
	var got []stamp
	u := newUAS(t, func(n int, req *sip.Request) (int, map[string]string) {
		mu.Lock()
		got = append(got, stamp{time.Now(), req})
		mu.Unlock()
		return 200, map[string]string{"SIP-ETag": fmt.Sprintf("etag%d", n), "Expires": "3"}
	})
	c := newClient(t, u.addr(), nil)
	if r := publish(t, c, PublishRequest{Expires: Forever, Body: body}); !r.OK() {
		t.Fatal(r)
	}
	u.wait(4, 15*time.Second)
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < 4; i++ {
		gap := got[i].at.Sub(got[i-1].at)
		if gap >= 3*time.Second {
			t.Errorf("refresh %d came %v after the previous grant of 3 s: the publication lapsed", i, gap)
		}
		if hdr(got[i].req, "SIP-If-Match") != fmt.Sprintf("etag%d", i-1) || len(got[i].req.Body()) != 0 {
			t.Errorf("refresh %d: If-Match %q body %d bytes, want etag%d and no body", i, hdr(got[i].req, "SIP-If-Match"), len(got[i].req.Body()), i-1)
		}
	}
}

// TestDesiredExpiryRemoves: a publication is withdrawn at the owner's
// desired expiry, not before, even when the server granted longer.
func TestDesiredExpiryRemoves(t *testing.T) {
	u := newUAS(t, etagServer(3600))
	c := newClient(t, u.addr(), nil)
	start := time.Now()
	if r := publish(t, c, PublishRequest{Expires: 2, Body: body}); !r.OK() {
		t.Fatal(r)
	}
	reqs := u.wait(2, 10*time.Second)
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Errorf("withdrawn after %v, want not before the desired 2 s", d)
	}
	if hdr(reqs[1], "Expires") != "0" || hdr(reqs[1], "SIP-If-Match") != "etag0" {
		t.Errorf("got Expires %q If-Match %q, want a removal of etag0", hdr(reqs[1], "Expires"), hdr(reqs[1], "SIP-If-Match"))
	}
}

// TestOtherErrorEndsRecord: a 403 ends the record and tells the owner.
func TestOtherErrorEndsRecord(t *testing.T) {
	u := newUAS(t, func(n int, req *sip.Request) (int, map[string]string) {
		if n == 0 {
			return 200, map[string]string{"SIP-ETag": "e0", "Expires": "2"}
		}
		return 403, nil
	})
	ended := make(chan Result, 1)
	c := newClient(t, u.addr(), nil)
	c.Register(SourceUsrloc, Handler{PublicationEnded: func(_ Publication, r Result) { ended <- r }})
	if r := publish(t, c, PublishRequest{Expires: Forever, Body: body}); !r.OK() {
		t.Fatal(r)
	}
	select {
	case r := <-ended:
		if r.Code != 403 {
			t.Errorf("got %+v, want the 403", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the owner was not told")
	}
	recs, _ := c.Records(context.Background(), "")
	if len(recs) != 0 {
		t.Errorf("records: got %+v, want none", recs)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
