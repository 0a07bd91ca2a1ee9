package xmpp

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func decodeString(s string) (Stanza, error) {
	return Decode(xml.NewDecoder(strings.NewReader(s)))
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Stanza
		err      string // substring of the error; "" for none
	}{
		{"available", `<presence from='alice@example.com/a' to='carol@sip.example.com' id='p1'><show>away</show><status>lunch</status><priority>-5</priority></presence>`,
			Presence{From: "alice@example.com/a", To: "carol@sip.example.com", ID: "p1", Show: "away", Status: "lunch", Priority: -5, HasPrio: true}, ""},
		{"status by language", `<presence xmlns='jabber:component:accept'><status xml:lang='fr'>déjeuner</status><status>lunch</status></presence>`,
			Presence{Status: "lunch"}, ""},
		{"only foreign status", `<presence><status xml:lang='fr'>déjeuner</status></presence>`, Presence{Status: "déjeuner"}, ""},
		{"extensions ignored", `<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1'/><x xmlns='vcard-temp:x:update'><photo/></x></presence>`, Presence{}, ""},
		{"error", `<presence type='error' from='alice@example.com'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no one</text></error></presence>`,
			Presence{From: "alice@example.com", Type: TypeError, Error: &StanzaError{Type: "cancel", Condition: "item-not-found", Text: "no one"}}, ""},
		{"unknown type", `<presence type='bogus'/>`, Presence{Type: "bogus"}, "unknown presence type"},
		{"unknown show", `<presence><show>sleeping</show></presence>`, Presence{Show: "sleeping"}, "unknown show"},
		{"priority out of range", `<presence><priority>300</priority></presence>`, Presence{}, "priority"},
		{"priority not a number", `<presence><priority>high</priority></presence>`, Presence{}, "priority"},
		{"error without error element", `<presence type='error'/>`, Presence{Type: TypeError}, "without <error/>"},
		{"chat", `<message type='chat' from='alice@example.com/a' to='carol@sip.example.com'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
			Message{From: "alice@example.com/a", To: "carol@sip.example.com", Type: "chat", Body: "hi"}, ""},
		{"normal by default", `<message><body>x</body><thread>t1</thread></message>`, Message{Type: "normal", Body: "x", Thread: "t1"}, ""},
		{"bad message type", `<message type='shout'/>`, Message{Type: "shout"}, "unknown message type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeString(tc.in)
			if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("got error %v, want %q", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeNotStanza(t *testing.T) {
	if _, err := decodeString(`<iq type='get'/>`); err != ErrNotStanza {
		t.Errorf("got %v, want ErrNotStanza", err)
	}
	if st, err := decodeString(`<presence><show>away`); st != nil || err == nil {
		t.Errorf("got %v, %v; want a syntax error", st, err)
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   Stanza
		want string
	}{
		{"presence", Presence{From: "carol@sip.example.com", To: "alice@example.com", Show: "dnd", Status: "on <the> phone", Priority: 3, HasPrio: true},
			`<presence from="carol@sip.example.com" to="alice@example.com"><show>dnd</show><status>on &lt;the&gt; phone</status><priority>3</priority></presence>`},
		{"unavailable", Presence{From: "c@s", To: "a@b", Type: Unavailable}, `<presence from="c@s" to="a@b" type="unavailable"></presence>`},
		{"error", Presence{From: "c@s", To: "a@b", Type: TypeError, Error: &StanzaError{Condition: "item-not-found", Text: "SIP 404"}},
			`<presence from="c@s" to="a@b" type="error"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></item-not-found><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">SIP 404</text></error></presence>`},
		{"message", Message{From: "c@s", To: "a@b", ID: "m1", Type: "chat", Body: "hello & bye"},
			`<message from="c@s" to="a@b" id="m1" type="chat"><body>hello &amp; bye</body></message>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.in)
			if err != nil || string(b) != tc.want {
				t.Fatalf("got %s, %v; want %s", b, err, tc.want)
			}
			back, err := Decode(xml.NewDecoder(bytes.NewReader(b)))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.in
			if p, ok := want.(Presence); ok && p.Error != nil {
				e := *p.Error
				e.Type = "cancel"
				p.Error = &e
				want = p
			}
			if diff := cmp.Diff(want, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzDecode: Decode never panics, and what it accepts encodes to
// something it accepts again, equal. Seeds are in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add(`<presence from='a@b/c' to='d@e'><show>xa</show><status>x</status><priority>1</priority></presence>`)
	f.Add(`<message type='chat'><body>hi</body></message>`)
	f.Fuzz(func(t *testing.T, in string) {
		st, err := decodeString(in)
		if err != nil || st == nil {
			return
		}
		b, err := Encode(st)
		if err != nil {
			t.Fatalf("encode %#v: %v", st, err)
		}
		back, err := Decode(xml.NewDecoder(bytes.NewReader(b)))
		if err != nil {
			t.Fatalf("decode of %s: %v", b, err)
		}
		b2, _ := Encode(back)
		if !bytes.Equal(b, b2) {
			t.Fatalf("not stable:\n%s\n%s", b, b2)
		}
	})
}

func TestConditionMapping(t *testing.T) {
	for code, want := range map[int]string{
		0: "remote-server-timeout", 302: "redirect", 400: "bad-request", 401: "not-authorized", 403: "forbidden",
		404: "item-not-found", 405: "not-allowed", 406: "not-acceptable", 407: "registration-required",
		408: "remote-server-timeout", 410: "gone", 413: "policy-violation", 415: "bad-request", 480: "recipient-unavailable",
		481: "item-not-found", 484: "item-not-found", 486: "recipient-unavailable", 488: "not-acceptable",
		491: "unexpected-request", 500: "internal-server-error", 503: "service-unavailable", 504: "remote-server-timeout",
		603: "service-unavailable", 604: "item-not-found",
	} {
		if got := ConditionOf(code); got != want {
			t.Errorf("ConditionOf(%d) got %q, want %q", code, got, want)
		}
	}
	for cond, want := range map[string]int{
		"item-not-found": 404, "jid-malformed": 484, "recipient-unavailable": 480, "service-unavailable": 503,
		"forbidden": 403, "remote-server-timeout": 408, "undefined-condition": 500,
	} {
		if got, _ := StatusOf(cond); got != want {
			t.Errorf("StatusOf(%q) got %d, want %d", cond, got, want)
		}
	}
}
