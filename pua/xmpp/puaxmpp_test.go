package puaxmpp

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/watcherinfo"
	"github.com/presenced/presenced/xmpp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakePUA records the requests; the test answers them.
type fakePUA struct {
	mu   sync.Mutex
	pubs []pua.PublishRequest
	subs []pua.SubscribeRequest
	done []func(pua.Result) // of subs, in order
	h    pua.Handler
	// records are what Records returns (a restart).
	records []pua.RecordInfo
}

func (f *fakePUA) Publish(r pua.PublishRequest, done func(pua.Result)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pubs = append(f.pubs, r)
}

func (f *fakePUA) Subscribe(r pua.SubscribeRequest, done func(pua.Result)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.subs = append(f.subs, r)
	f.done = append(f.done, done)
}

func (f *fakePUA) Register(_ pua.Source, h pua.Handler) { f.h = h }

func (f *fakePUA) Records(context.Context, string) ([]pua.RecordInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pua.RecordInfo(nil), f.records...), nil
}

func (f *fakePUA) publications() []pua.PublishRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pua.PublishRequest(nil), f.pubs...)
}

func (f *fakePUA) subscriptions() []pua.SubscribeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pua.SubscribeRequest(nil), f.subs...)
}

// fakeGateway records what is sent.
type fakeGateway struct {
	mapper *xmpp.Mapper
	mu     sync.Mutex
	sent   []xmpp.Stanza
	h      xmpp.Handler
	down   bool
}

func (g *fakeGateway) Send(s xmpp.Stanza) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.down {
		return xmpp.ErrDown
	}
	g.sent = append(g.sent, s)
	return nil
}

func (g *fakeGateway) Handle(h xmpp.Handler) { g.h = h }
func (g *fakeGateway) Mapper() *xmpp.Mapper  { return g.mapper }
func (g *fakeGateway) take() (out []xmpp.Stanza) {
	g.mu.Lock()
	out, g.sent = g.sent, nil
	g.mu.Unlock()
	return
}

type fakeAuth struct {
	mu    sync.Mutex
	calls []string
}

func (a *fakeAuth) Authorize(_ context.Context, presentity, watcher, event string, allow bool) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, fmt.Sprintf("%s %s %s %v", presentity, watcher, event, allow))
	return nil
}

type fixture struct {
	m    *Module
	pua  *fakePUA
	gw   *fakeGateway
	auth *fakeAuth
}

func newFixture(t *testing.T, mutate func(*Config)) *fixture {
	t.Helper()
	xc := xmpp.Default()
	xc.XMPPDomain = "sip.example.com"
	xc.XMPPUserDomains = []string{"example.com"}
	cfg := Default()
	cfg.ResyncTimeout = 1
	if mutate != nil {
		mutate(&cfg)
	}
	f := &fixture{pua: &fakePUA{}, gw: &fakeGateway{mapper: xmpp.NewMapper(xc)}, auth: &fakeAuth{}}
	m, err := New(cfg, Deps{PUA: f.pua, Gateway: f.gw, Authorizer: f.auth})
	if err != nil {
		t.Fatal(err)
	}
	f.m = m
	t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return f
}

func (f *fixture) presence(p xmpp.Presence) { f.gw.h.Presence(p) }

func (f *fixture) notify(event, watcher, presentity, state string, body []byte) {
	f.pua.h.Notify(pua.Subscription{Event: event, Watcher: watcher, Presentity: presentity, State: state, NotifyBody: body}, &sip.Request{})
}

