package xmpp

import (
	"errors"
	"testing"
)

func testMapper(mode string) *Mapper {
	cfg := Default()
	cfg.XMPPDomain = "sip.example.com"
	cfg.AddressMapping = mode
	cfg.XMPPUserDomains = []string{"example.com"}
	cfg.GatewayDomain = "gw.example.net"
	return NewMapper(cfg)
}

func TestSIPToJID(t *testing.T) {
	for _, tc := range []struct {
		name, mode, uri, want string
		err                   error
	}{
		{"xmpp user", MappingTransparent, "sip:alice@example.com", "alice@example.com", nil},
		{"xmpp user, case and port", MappingTransparent, "sip:Alice@EXAMPLE.com:5060;transport=tcp", "alice@example.com", nil},
		{"sip user", MappingTransparent, "sip:carol@sip.example.com", "carol@sip.example.com", nil},
		{"gruu to resource", MappingTransparent, "sip:alice@example.com;gr=phone%201", "alice@example.com/phone 1", nil},
		{"escaped user", MappingTransparent, "sip:d%27artagnan@sip.example.com", `d\27artagnan@sip.example.com`, nil},
		{"space and at", MappingTransparent, "sip:a%20b%40c@sip.example.com", `a\20b\40c@sip.example.com`, nil},
		{"foreign domain", MappingTransparent, "sip:dave@other.net", "", ErrNotMapped},
		{"no user", MappingTransparent, "sip:example.com", "", ErrNotMapped},
		{"not a uri", MappingTransparent, "sip:<", "", ErrMalformed},
		{"bad escape", MappingTransparent, "sip:a%zz@sip.example.com", "", ErrMalformed},
		{"encoded xmpp user", MappingEncoded, "sip:alice*example.com@gw.example.net", "alice@example.com", nil},
		{"encoded sip user", MappingEncoded, "sip:bob@example.net", `bob*example.net@sip.example.com`, nil},
		{"encoded without separator", MappingEncoded, "sip:alice@gw.example.net", "", ErrMalformed},
		{"encoded bad xmpp domain", MappingEncoded, "sip:alice*exa_mple@gw.example.net", "", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := testMapper(tc.mode).SIPToJID(tc.uri)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("SIPToJID(%q) got %q, %v; want error %v", tc.uri, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("SIPToJID(%q) got %q, %v; want %q", tc.uri, got, err, tc.want)
			}
		})
	}
}

func TestJIDToSIP(t *testing.T) {
	for _, tc := range []struct {
		name, mode, jid string
		res             bool
		want            string
		err             error
	}{
		{"xmpp user", MappingTransparent, "alice@example.com/laptop", false, "sip:alice@example.com", nil},
		{"xmpp user with gruu", MappingTransparent, "alice@example.com/my laptop", true, "sip:alice@example.com;gr=my+laptop", nil},
		{"sip user", MappingTransparent, "carol@sip.example.com", false, "sip:carol@sip.example.com", nil},
		{"unescaped user", MappingTransparent, `d\27artagnan@sip.example.com`, false, "sip:d'artagnan@sip.example.com", nil},
		{"percent-encoded user", MappingTransparent, `a\20b@sip.example.com`, false, "sip:a%20b@sip.example.com", nil},
		{"unknown xmpp domain", MappingTransparent, "bob@jabber.org", false, "", ErrNotMapped},
		{"no localpart", MappingTransparent, "sip.example.com", false, "", ErrNotMapped},
		{"malformed", MappingTransparent, "a@b@c", false, "", ErrMalformed},
		{"encoded xmpp user", MappingEncoded, "alice@example.com/x", false, "sip:alice*example.com@gw.example.net", nil},
		{"encoded any xmpp domain", MappingEncoded, "bob@jabber.org", false, "sip:bob*jabber.org@gw.example.net", nil},
		{"encoded sip user", MappingEncoded, "bob*example.net@sip.example.com", false, "sip:bob@example.net", nil},
		{"encoded sip user without separator", MappingEncoded, "bob@sip.example.com", false, "", ErrNotMapped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := testMapper(tc.mode).JIDToSIP(tc.jid, tc.res)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("JIDToSIP(%q) got %q, %v; want error %v", tc.jid, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("JIDToSIP(%q) got %q, %v; want %q", tc.jid, got, err, tc.want)
			}
		})
	}
}

// TestMappingRoundTrip: an address mapped one way and back is the same.
func TestMappingRoundTrip(t *testing.T) {
	for _, mode := range []string{MappingTransparent, MappingEncoded} {
		m := testMapper(mode)
		for _, uri := range []string{"sip:alice@example.com", "sip:carol@sip.example.com", "sip:o'neil@sip.example.com"} {
			if mode == MappingEncoded {
				uri = map[string]string{
					"sip:alice@example.com":      "sip:alice*example.com@gw.example.net",
					"sip:carol@sip.example.com":  "sip:carol@sip.example.com",
					"sip:o'neil@sip.example.com": "sip:o'neil@example.net",
				}[uri]
			}
			j, err := m.SIPToJID(uri)
			if err != nil {
				t.Fatalf("%s: SIPToJID(%q): %v", mode, uri, err)
			}
			back, err := m.JIDToSIP(j, false)
			if err != nil || back != uri {
				t.Errorf("%s: %q -> %q -> %q, %v; want %q back", mode, uri, j, back, err, uri)
			}
		}
	}
}

func TestIsXMPPUser(t *testing.T) {
	for _, tc := range []struct {
		mode, uri string
		want      bool
	}{
		{MappingTransparent, "sip:alice@example.com", true},
		{MappingTransparent, "sip:alice@Example.COM;transport=tcp", true},
		{MappingTransparent, "sip:carol@sip.example.com", false},
		{MappingTransparent, "garbage", false},
		{MappingEncoded, "sip:alice*example.com@gw.example.net", true},
		{MappingEncoded, "sip:alice@gw.example.net", false},
		{MappingEncoded, "sip:alice@example.com", false},
	} {
		if got := testMapper(tc.mode).IsXMPPUser(tc.uri); got != tc.want {
			t.Errorf("%s: IsXMPPUser(%q) got %v, want %v", tc.mode, tc.uri, got, tc.want)
		}
	}
}
