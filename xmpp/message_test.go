package xmpp

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func sipMessage(t *testing.T, from, to, ct, body string) *sip.Request {
	t.Helper()
	var ru, fu sip.Uri
	if err := sip.ParseUri(to, &ru); err != nil {
		t.Fatal(err)
	}
	if err := sip.ParseUri(from, &fu); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(sip.MESSAGE, ru)
	fh := &sip.FromHeader{Address: fu, Params: sip.NewParams()}
	fh.Params.Add("tag", "t1")
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: ru})
	if ct != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", ct))
	}
	req.SetBody([]byte(body))
	return req
}

// TestMessageRefusals: what a SIP MESSAGE to an XMPP user is answered
// with when it cannot be carried (the link is down in this test, so what
// can be carried gets 503).
func TestMessageRefusals(t *testing.T) {
	cfg := Default()
	cfg.XMPPDomain = "sip.example.com"
	cfg.XMPPUserDomains = []string{"example.com"}
	cfg.MaxMessageSize = 100
	g, err := New(cfg, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	cpim := "From: <sip:carol@sip.example.com>\r\nTo: <sip:alice@example.com>\r\n\r\nContent-Type: text/plain\r\n\r\nhi via cpim"
	for _, tc := range []struct {
		name, from, to, ct, body string
		code                     int
	}{
		{"carried but link down", "sip:carol@sip.example.com", "sip:alice@example.com", "text/plain", "hello", 503},
		{"no content type", "sip:carol@sip.example.com", "sip:alice@example.com", "", "hello", 503},
		{"cpim", "sip:carol@sip.example.com", "sip:alice@example.com", "message/cpim", cpim, 503},
		{"cpim with html", "sip:carol@sip.example.com", "sip:alice@example.com", "message/cpim", strings.Replace(cpim, "text/plain", "text/html", 1), 415},
		{"html", "sip:carol@sip.example.com", "sip:alice@example.com", "text/html", "<b>x</b>", 415},
		{"latin1", "sip:carol@sip.example.com", "sip:alice@example.com", "text/plain;charset=ISO-8859-1", "x", 415},
		{"not utf-8", "sip:carol@sip.example.com", "sip:alice@example.com", "text/plain", "\xff\xfe", 400},
		{"empty", "sip:carol@sip.example.com", "sip:alice@example.com", "text/plain", "\r\n", 400},
		{"too large", "sip:carol@sip.example.com", "sip:alice@example.com", "text/plain", strings.Repeat("x", 101), 413},
		{"sender is an xmpp user", "sip:bob@example.com", "sip:alice@example.com", "text/plain", "x", 403},
		{"sender without xmpp address", "sip:dave@other.net", "sip:alice@example.com", "text/plain", "x", 403},
		{"recipient not mappable", "sip:carol@sip.example.com", "sip:a%25%00b@example.com", "text/plain", "x", 484},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, reason, _ := g.messageToXMPP(sipMessage(t, tc.from, tc.to, tc.ct, tc.body))
			if code != tc.code {
				t.Errorf("got %d %s, want %d", code, reason, tc.code)
			}
		})
	}
	if got := g.Status().Dropped["down"]; got != 3 {
		t.Errorf("dropped while down got %d, want 3", got)
	}
}

func TestCPIM(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"From: a\r\n\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\r\ntwo", "body\ntwo", true},
		{"From: a\n\nContent-type: text/plain\n\nx", "x", true},
		{"From: a\n\nContent-Type: image/png\n\nx", "", false},
		{"no blank line", "", false},
	} {
		got, ok := cpimText([]byte(tc.in))
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("cpimText(%q) got %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
