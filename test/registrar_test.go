package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
)

type ulAOR struct {
	AOR      string
	Contacts []struct {
		Contact  string
		Expires  int
		Q        string
		CallID   string `json:"call_id"`
		CSeq     uint32
		Instance string
		RegID    int `json:"reg_id"`
		Path     []string
	}
}

func ulDump(t *testing.T, d *daemon) []ulAOR {
	t.Helper()
	var out []ulAOR
	if err := d.mi("ul_dump", nil, &out); err != nil {
		t.Fatalf("ul_dump: %v", err)
	}
	return out
}

// register sends a REGISTER for aor with the given Call-ID, CSeq,
// contacts and headers.
func register(t *testing.T, ua *siptest.UA, d *daemon, aor, callID string, cseq uint32, contacts []string, extra ...string) *sip.Response {
	t.Helper()
	host := aor[strings.LastIndex(aor, "@")+1:]
	res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.REGISTER, URI: "sip:" + host, From: aor, To: aor,
		CallID: callID, CSeq: cseq, Contacts: contacts, Extra: extra})
	if err != nil {
		t.Fatalf("REGISTER: %v", err)
	}
	return res
}

func contactsOf(res *sip.Response) []string {
	var out []string
	for _, h := range res.GetHeaders("Contact") {
		out = append(out, h.Value())
	}
	return out
}

// TestRegistrar walks RFC 3261 section 10.3 rule by rule.
func TestRegistrar(t *testing.T) {
	d := startDaemon(t, baseConfig+`
registrar:
  max_contacts: 3
  min_expires: 30
`)
	ua := siptest.New(t, siptest.Options{Name: "phone"})
	aor := "sip:alice@127.0.0.1"
	c1 := "<sip:alice@127.0.0.1:5001>"
	c2 := "<sip:alice@127.0.0.1:5002>;q=0.5"

	res := register(t, ua, d, aor, "call-1", 1, []string{c1}, "Expires: 600")
	if res.StatusCode != 200 || len(contactsOf(res)) != 1 || !strings.Contains(contactsOf(res)[0], "expires=600") {
		t.Fatalf("add: got %d %v, want 200 listing the contact with expires=600", res.StatusCode, contactsOf(res))
	}
	res = register(t, ua, d, aor, "call-2", 1, []string{c2 + ";expires=300"})
	if got := contactsOf(res); res.StatusCode != 200 || len(got) != 2 {
		t.Fatalf("second contact: got %d %v, want both contacts", res.StatusCode, got)
	}
	if !strings.Contains(strings.Join(contactsOf(res), " "), "q=0.5") {
		t.Errorf("q-value: got %v, want q=0.5 listed", contactsOf(res))
	}

	t.Run("query", func(t *testing.T) {
		res := register(t, ua, d, aor, "call-q", 1, []string{})
		if res.StatusCode != 200 || len(contactsOf(res)) != 2 {
			t.Errorf("got %d %v, want 200 listing both bindings", res.StatusCode, contactsOf(res))
		}
	})
	t.Run("refresh", func(t *testing.T) {
		res := register(t, ua, d, aor, "call-1", 2, []string{c1 + ";expires=900"})
		if res.StatusCode != 200 || !strings.Contains(strings.Join(contactsOf(res), " "), "expires=900") {
			t.Errorf("got %d %v, want the refreshed lifetime", res.StatusCode, contactsOf(res))
		}
	})
	t.Run("out of order cseq", func(t *testing.T) {
		res := register(t, ua, d, aor, "call-1", 2, []string{c1 + ";expires=0"})
		if res.StatusCode < 400 {
			t.Errorf("got %d, want a refusal", res.StatusCode)
		}
		if n := len(ulDump(t, d)[0].Contacts); n != 2 {
			t.Errorf("bindings after the refused REGISTER: got %d, want 2", n)
		}
	})
	t.Run("too brief", func(t *testing.T) {
		res := register(t, ua, d, aor, "call-3", 1, []string{"<sip:alice@127.0.0.1:5003>;expires=10"})
		if res.StatusCode != 423 || siptest.Header(res, "Min-Expires") != "30" {
			t.Errorf("got %d Min-Expires %q, want 423 with 30", res.StatusCode, siptest.Header(res, "Min-Expires"))
		}
	})
	t.Run("too many contacts", func(t *testing.T) {
		res := register(t, ua, d, aor, "call-4", 1, []string{"<sip:alice@127.0.0.1:5004>", "<sip:alice@127.0.0.1:5005>"})
		if res.StatusCode != 403 {
			t.Errorf("got %d, want 403", res.StatusCode)
		}
		if n := len(ulDump(t, d)[0].Contacts); n != 2 {
			t.Errorf("bindings: got %d, want 2 (nothing stored)", n)
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for name, r := range map[string]struct {
			contacts []string
			extra    []string
			want     int
		}{
			"bad expires":      {[]string{c1}, []string{"Expires: soon"}, 400},
			"malformed uri":    {[]string{"<tel:123>"}, nil, 400},
			"star with expiry": {[]string{"*"}, []string{"Expires: 60"}, 400},
			"bad q":            {[]string{"<sip:alice@127.0.0.1:5006>;q=7"}, nil, 400},
		} {
			res := register(t, ua, d, aor, "call-bad-"+name, 1, r.contacts, r.extra...)
			if res.StatusCode != r.want {
				t.Errorf("%s: got %d %s, want %d", name, res.StatusCode, res.Reason, r.want)
			}
		}
		if n := len(ulDump(t, d)[0].Contacts); n != 2 {
			t.Errorf("bindings after bad REGISTERs: got %d, want 2", n)
		}
	})
	t.Run("remove one", func(t *testing.T) {
		res := register(t, ua, d, aor, "call-2", 2, []string{c2 + ";expires=0"})
		if res.StatusCode != 200 || len(contactsOf(res)) != 1 {
			t.Errorf("got %d %v, want one binding left", res.StatusCode, contactsOf(res))
		}
	})
	t.Run("star removes all", func(t *testing.T) {
		res := register(t, ua, d, aor, "call-9", 1, []string{"*"}, "Expires: 0")
		if res.StatusCode != 200 || len(contactsOf(res)) != 0 {
			t.Errorf("got %d %v, want 200 and no binding", res.StatusCode, contactsOf(res))
		}
		if got := ulDump(t, d); len(got) != 0 {
			t.Errorf("ul_dump: got %+v, want nothing", got)
		}
	})
}

// TestRegistrarDomains: a restricted registrar refuses other domains; an
// AOR without a domain takes the default domain.
func TestRegistrarDomains(t *testing.T) {
	d := startDaemon(t, baseConfig+`
domains: ["example.com"]
registrar:
  default_domain: example.com
  foreign_domain_code: 404
`)
	ua := siptest.New(t, siptest.Options{})
	if res := register(t, ua, d, "sip:bob@example.org", "c1", 1, nil); res.StatusCode != 404 {
		t.Errorf("foreign domain: got %d, want 404", res.StatusCode)
	}
	res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.REGISTER, URI: "sip:example.com", From: "sip:1001", To: "sip:1001"})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("AOR without domain: got %v %v, want 200", res, err)
	}
	if got := ulDump(t, d); len(got) != 1 || got[0].AOR != "sip:1001@example.com" {
		t.Errorf("ul_dump: got %+v, want sip:1001@example.com", got)
	}
}

