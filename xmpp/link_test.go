package xmpp_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/internal/testpeer"
	"github.com/presenced/presenced/xmpp"
	"github.com/presenced/presenced/xmpp/xmpptest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// gatewayConfig is a gateway for the component of s.
func gatewayConfig(t *testing.T, s *testpeer.ProsodyServer) xmpp.Config {
	t.Helper()
	host, port, err := net.SplitHostPort(s.ComponentAddr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := xmpp.Default()
	cfg.Enabled = true
	cfg.XMPPDomain = s.ComponentDomain
	cfg.XMPPHost = host
	cfg.XMPPPort, _ = strconv.Atoi(port)
	cfg.XMPPPassword = s.ComponentSecret
	cfg.XMPPUserDomains = []string{s.Domain}
	cfg.ReconnectMinMS = 50
	cfg.ReconnectMax = 1
	return cfg
}

// presences collects what a gateway handler receives.
type presences struct {
	mu      sync.Mutex
	list    []xmpp.Presence
	changed chan struct{}
}

func newPresences() *presences { return &presences{changed: make(chan struct{})} }

func (p *presences) add(x xmpp.Presence) {
	p.mu.Lock()
	p.list = append(p.list, x)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

func (p *presences) wait(t *testing.T, what string, match func(xmpp.Presence) bool) xmpp.Presence {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		p.mu.Lock()
		for _, x := range p.list {
			if match(x) {
				p.mu.Unlock()
				return x
			}
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no presence %s; got %+v", what, p.list)
		}
	}
}

func startGateway(t *testing.T, cfg xmpp.Config, h xmpp.Handler) *xmpp.Gateway {
	t.Helper()
	g, err := xmpp.New(cfg, xmpp.Deps{})
	if err != nil {
		t.Fatal(err)
	}
	g.Handle(h)
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return g
}

func waitStatus(t *testing.T, g *xmpp.Gateway, what string, cond func(xmpp.Status) bool) xmpp.Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		st := g.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; status %+v", what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func client(t *testing.T, s *testpeer.ProsodyServer, user string) *xmpptest.Client {
	t.Helper()
	roots, err := s.CertPool()
	if err != nil {
		t.Fatal(err)
	}
	return xmpptest.Dial(t, xmpptest.Options{Addr: s.C2SAddr, Domain: s.Domain, User: user, Password: user + "-pw", Roots: roots})
}