// TestPublishFromXMPP: an XMPP resource's presence is published once
// (its server sends it to every SIP contact), kept until it goes
// unavailable, then its closed state is published for offline_expires.
func TestPublishFromXMPP(t *testing.T) {
	f := newFixture(t, nil)
	p := xmpp.Presence{From: "alice@example.com/phone", To: "carol@sip.example.com", Show: xmpp.ShowDND, Status: "meeting", Priority: 10, HasPrio: true}
	f.presence(p)
	p.To = "dave@sip.example.com"
	f.presence(p)
	pubs := f.pua.publications()
	if len(pubs) != 1 {
		t.Fatalf("got %d PUBLISHes, want 1", len(pubs))
	}
	r := pubs[0]
	if r.Presentity != "sip:alice@example.com" || r.Expires != pua.Forever || r.OwnerID != "xmpp:phone" || r.Source != pua.SourceXMPP {
		t.Errorf("got %+v, want alice's, forever, owner xmpp:phone", r)
	}
	d, err := pidf.Parse(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	open, acts, note := pidf.Summary(d)
	if !open || !cmp.Equal(acts, []string{pidf.ActivityBusy}) || note != "meeting" || d.Tuples[0].Priority != "0.079" || d.Tuples[0].Contact != "xmpp:alice@example.com/phone" {
		t.Errorf("got %s, want open, busy, meeting, priority 0.079, the resource as contact", r.Body)
	}

	f.presence(xmpp.Presence{From: "alice@example.com/phone", To: "carol@sip.example.com", Type: xmpp.Unavailable, Status: "bye"})
	f.presence(xmpp.Presence{From: "alice@example.com/phone", To: "dave@sip.example.com", Type: xmpp.Unavailable, Status: "bye"})
	pubs = f.pua.publications()
	if len(pubs) != 2 {
		t.Fatalf("got %d PUBLISHes, want 2", len(pubs))
	}
	if r := pubs[1]; r.Expires != 3600 || r.OwnerID != "xmpp:phone" || !strings.Contains(string(r.Body), "closed") || !strings.Contains(string(r.Body), "bye") {
		t.Errorf("got %+v %s, want the closed state with the status for 3600 s", r, r.Body)
	}
	if st := f.m.Status(); st.Resources != 0 || st.Events["publish"] != 1 || st.Events["withdraw"] != 1 {
		t.Errorf("status %+v, want no resource, 1 publish, 1 withdraw", st)
	}
}

// TestSubscribeFromXMPP: a subscribe becomes a SIP subscription kept
// forever; the first active NOTIFY gives subscribed and the presence, an
// unchanged one nothing; a refusal gives the mapped error; the notifier
// ending it gives unsubscribed.
func TestSubscribeFromXMPP(t *testing.T) {
	f := newFixture(t, nil)
	f.presence(xmpp.Presence{From: "alice@example.com", To: "carol@sip.example.com", Type: xmpp.Subscribe})
	subs := f.pua.subscriptions()
	if len(subs) != 1 || subs[0].Presentity != "sip:carol@sip.example.com" || subs[0].Watcher != "sip:alice@example.com" || subs[0].Expires != pua.Forever || subs[0].Event != "presence" {
		t.Fatalf("got %+v, want one forever subscription of alice to carol", subs)
	}
	f.pua.done[0](pua.Result{Code: 200})
	f.notify("presence", "sip:alice@example.com", "sip:carol@sip.example.com", "pending", nil)
	if got := f.gw.take(); len(got) != 0 {
		t.Fatalf("pending: sent %+v, want nothing", got)
	}
	body := pidf.Rich(pidf.RichStatus{Entity: "sip:carol@sip.example.com", Open: true, Activities: []string{"vacation"}, Note: "in Rome"})
	f.notify("presence", "sip:alice@example.com", "sip:carol@sip.example.com", "active", body)
	f.notify("presence", "sip:alice@example.com", "sip:carol@sip.example.com", "active", body)
	want := []xmpp.Stanza{
		xmpp.Presence{From: "carol@sip.example.com", To: "alice@example.com", Type: xmpp.Subscribed},
		xmpp.Presence{From: "carol@sip.example.com", To: "alice@example.com", Show: xmpp.ShowXA, Status: "in Rome"},
	}
	if diff := cmp.Diff(want, f.gw.take()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A second subscribe while active is answered at once.
	f.presence(xmpp.Presence{From: "alice@example.com/x", To: "carol@sip.example.com", Type: xmpp.Subscribe})
	if got := f.gw.take(); len(got) != 2 || got[0].(xmpp.Presence).Type != xmpp.Subscribed {
		t.Errorf("second subscribe: sent %+v, want subscribed and the presence", got)
	}

	f.pua.h.SubscriptionEnded(pua.Subscription{Event: "presence", Watcher: "sip:alice@example.com", Presentity: "sip:carol@sip.example.com"}, pua.Result{Reason: "terminated: rejected"})
	if diff := cmp.Diff([]xmpp.Stanza{xmpp.Presence{From: "carol@sip.example.com", To: "alice@example.com", Type: xmpp.Unsubscribed}}, f.gw.take()); diff != "" {
		t.Errorf("ended: (-want +got):\n%s", diff)
	}

	// Refusals: 404 is item-not-found; a 503 is retried by the pua core
	// and not told.
	f.presence(xmpp.Presence{From: "alice@example.com", To: "nobody@sip.example.com", ID: "s1", Type: xmpp.Subscribe})
	f.presence(xmpp.Presence{From: "alice@example.com", To: "later@sip.example.com", ID: "s2", Type: xmpp.Subscribe})
	n := len(f.pua.done)
	f.pua.done[n-2](pua.Result{Code: 404, Reason: "Not Found"})
	f.pua.done[n-1](pua.Result{Code: 503, Reason: "Service Unavailable"})
	got := f.gw.take()
	if len(got) != 1 {
		t.Fatalf("refusals: sent %+v, want one error", got)
	}
	if p := got[0].(xmpp.Presence); p.Type != xmpp.TypeError || p.From != "nobody@sip.example.com" || p.Error == nil || p.Error.Condition != "item-not-found" {
		t.Errorf("got %+v, want item-not-found from nobody", p)
	}

	f.presence(xmpp.Presence{From: "alice@example.com", To: "carol@sip.example.com", Type: xmpp.Unsubscribe})
	if subs := f.pua.subscriptions(); subs[len(subs)-1].Expires != 0 {
		t.Errorf("unsubscribe sent %+v, want Expires 0", subs[len(subs)-1])
	}
}

// TestWatchersFromSIP: a SIP SUBSCRIBE to an XMPP user makes the gateway
// follow its watcher information; a pending SIP watcher becomes a
// subscribe request once (again after the link comes back); the XMPP
// answers decide.
func TestWatchersFromSIP(t *testing.T) {
	f := newFixture(t, nil)
	var ru sip.Uri
	_ = sip.ParseUri("sip:bob@example.com", &ru)
	req := sip.NewRequest(sip.SUBSCRIBE, ru)
	req.AppendHeader(sip.NewHeader("Event", "presence"))
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	req.AppendHeader(&sip.ToHeader{Address: ru})
	f.m.ObserveSubscribe(req)
	f.m.ObserveSubscribe(req)
	subs := f.pua.subscriptions()
	if len(subs) != 1 || subs[0].Event != "presence.winfo" || subs[0].Presentity != "sip:bob@example.com" || subs[0].Watcher != "sip:bob@example.com" || subs[0].Expires != 660 {
		t.Fatalf("got %+v, want one presence.winfo subscription of bob to bob for 660 s", subs)
	}
	// A refresh within the dialog (Request-URI: the server's Contact, To:
	// bob with a tag) for longer extends it.
	var contact sip.Uri
	_ = sip.ParseUri("sip:presence@127.0.0.1:5060", &contact)
	refresh := sip.NewRequest(sip.SUBSCRIBE, contact)
	th := &sip.ToHeader{Address: ru, Params: sip.NewParams()}
	th.Params.Add("tag", "t1")
	refresh.AppendHeader(th)
	refresh.AppendHeader(sip.NewHeader("Event", "presence"))
	refresh.AppendHeader(sip.NewHeader("Expires", "3600"))
	f.m.ObserveSubscribe(refresh)
	if subs := f.pua.subscriptions(); len(subs) != 2 || subs[1].Expires != 3660 {
		t.Fatalf("after the refresh got %+v, want a second request for 3660 s", subs)
	}
	f.pua.done = f.pua.done[:1]
	f.pua.subs = f.pua.subs[:1]

	winfo := func(state string, ws ...watcherinfo.Watcher) []byte {
		b, _ := watcherinfo.Write(&watcherinfo.Document{State: state, Lists: []watcherinfo.WatcherList{{Resource: "sip:bob@example.com", Package: "presence", Watchers: ws}}}, false)
		return b
	}
	dave := watcherinfo.Watcher{ID: "d1", Status: watcherinfo.StatusPending, Event: watcherinfo.EventSubscribe, URI: "sip:dave@sip.example.com"}
	erin := watcherinfo.Watcher{ID: "e1", Status: watcherinfo.StatusActive, Event: watcherinfo.EventApproved, URI: "sip:erin@sip.example.com"}
	f.notify("presence.winfo", "sip:bob@example.com", "sip:bob@example.com", "active", winfo(watcherinfo.Full, dave, erin))
	f.notify("presence.winfo", "sip:bob@example.com", "sip:bob@example.com", "active", winfo(watcherinfo.Full, dave, erin))
	want := []xmpp.Stanza{xmpp.Presence{From: "dave@sip.example.com", To: "bob@example.com", Type: xmpp.Subscribe}}
	if diff := cmp.Diff(want, f.gw.take()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	f.gw.h.Up()
	if diff := cmp.Diff(want, f.gw.take()); diff != "" {
		t.Fatalf("after the link came back (-want +got):\n%s", diff)
	}
	if st := f.m.Status(); st.Pending != 1 || st.Winfo != 1 {
		t.Errorf("status %+v, want 1 pending, 1 followed", st)
	}

	f.presence(xmpp.Presence{From: "bob@example.com", To: "dave@sip.example.com", Type: xmpp.Subscribed})
	f.presence(xmpp.Presence{From: "bob@example.com", To: "erin@sip.example.com", Type: xmpp.Unsubscribed})
	wantCalls := []string{
		"sip:bob@example.com sip:dave@sip.example.com presence true",
		"sip:bob@example.com sip:erin@sip.example.com presence false",
	}
	if diff := cmp.Diff(wantCalls, f.auth.calls); diff != "" {
		t.Errorf("authorizations (-want +got):\n%s", diff)
	}
}

// TestAuthorizeOff: with authorize false (OpenSIPS), answers are ignored.
func TestAuthorizeOff(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Authorize = false })
	f.presence(xmpp.Presence{From: "bob@example.com", To: "dave@sip.example.com", Type: xmpp.Subscribed})
	if len(f.auth.calls) != 0 {
		t.Errorf("got %v, want no authorization", f.auth.calls)
	}
}

// TestResync: after the link comes back, an XMPP user published for is
// probed; unconfirmed, it is withdrawn after resync_timeout.
func TestResync(t *testing.T) {
	f := newFixture(t, nil)
	f.presence(xmpp.Presence{From: "alice@example.com/a", To: "carol@sip.example.com", Status: "here"})
	f.presence(xmpp.Presence{From: "bob@example.com/b", To: "carol@sip.example.com", Status: "here"})
	f.gw.h.Up()
	want := []xmpp.Stanza{
		xmpp.Presence{From: "carol@sip.example.com", To: "alice@example.com", Type: xmpp.Probe},
		xmpp.Presence{From: "carol@sip.example.com", To: "bob@example.com", Type: xmpp.Probe},
	}
	got := f.gw.take()
	if diff := cmp.Diff(want, got, cmp.Transformer("sort", sortStanzas)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// bob confirms, alice does not.
	f.presence(xmpp.Presence{From: "bob@example.com/b", To: "carol@sip.example.com", Status: "here"})
	deadline := time.Now().Add(5 * time.Second)
	for len(f.pua.publications()) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no withdrawal after resync_timeout: %+v", f.pua.publications())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pubs := f.pua.publications()
	if len(pubs) != 3 || pubs[2].Presentity != "sip:alice@example.com" || !strings.Contains(string(pubs[2].Body), "closed") {
		t.Errorf("got %+v, want alice withdrawn only", pubs)
	}
}

func sortStanzas(in []xmpp.Stanza) []string {
	var out []string
	for _, s := range in {
		out = append(out, fmt.Sprintf("%+v", s))
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// TestRefusedPresence: presences the gateway cannot take.
func TestRefusedPresence(t *testing.T) {
	f := newFixture(t, nil)
	// A user of a domain the gateway does not serve.
	f.presence(xmpp.Presence{From: "eve@jabber.org", To: "carol@sip.example.com", ID: "x", Type: xmpp.Subscribe})
	got := f.gw.take()
	if len(got) != 1 || got[0].(xmpp.Presence).Error == nil || got[0].(xmpp.Presence).Error.Condition != "forbidden" {
		t.Errorf("got %+v, want forbidden", got)
	}
	if len(f.pua.subscriptions()) != 0 {
		t.Errorf("subscribed for a foreign user")
	}
}

func TestPresenceOf(t *testing.T) {
	rich := func(open bool, acts []string, note string) []byte {
		return pidf.Rich(pidf.RichStatus{Entity: "sip:c@s", Open: open, Activities: acts, Note: note})
	}
	prio := []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:c@s"><tuple id="t"><status><basic>open</basic></status><contact priority="0.5">sip:c@h</contact></tuple></presence>`)
	for _, tc := range []struct {
		name string
		body []byte
		want xmpp.Presence
	}{
		{"no body", nil, xmpp.Presence{Type: xmpp.Unavailable}},
		{"closed", rich(false, nil, "gone"), xmpp.Presence{Type: xmpp.Unavailable, Status: "gone"}},
		{"open", rich(true, nil, ""), xmpp.Presence{}},
		{"away", rich(true, []string{"away"}, "lunch"), xmpp.Presence{Show: xmpp.ShowAway, Status: "lunch"}},
		{"on the phone", rich(true, []string{"on-the-phone"}, ""), xmpp.Presence{Show: xmpp.ShowDND}},
		{"busy wins over away", rich(true, []string{"away", "meeting"}, ""), xmpp.Presence{Show: xmpp.ShowDND}},
		{"vacation", rich(true, []string{"vacation"}, ""), xmpp.Presence{Show: xmpp.ShowXA}},
		{"unknown activity", rich(true, []string{"playing"}, "chess"), xmpp.Presence{Status: "chess"}},
		{"note only", pidf.Basic(true, "sip:c@s", "t", "Do Not Disturb"), xmpp.Presence{Show: xmpp.ShowDND, Status: "Do Not Disturb"}},
		{"priority", prio, xmpp.Presence{Priority: 64, HasPrio: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := presenceOf(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := presenceOf([]byte("<presence")); err == nil {
		t.Error("a broken body: got no error")
	}
}

func TestRichPIDF(t *testing.T) {
	for _, tc := range []struct {
		show, activity string
	}{{xmpp.ShowAway, "away"}, {xmpp.ShowXA, "away"}, {xmpp.ShowDND, "busy"}, {xmpp.ShowChat, ""}, {"", ""}} {
		b := richPIDF("sip:a@example.com", "a@example.com", "r", xmpp.Presence{Show: tc.show, Status: "s", Priority: -3, HasPrio: true})
		d, err := pidf.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		open, acts, note := pidf.Summary(d)
		var want []string
		if tc.activity != "" {
			want = []string{tc.activity}
		}
		if !open || !cmp.Equal(acts, want) || note != "s" || d.Tuples[0].Priority != "0" {
			t.Errorf("show %q: got %s, want open, %v, note s, priority 0", tc.show, b, want)
		}
	}
}

// TestRestoreAfterRestart: the XMPP resources the pua core kept across a
// restart are probed when the link comes up (from a SIP user the XMPP
// user watches) and withdrawn when not confirmed.
func TestRestoreAfterRestart(t *testing.T) {
	f := newFixture(t, nil)
	f.pua.records = []pua.RecordInfo{
		{Kind: "publication", Presentity: "sip:alice@example.com", Event: "presence", Source: pua.SourceXMPP, OwnerID: "xmpp:phone", Desired: pua.Forever},
		{Kind: "publication", Presentity: "sip:alice@example.com", Event: "presence", Source: pua.SourceMI, OwnerID: "x", Desired: pua.Forever},
		{Kind: "subscription", Presentity: "sip:carol@sip.example.com", Watcher: "sip:alice@example.com", Event: "presence", Source: pua.SourceXMPP},
		{Kind: "subscription", Presentity: "sip:bob@example.com", Watcher: "sip:bob@example.com", Event: "presence.winfo", Source: pua.SourceXMPP, Desired: 600},
	}
	if err := f.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := f.m.Status(); st.Resources != 1 || st.Winfo != 1 {
		t.Fatalf("status %+v, want 1 resource and 1 followed watcher info", st)
	}
	f.gw.h.Up()
	want := []xmpp.Stanza{xmpp.Presence{From: "carol@sip.example.com", To: "alice@example.com", Type: xmpp.Probe}}
	if diff := cmp.Diff(want, f.gw.take()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(f.pua.publications()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("not withdrawn after resync_timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if p := f.pua.publications()[0]; p.Presentity != "sip:alice@example.com" || p.OwnerID != "xmpp:phone" || p.Expires != 3600 {
		t.Errorf("got %+v, want alice's phone withdrawn", p)
	}
}
