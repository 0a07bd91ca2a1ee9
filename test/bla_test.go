package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/internal/siptest"
)

const blaConfig = `
pua_bla:
  enabled: true
  lines: ["sip:line1@127.0.0.1"]
`

// blaPhone is a Polycom-style phone on the shared line: it registers
// line1, answers pua_bla's subscription with its dialog state, and
// watches the line.
type blaPhone struct {
	name string
	ua   *siptest.UA
	in   *siptest.Inbound // pua_bla's subscription to the phone
	dlg  *siptest.Dialog  // the phone's subscription to the line
	seen int              // NOTIFYs of dlg already looked at
}

func slaDoc(dialogs ...string) []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:line1@127.0.0.1">`)
	for _, d := range dialogs {
		id, state, _ := strings.Cut(d, "=")
		fmt.Fprintf(&b, `<dialog id="%s" call-id="%s@phone" direction="initiator"><state>%s</state><remote><identity>sip:far@127.0.0.1</identity><target uri="sip:far@10.1.2.3:5060"/></remote></dialog>`, id, id, state)
	}
	b.WriteString(`</dialog-info>`)
	return []byte(b.String())
}

func newBLAPhone(t *testing.T, d *daemon, name string, cseq uint32) *blaPhone {
	t.Helper()
	p := &blaPhone{name: name, ua: siptest.New(t, siptest.Options{Name: "line1"})}
	res, _, err := p.ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.REGISTER, URI: "sip:127.0.0.1", From: "sip:line1@127.0.0.1", To: "sip:line1@127.0.0.1",
		CallID: "reg-" + name, CSeq: cseq, Contacts: []string{contactOf(p.ua) + ";expires=600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%s REGISTER: %v %v", name, res, err)
	}
	p.in = p.ua.WaitInbound(5*time.Second, 0)
	if ev := siptest.Header(p.in.Subscribe, "Event"); ev != "dialog;sla" {
		t.Fatalf("%s: pua_bla subscribed with Event %q, want dialog;sla", name, ev)
	}
	p.notify(t, "active;expires=600", slaDoc())
	res, dlg, err := p.ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: "sip:line1@127.0.0.1", From: "sip:line1@127.0.0.1", Headers: map[string]string{"Event": "dialog;sla", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("%s SUBSCRIBE to the line: %v %v", name, res, err)
	}
	p.dlg = dlg
	_, p.seen = p.ua.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	return p
}

// notify reports the phone's dialogs to pua_bla.
func (p *blaPhone) notify(t *testing.T, state string, body []byte) *sip.Response {
	t.Helper()
	res, err := p.ua.Notify(ctxT(t), p.in, state, "application/dialog-info+xml", body)
	if err != nil {
		t.Fatalf("%s NOTIFY: %v", p.name, err)
	}
	return res
}