// TestLinkPresenceBothWays: the component logs in to Prosody; a client's
// directed presence reaches the gateway's handler with show, status and
// priority; a presence the gateway sends reaches the client; a stanza the
// gateway cannot take is answered with an error.
func TestLinkPresenceBothWays(t *testing.T) {
	s := testpeer.Prosody(t, testpeer.ProsodyOptions{Users: map[string]string{"alice": "alice-pw"}})
	got := newPresences()
	ups := make(chan struct{}, 10)
	g := startGateway(t, gatewayConfig(t, s), xmpp.Handler{Presence: got.add, Up: func() { ups <- struct{}{} }})
	select {
	case <-ups:
	case <-time.After(10 * time.Second):
		t.Fatalf("link not up: %+v", g.Status())
	}
	alice := client(t, s, "alice")
	carol := "carol@" + s.ComponentDomain
	if err := alice.Presence("", ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(xmpp.Presence{To: carol, Show: xmpp.ShowChat, Status: "hello from XMPP", Priority: 5, HasPrio: true}); err != nil {
		t.Fatal(err)
	}
	p := got.wait(t, "from alice", func(p xmpp.Presence) bool { return strings.HasPrefix(p.From, "alice@example.com/") })
	if p.To != carol || p.Show != xmpp.ShowChat || p.Status != "hello from XMPP" || !p.HasPrio || p.Priority != 5 {
		t.Errorf("got %+v, want to %s, chat, the status and priority 5", p, carol)
	}

	if err := g.Send(xmpp.Presence{From: carol, To: alice.Bare, Show: xmpp.ShowDND, Status: "on the phone"}); err != nil {
		t.Fatal(err)
	}
	st, _ := alice.Wait(t, 10*time.Second, 0, "carol's presence", xmpptest.PresenceFrom(carol, xmpp.Available))
	if p := st.(xmpp.Presence); p.Show != xmpp.ShowDND || p.Status != "on the phone" {
		t.Errorf("alice got %+v, want dnd, on the phone", p)
	}

	// A stanza from outside the component's domain is never written.
	if err := g.Send(xmpp.Presence{From: "mallory@example.com", To: alice.Bare}); !errors.Is(err, xmpp.ErrForeignFrom) {
		t.Errorf("Send from a foreign JID got %v, want ErrForeignFrom", err)
	}

	// A presence with a show value RFC 6121 does not know is refused with
	// bad-request, and the link stays up.
	if err := alice.Send(xmpp.Presence{To: carol, Show: "sleeping"}); err != nil {
		t.Fatal(err)
	}
	st, _ = alice.Wait(t, 10*time.Second, 0, "an error", xmpptest.PresenceFrom(carol, xmpp.TypeError))
	if e := st.(xmpp.Presence).Error; e == nil || e.Condition != "bad-request" {
		t.Errorf("got error %+v, want bad-request", e)
	}
	status := g.Status()
	if status.State != xmpp.StateUp || status.Malformed != 1 || status.Connects != 1 || !strings.Contains(status.LastError, "show") {
		t.Errorf("status %+v, want up, 1 malformed, 1 connect, last error about show", status)
	}
}

// TestLinkHandshakeRefused: a wrong secret is a clear error in the status,
// and the gateway keeps trying.
func TestLinkHandshakeRefused(t *testing.T) {
	s := testpeer.Prosody(t, testpeer.ProsodyOptions{})
	cfg := gatewayConfig(t, s)
	cfg.XMPPPassword = "wrong"
	g := startGateway(t, cfg, xmpp.Handler{})
	st := waitStatus(t, g, "two refused handshakes", func(st xmpp.Status) bool { return st.ConnectFailures >= 2 })
	if st.Connects != 0 || !strings.Contains(st.LastError, "refused: not-authorized") || (st.State != xmpp.StateDown && st.State != xmpp.StateConnecting) {
		t.Errorf("status %+v, want no connect, last error refused: not-authorized, down or connecting", st)
	}
	if err := g.Send(xmpp.Presence{From: "carol@" + s.ComponentDomain, To: "alice@example.com"}); !errors.Is(err, xmpp.ErrDown) {
		t.Errorf("Send got %v, want ErrDown", err)
	}
	if got := g.Status().Dropped["down"]; got != 1 {
		t.Errorf("dropped down got %d, want 1", got)
	}
}

// TestLinkReconnects: Prosody restarted, the link comes back by itself;
// while it is down Send drops; after it, stanzas flow again.
func TestLinkReconnects(t *testing.T) {
	s := testpeer.Prosody(t, testpeer.ProsodyOptions{Users: map[string]string{"alice": "alice-pw"}})
	var mu sync.Mutex
	var downs []error
	got := newPresences()
	g := startGateway(t, gatewayConfig(t, s), xmpp.Handler{Presence: got.add, Down: func(err error) {
		mu.Lock()
		downs = append(downs, err)
		mu.Unlock()
	}})
	waitStatus(t, g, "link up", func(st xmpp.Status) bool { return st.State == xmpp.StateUp })

	xmpptest.RestartProsody(t, s, syscall.SIGTERM)
	st := waitStatus(t, g, "second connect", func(st xmpp.Status) bool { return st.Connects == 2 && st.State == xmpp.StateUp })
	mu.Lock()
	if len(downs) != 1 {
		t.Errorf("got %d Down calls (%v), want 1", len(downs), downs)
	}
	mu.Unlock()
	if st.LastError == "" {
		t.Errorf("status %+v, want the reason of the drop as last error", st)
	}

	alice := client(t, s, "alice")
	carol := "carol@" + s.ComponentDomain
	if err := alice.Presence("", ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(xmpp.Presence{To: carol, Status: "back"}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "after the restart", func(p xmpp.Presence) bool { return p.Status == "back" })
	if err := g.Send(xmpp.Presence{From: carol, To: alice.Bare, Status: "here too"}); err != nil {
		t.Fatal(err)
	}
	alice.Wait(t, 10*time.Second, 0, "carol", xmpptest.PresenceFrom(carol, xmpp.Available))
}

// TestLinkStanzaTooLarge: a stanza over max_stanza_size ends the stream
// with policy-violation; the link comes back and works.
func TestLinkStanzaTooLarge(t *testing.T) {
	s := testpeer.Prosody(t, testpeer.ProsodyOptions{Users: map[string]string{"alice": "alice-pw"}})
	cfg := gatewayConfig(t, s)
	cfg.MaxStanzaSize = 8192
	cfg.MaxMessageSize = 1024
	got := newPresences()
	g := startGateway(t, cfg, xmpp.Handler{Presence: got.add})
	waitStatus(t, g, "link up", func(st xmpp.Status) bool { return st.State == xmpp.StateUp })
	alice := client(t, s, "alice")
	carol := "carol@" + s.ComponentDomain
	if err := alice.Send(xmpp.Presence{To: carol, Status: strings.Repeat("x", 20000)}); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, g, "the link to come back", func(st xmpp.Status) bool { return st.Connects == 2 && st.State == xmpp.StateUp })
	if !strings.Contains(st.LastError, "max_stanza_size") {
		t.Errorf("last error %q, want it to name max_stanza_size", st.LastError)
	}
	if err := alice.Send(xmpp.Presence{To: carol, Status: "small"}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "small", func(p xmpp.Presence) bool { return p.Status == "small" })
}

// TestLinkIQ: an IQ for a SIP user's JID is answered by the session
// (service-unavailable) and does not disturb the link.
func TestLinkIQ(t *testing.T) {
	s := testpeer.Prosody(t, testpeer.ProsodyOptions{Users: map[string]string{"alice": "alice-pw"}})
	got := newPresences()
	g := startGateway(t, gatewayConfig(t, s), xmpp.Handler{Presence: got.add})
	waitStatus(t, g, "link up", func(st xmpp.Status) bool { return st.State == xmpp.StateUp })
	alice := client(t, s, "alice")
	if err := alice.SendRaw(`<iq type='get' id='v1' to='carol@` + s.ComponentDomain + `'><query xmlns='jabber:iq:version'/></iq>`); err != nil {
		t.Fatal(err)
	}
	if err := alice.Send(xmpp.Presence{To: "carol@" + s.ComponentDomain, Status: "after the iq"}); err != nil {
		t.Fatal(err)
	}
	got.wait(t, "after the iq", func(p xmpp.Presence) bool { return p.Status == "after the iq" })
	if st := g.Status(); st.Received["iq"] != 1 || st.Connects != 1 || st.State != xmpp.StateUp {
		t.Errorf("status %+v, want one iq, one connect, up", st)
	}
}