// TestRegistrarOutboundAndPath: +sip.instance and reg-id identify a
// binding (a new contact URI replaces the old one); Path is stored and
// echoed.
func TestRegistrarOutboundAndPath(t *testing.T) {
	d := startDaemon(t, baseConfig)
	ua := siptest.New(t, siptest.Options{})
	aor := "sip:carl@127.0.0.1"
	inst := `;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1`
	res := register(t, ua, d, aor, "c1", 1, []string{"<sip:carl@127.0.0.1:6001>" + inst}, "Path: <sip:edge.example.com;lr>", "Supported: path, outbound")
	if res.StatusCode != 200 || siptest.Header(res, "Path") == "" {
		t.Fatalf("got %d Path %q, want 200 echoing the Path", res.StatusCode, siptest.Header(res, "Path"))
	}
	res = register(t, ua, d, aor, "c1", 2, []string{"<sip:carl@127.0.0.1:6002>" + inst})
	if got := contactsOf(res); len(got) != 1 || !strings.Contains(got[0], "6002") {
		t.Fatalf("same instance, new URI: got %v, want the one binding moved to 6002", got)
	}
	list := ulDump(t, d)
	if len(list) != 1 || len(list[0].Contacts) != 1 || list[0].Contacts[0].Instance == "" || list[0].Contacts[0].RegID != 1 {
		t.Fatalf("ul_dump: got %+v, want one binding with its instance and reg-id", list)
	}
}

// TestRegistrarExpiry: a binding not refreshed expires on time.
func TestRegistrarExpiry(t *testing.T) {
	d := startDaemon(t, baseConfig+"registrar:\n  min_expires: 1\n")
	ua := siptest.New(t, siptest.Options{})
	if res := register(t, ua, d, "sip:dora@127.0.0.1", "c1", 1, []string{"<sip:dora@127.0.0.1:7000>;expires=1"}); res.StatusCode != 200 {
		t.Fatalf("got %d", res.StatusCode)
	}
	waitFor(t, 5*time.Second, "the binding to expire", func() bool { return len(ulDump(t, d)) == 0 })
}

// TestRegistrarRestart: bindings survive a restart with their remaining
// lifetime.
func TestRegistrarRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := sqliteConfig(dir)
	d := startDaemon(t, cfg)
	ua := siptest.New(t, siptest.Options{})
	for i := range 3 {
		aor := fmt.Sprintf("sip:user%d@127.0.0.1", i)
		if res := register(t, ua, d, aor, "c", 1, []string{fmt.Sprintf("<sip:u%d@127.0.0.1:7100>;expires=600", i)}); res.StatusCode != 200 {
			t.Fatalf("register: %d", res.StatusCode)
		}
	}
	d.stop()
	d2 := startDaemon(t, cfg)
	list := ulDump(t, d2)
	if len(list) != 3 {
		t.Fatalf("after restart: got %d AORs, want 3", len(list))
	}
	for _, a := range list {
		if e := a.Contacts[0].Expires; e < 590 || e > 600 {
			t.Errorf("%s: %d s left, want about 600", a.AOR, e)
		}
	}
}