// expect waits for the line state the phone is told: dialog id → state.
func (p *blaPhone) expect(t *testing.T, want map[string]string) {
	t.Helper()
	n, i := p.ua.WaitNotify(5*time.Second, p.seen+1, func(r *sip.Request) bool {
		if !siptest.InDialog(p.dlg)(r) {
			return false
		}
		doc, err := dialoginfo.Parse(r.Body())
		if err != nil {
			return false
		}
		for id, st := range want {
			found := false
			for _, dl := range doc.Dialogs {
				if dl.ID == id && dl.State == st {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	})
	_ = n
	p.seen = i
}

// expectEach waits for several line states that may come in any order
// (publications of different phones are not ordered with each other).
func (p *blaPhone) expectEach(t *testing.T, wants ...map[string]string) {
	t.Helper()
	start, last := p.seen, p.seen
	for _, w := range wants {
		p.seen = start
		p.expect(t, w)
		last = max(last, p.seen)
	}
	p.seen = last
}

// neverSaw checks the phone was never told about a dialog.
func (p *blaPhone) neverSaw(t *testing.T, ids ...string) {
	t.Helper()
	for _, n := range p.ua.Notifies() {
		if !siptest.InDialog(p.dlg)(n) {
			continue
		}
		for _, id := range ids {
			if strings.Contains(string(n.Body()), `id="`+id+`"`) && strings.Contains(string(n.Body()), `state="partial"`) {
				t.Errorf("%s got its own dialog %s: %s", p.name, id, n.Body())
			}
		}
	}
}

// TestBLASharedLine: three phones on one shared line.
func TestBLASharedLine(t *testing.T) {
	d := startDaemon(t, baseConfig+blaConfig)
	a := newBLAPhone(t, d, "A", 1)
	b := newBLAPhone(t, d, "B", 1)
	c := newBLAPhone(t, d, "C", 1)

	// A seizes the line and calls out.
	a.notify(t, "active;expires=600", slaDoc("a1=trying"))
	b.expect(t, map[string]string{"a1": "trying"})
	c.expect(t, map[string]string{"a1": "trying"})
	a.notify(t, "active;expires=600", slaDoc("a1=confirmed"))
	b.expect(t, map[string]string{"a1": "confirmed"})
	c.expect(t, map[string]string{"a1": "confirmed"})

	// A puts the call on hold; B picks it up: A's dialog ends, B's is up.
	b.notify(t, "active;expires=600", slaDoc("b1=confirmed"))
	a.notify(t, "active;expires=600", slaDoc("a1=terminated"))
	c.expectEach(t, map[string]string{"b1": "confirmed"}, map[string]string{"a1": "terminated"})
	a.expect(t, map[string]string{"b1": "confirmed"})
	b.expect(t, map[string]string{"a1": "terminated"})

	// B hangs up: the line is idle everywhere.
	b.notify(t, "active;expires=600", slaDoc("b1=terminated"))
	a.expect(t, map[string]string{"b1": "terminated"})
	c.expect(t, map[string]string{"b1": "terminated"})

	// A seizes again, then unregisters: its dialogs end on B and C, and
	// pua_bla's subscription to A ends.
	a.notify(t, "active;expires=600", slaDoc("a2=confirmed"))
	b.expect(t, map[string]string{"a2": "confirmed"})
	res, _, err := a.ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.REGISTER, URI: "sip:127.0.0.1", From: "sip:line1@127.0.0.1", To: "sip:line1@127.0.0.1",
		CallID: "reg-A", CSeq: 2, Contacts: []string{contactOf(a.ua) + ";expires=0"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("A unREGISTER: %v %v", res, err)
	}
	b.expect(t, map[string]string{"a2": "terminated"})
	c.expect(t, map[string]string{"a2": "terminated"})
	waitFor(t, 5*time.Second, "pua_bla's un-SUBSCRIBE to A", func() bool {
		exp := a.ua.Expires(a.in)
		return len(exp) > 1 && exp[len(exp)-1] == "0"
	})

	a.neverSaw(t, "a1", "a2")
	b.neverSaw(t, "b1")
	c.neverSaw(t)
}

// TestBLABadNotify: pua_bla refuses a broken NOTIFY and publishes nothing.
func TestBLABadNotify(t *testing.T) {
	d := startDaemon(t, baseConfig+blaConfig)
	a := newBLAPhone(t, d, "A", 1)
	published := func() string {
		var list []struct{ Publications []struct{ Body string } }
		if err := d.mi("presence_list", []any{"sip:line1@127.0.0.1"}, &list); err != nil {
			t.Fatal(err)
		}
		var all []string
		for _, p := range list {
			for _, pub := range p.Publications {
				all = append(all, pub.Body)
			}
		}
		return strings.Join(all, "\n")
	}
	for name, body := range map[string][]byte{
		"malformed":     []byte(`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"><dialog id="x">`),
		"wrong root":    []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:line1@127.0.0.1"/>`),
		"foreign child": []byte(`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:x@y"><note xmlns="urn:x">hi</note></dialog-info>`),
	} {
		if res := a.notify(t, "active;expires=600", body); res.StatusCode != 400 {
			t.Errorf("%s body: got %d %s, want 400", name, res.StatusCode, res.Reason)
		}
	}
	// Missing Subscription-State.
	res, err := a.ua.Notify(ctxT(t), a.in, "", "application/dialog-info+xml", slaDoc("x1=confirmed"))
	if err != nil || res.StatusCode != 400 {
		t.Errorf("missing Subscription-State: got %v %v, want 400", res, err)
	}
	// A NOTIFY for no subscription.
	stray := &siptest.Inbound{Subscribe: a.in.Subscribe, LocalTag: "no-such-tag", Source: a.in.Source, Transport: "udp"}
	if res := a.notify(t, "active", slaDoc("x2=confirmed")); res.StatusCode != 200 {
		t.Fatalf("a good NOTIFY: got %d", res.StatusCode)
	}
	res, err = a.ua.Notify(ctxT(t), stray, "active;expires=600", "application/dialog-info+xml", slaDoc("x3=confirmed"))
	if err != nil || res.StatusCode != 481 {
		t.Errorf("unknown subscription: got %v %v, want 481", res, err)
	}
	waitFor(t, 5*time.Second, "the good NOTIFY's state published", func() bool { return strings.Contains(published(), `id="x2"`) })
	for _, bad := range []string{`id="x"`, `id="x1"`, `id="x3"`, "<note"} {
		if strings.Contains(published(), bad) {
			t.Errorf("published %q from a refused NOTIFY: %s", bad, published())
		}
	}
}
