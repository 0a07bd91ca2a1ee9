package test

import (
	"errors"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
)

// The TestBadInput tests send what a broken or hostile peer sends, as raw
// bytes over a socket of their own, and check for each the right response
// or a drop (no response at all). Every case ends with an OPTIONS on the
// same socket, and every test with stillServing: the daemon answers
// OPTIONS and a valid PUBLISH, delivers a NOTIFY, and logged no error (a
// recovered panic is logged as one). Cases TestPublishErrors and
// TestSubscribeErrors cover through the SIP stack are not repeated here.

// badInputConfig bounds bodies well below a datagram, so that a 65 KB
// PUBLISH is refused for its size, not for its transport.
const badInputConfig = baseConfig + `
presence:
  max_body_size: 16384
`

// rawCase is one message and what the daemon must do with it.
type rawCase struct {
	name string
	// msg builds the message for a socket whose address is local; callID
	// is the Call-ID to use, by which the response is recognised.
	msg func(local, callID string) []byte
	// want is the status code, 0 for no response at all.
	want int
	// reason, when set, must be in the reason phrase.
	reason string
	// header, when set, must be in the response, and contain value.
	header, value string
	// closes: over TCP the daemon must close the connection afterwards.
	closes bool
	// anyCallID: the message has no usable Call-ID; the first response
	// on the socket is its.
	anyCallID bool
}

// req is a rawCase message made by rawReq.
func req(method, ruri string, extra []string, body string) func(local, callID string) []byte {
	return func(local, callID string) []byte {
		return rawReq(method, ruri, callID, local, "UDP", extra, body)
	}
}

// reqTCP is req with a TCP Via.
func reqTCP(method, ruri string, extra []string, body string) func(local, callID string) []byte {
	return func(local, callID string) []byte {
		return rawReq(method, ruri, callID, local, "TCP", extra, body)
	}
}

// fixed is a rawCase message that does not depend on the socket.
func fixed(b []byte) func(local, callID string) []byte {
	return func(string, string) []byte { return b }
}

// runRawCases runs every case as a parallel subtest on its own UDP
// socket and waits for all of them.
func runRawCases(t *testing.T, d *daemon, cases []rawCase) {
	t.Helper()
	t.Run("cases", func(t *testing.T) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				c := dialRaw(t, "udp", d.UDP.String())
				id := "bad-" + rawID()
				c.send(tc.msg(c.Local(), id))
				if tc.want == 0 {
					c.ping(5 * time.Second)
					c.expectNothing(150 * time.Millisecond)
					return
				}
				if tc.anyCallID {
					id = ""
				}
				res := c.response(id, 5*time.Second)
				checkRaw(t, tc, res)
				c.ping(5 * time.Second)
			})
		}
	})
}

func checkRaw(t *testing.T, tc rawCase, res *rawResponse) {
	t.Helper()
	if res == nil {
		t.Fatalf("got no response, want %d", tc.want)
	}
	if res.Code != tc.want {
		t.Fatalf("got %s, want %d", res, tc.want)
	}
	if !strings.Contains(res.Reason, tc.reason) {
		t.Errorf("reason: got %q, want it to contain %q", res.Reason, tc.reason)
	}
	if tc.header != "" {
		if v := res.Get(tc.header); v == "" || !strings.Contains(v, tc.value) {
			t.Errorf("%s: got %q, want it to contain %q", tc.header, v, tc.value)
		}
	}
}

// stillServing checks that the daemon serves normally after the abuse:
// OPTIONS over UDP and TCP, a PUBLISH, a SUBSCRIBE with its NOTIFY
// carrying the publication, and no error logged.
func stillServing(t *testing.T, d *daemon, lw *logWatch) {
	t.Helper()
	dialRaw(t, "udp", d.UDP.String()).ping(5 * time.Second)
	dialRaw(t, "tcp", d.TCP.String()).ping(5 * time.Second)
	ua := siptest.New(t, siptest.Options{Name: "after"})
	pres := "sip:still-" + rawID() + "@127.0.0.1"
	res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.PUBLISH, URI: pres,
		Headers: map[string]string{"Event": "presence"}, ContentType: "application/pidf+xml", Body: pidfDoc(pres, "open", "still serving")})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("PUBLISH after the bad input: got %v %v, want 200", res, err)
	}
	res, dlg, err := ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("SUBSCRIBE after the bad input: got %v %v, want 200", res, err)
	}
	n, _ := ua.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	if !strings.Contains(string(n.Body()), "still serving") {
		t.Errorf("NOTIFY after the bad input: got %s, want the publication", n.Body())
	}
	if errs := lw.Errors(); len(errs) > 0 {
		t.Errorf("the daemon logged %d errors, want none (a recovered panic is one):\n%s", len(errs), strings.Join(errs, "\n"))
	}
}

// randomBytes returns n bytes from a fixed seed, so that a failure repeats.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestBadInputGarbage: datagrams that are not SIP, or SIP that cannot be
// answered, are dropped without an answer.
func TestBadInputGarbage(t *testing.T) {
	t.Parallel()
	d, lw := startWatchedDaemon(t, badInputConfig, true)
	runRawCases(t, d, []rawCase{
		{name: "random bytes", msg: fixed(randomBytes(1, 1000))},
		{name: "random bytes 65507", msg: fixed(randomBytes(2, 65507))},
		{name: "printable garbage 65 KB", msg: fixed([]byte(strings.Repeat("garbage ", 65000/8)))},
		{name: "empty datagram", msg: fixed([]byte{})},
		{name: "NUL bytes", msg: fixed(make([]byte, 1024))},
		{name: "CRLF keep-alive", msg: fixed([]byte("\r\n\r\n"))},
		{name: "HTTP request", msg: fixed([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))},
		{name: "start line only", msg: fixed([]byte("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\r\n"))},
		{name: "start line and random bytes", msg: fixed(append([]byte("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n"), randomBytes(3, 500)...))},
		{name: "bad request line", msg: func(local, id string) []byte {
			return []byte("HELLO WORLD\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-h;rport\r\nCall-ID: " + id + "\r\n\r\n")
		}},
		{name: "request line without URI", msg: func(local, id string) []byte {
			return []byte(strings.Replace(string(rawReq("OPTIONS", "sip:x@127.0.0.1", id, local, "UDP", nil, "")), "sip:x@127.0.0.1 SIP/2.0", "SIP/2.0", 1))
		}},
		{name: "missing Via", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"-Via"}, "")},
		{name: "Via without host", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"Via: SIP/2.0/UDP ;branch=z9hG4bK-v"}, "")},
		{name: "stray ACK", msg: req("ACK", "sip:x@127.0.0.1", nil, "")},
		{name: "malformed ACK", msg: req("ACK", "sip:x@127.0.0.1", []string{"CSeq: x ACK"}, "")},
		{name: "unsolicited response", msg: func(local, id string) []byte {
			return []byte("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-nobody\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: " + id + "\r\nCSeq: 1 SUBSCRIBE\r\nContent-Length: 0\r\n\r\n")
		}},
		{name: "response with garbage status", msg: func(local, id string) []byte {
			return []byte("SIP/2.0 abc OK\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-x\r\nCall-ID: " + id + "\r\n\r\n")
		}},
	})
	t.Run("burst of 5000 garbage datagrams", func(t *testing.T) {
		c := dialRaw(t, "udp", d.UDP.String())
		for i := range 5000 {
			c.send(randomBytes(uint64(100+i), 1+i%1400))
		}
		c.ping(10 * time.Second)
		c.expectNothing(150 * time.Millisecond)
	})
	stillServing(t, d, lw)
}

// TestBadInputBrokenSIP: requests that are SIP but broken get the 400
// (or 505) that says what is wrong, sent back to their source.
func TestBadInputBrokenSIP(t *testing.T) {
	t.Parallel()
	d, lw := startWatchedDaemon(t, badInputConfig, true)
	body := string(pidfDoc("sip:broken@127.0.0.1", "open", "x"))
	pub := []string{"Event: presence", "Content-Type: application/pidf+xml"}
	with := func(a []string, b ...string) []string { return append(append([]string(nil), a...), b...) }
	runRawCases(t, d, []rawCase{
		{name: "only a Via", msg: func(local, _ string) []byte {
			return []byte("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK-g;rport\r\n\r\n")
		}, want: 400, reason: "missing From", anyCallID: true},
		{name: "extra token in request line", msg: req("OPTIONS", "sip:x@127.0.0.1 SIP/2.0", nil, ""), want: 400},
		{name: "malformed Request-URI", msg: req("OPTIONS", "::::", nil, ""), want: 400, reason: "Request-URI"},
		{name: "missing From", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"-From"}, ""), want: 400, reason: "From"},
		{name: "missing To", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"-To"}, ""), want: 400, reason: "To"},
		{name: "missing Call-ID", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"-Call-ID"}, ""), want: 400, reason: "Call-ID", anyCallID: true},
		{name: "missing CSeq", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"-CSeq"}, ""), want: 400, reason: "CSeq"},
		{name: "CSeq 2^31 (RFC 3261 8.1.1.5)", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"CSeq: 2147483648 OPTIONS"}, ""), want: 400, reason: "CSeq"},
		{name: "CSeq 2^31-1", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"CSeq: 2147483647 OPTIONS"}, ""), want: 200},
		{name: "CSeq negative", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"CSeq: -1 OPTIONS"}, ""), want: 400, reason: "CSeq"},
		{name: "unterminated quote in From", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{`From: "Bob <sip:bob@127.0.0.1>;tag=1`}, ""), want: 400, reason: "From"},
		{name: "Max-Forwards not a number", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"Max-Forwards: lots"}, ""), want: 400, reason: "Max-Forwards"},
		{name: "Record-Route garbage", msg: req("SUBSCRIBE", "sip:x@127.0.0.1", []string{"Event: presence", "Contact: <sip:w@127.0.0.1:9>", "Record-Route: garbage"}, ""), want: 400, reason: "Record-Route"},
		{name: "CSeq not a number", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"CSeq: one OPTIONS"}, ""), want: 400, reason: "CSeq"},
		{name: "CSeq method mismatch", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"CSeq: 1 INVITE"}, ""), want: 400, reason: "CSeq"},
		{name: "CSeq method mismatch on PUBLISH", msg: req("PUBLISH", "sip:broken@127.0.0.1", with(pub, "CSeq: 1 SUBSCRIBE"), body), want: 400, reason: "CSeq"},
		{name: "Content-Length not a number", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"Content-Length: abc"}, ""), want: 400, reason: "Content-Length"},
		{name: "Content-Length negative", msg: req("PUBLISH", "sip:broken@127.0.0.1", with(pub, "Content-Length: -5"), body), want: 400, reason: "Content-Length"},
		{name: "Content-Length beyond the datagram", msg: req("PUBLISH", "sip:broken@127.0.0.1", with(pub, "Content-Length: 5000"), body), want: 400, reason: "Content-Length"},
		// RFC 3261 18.3: bytes past Content-Length are discarded, so the
		// PIDF is cut short and refused as a body.
		{name: "Content-Length short of the body", msg: req("PUBLISH", "sip:broken@127.0.0.1", with(pub, "Content-Length: 20"), body), want: 400, reason: "invalid body"},
		{name: "SIP/3.0", msg: func(local, id string) []byte {
			return []byte(strings.Replace(string(rawReq("OPTIONS", "sip:x@127.0.0.1", id, local, "UDP", nil, "")), "SIP/2.0\r\n", "SIP/3.0\r\n", 1))
		}, want: 505},
		{name: "header without colon", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"This is not a header"}, ""), want: 400, reason: "malformed"},
		{name: "malformed From", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"From: <sip:tester@127.0.0.1;tag=1"}, ""), want: 400, reason: "From"},
		{name: "truncated in a header", msg: func(local, id string) []byte {
			m := rawReq("OPTIONS", "sip:x@127.0.0.1", id, local, "UDP", []string{"X-Long: " + strings.Repeat("z", 100)}, "")
			return m[:len(m)-60]
		}, want: 400, reason: "truncated"},
		{name: "60 KB header within max_message_size", msg: req("OPTIONS", "sip:x@127.0.0.1", []string{"X-Big: " + strings.Repeat("a", 60000)}, ""), want: 200},
	})
	stillServing(t, d, lw)
}

// Hostile XML bodies. Each is small enough for one datagram.
const (
	pidfNS   = `xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:xml@127.0.0.1"`
	dialogNS = `xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:xml@127.0.0.1"`
)

// billionLaughs is the classic exponential entity expansion (10^9 "lol"s
// from under a kilobyte) around root (the opening tag's attributes) and
// the element that expands it.
func billionLaughs(root, attrs, inner string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><!DOCTYPE ` + root + ` [<!ENTITY lol "lol">`)
	prev := "lol"
	for i := 1; i <= 9; i++ {
		name := "lol" + string(rune('0'+i))
		b.WriteString(`<!ENTITY ` + name + ` "` + strings.Repeat("&"+prev+";", 10) + `">`)
		prev = name
	}
	b.WriteString(`]><` + root + ` ` + attrs + `>` + strings.ReplaceAll(inner, "ENTITY", "&lol9;") + `</` + root + `>`)
	return b.String()
}

// TestBadInputXML: hostile PUBLISH bodies for each publishable package
// are refused with 400 and a reason that names the problem; nothing is
// stored.
func TestBadInputXML(t *testing.T) {
	t.Parallel()
	d, lw := startWatchedDaemon(t, baseConfig+"presence:\n  max_body_size: 65536\n", true)
	tuple := `<tuple id="t"><status><basic>open</basic></status><note>ENTITY</note></tuple>`
	presence := []string{"Event: presence", "Content-Type: application/pidf+xml"}
	dialog := []string{"Event: dialog", "Content-Type: application/dialog-info+xml"}
	sla := []string{"Event: dialog;sla", "Content-Type: application/dialog-info+xml"}
	pres := func(inner string) string { return `<presence ` + pidfNS + `>` + inner + `</presence>` }
	dlg := func(inner string) string { return `<dialog-info ` + dialogNS + `>` + inner + `</dialog-info>` }
	cases := []struct {
		name, body string
		headers    []string
		reason     string
	}{
		{"presence billion laughs", billionLaughs("presence", pidfNS, tuple), presence, "DOCTYPE"},
		{"presence external entity", `<?xml version="1.0"?><!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + pres(strings.ReplaceAll(tuple, "ENTITY", "&xxe;")), presence, "DOCTYPE"},
		{"presence external DTD", `<?xml version="1.0"?><!DOCTYPE presence SYSTEM "http://127.0.0.1:9/evil.dtd">` + pres(tuple), presence, "DOCTYPE"},
		{"presence bare DOCTYPE", `<!DOCTYPE presence>` + pres(tuple), presence, "DOCTYPE"},
		{"presence undeclared entity", pres(strings.ReplaceAll(tuple, "ENTITY", "&nope;")), presence, "invalid body"},
		{"presence deep nesting", pres(strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000)), presence, "deep"},
		{"presence 10k elements", pres(strings.Repeat("<b/>", 10001)), presence, "elements"},
		{"presence 2000 namespaces", pres(strings.Repeat(`<x:e xmlns:x="urn:x"/>`, 2000)), presence, "namespace"},
		{"presence 100 attributes", pres(`<tuple id="t"` + attrs(100) + `><status><basic>open</basic></status></tuple>`), presence, "attributes"},
		{"presence invalid UTF-8", pres("<tuple id=\"t\"><status><basic>open</basic></status><note>\xff\xfe\xc3</note></tuple>"), presence, "UTF-8"},
		{"presence UTF-16 declared", `<?xml version="1.0" encoding="UTF-16"?>` + pres(""), presence, "UTF-16"},
		{"presence NUL character", pres("<tuple id=\"t\"><status><basic>open\x00</basic></status></tuple>"), presence, "invalid body"},
		{"presence only whitespace", " \r\n\t ", presence, "invalid body"},
		{"presence two roots", pres("") + pres(""), presence, "invalid body"},
		{"dialog billion laughs", billionLaughs("dialog-info", dialogNS, `<dialog id="d"><state>confirmed</state><local><identity>ENTITY</identity></local></dialog>`), dialog, "DOCTYPE"},
		{"dialog external entity", `<?xml version="1.0"?><!DOCTYPE dialog-info [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` + dlg(`<dialog id="&xxe;"><state>confirmed</state></dialog>`), dialog, "DOCTYPE"},
		{"dialog deep nesting", dlg(`<dialog id="d"><state>confirmed</state><local>` + strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000) + `</local></dialog>`), dialog, "deep"},
		{"dialog 10k elements", dlg(strings.Repeat("<b/>", 10001)), dialog, "elements"},
		{"dialog invalid UTF-8", dlg("<dialog id=\"\xff\xfe\"><state>confirmed</state></dialog>"), dialog, "UTF-8"},
		{"dialog;sla deep nesting", dlg(`<dialog id="d"><state>confirmed</state>` + strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000) + `</dialog>`), sla, "deep"},
		{"dialog;sla billion laughs", billionLaughs("dialog-info", dialogNS, `<dialog id="d"><state>ENTITY</state></dialog>`), sla, "DOCTYPE"},
	}
	var rc []rawCase
	for _, c := range cases {
		rc = append(rc, rawCase{name: c.name, msg: req("PUBLISH", "sip:xml@127.0.0.1", c.headers, c.body), want: 400, reason: c.reason})
	}
	runRawCases(t, d, rc)
	var list []struct{ URI string }
	if err := d.mi("presence_list", nil, &list); err != nil || len(list) != 0 {
		t.Errorf("presence_list after hostile bodies: got %+v %v, want nothing stored", list, err)
	}
	stillServing(t, d, lw)
}

// attrs returns n distinct attributes.
func attrs(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(" a" + strconv.Itoa(i) + `="v"`)
	}
	return b.String()
}

// TestBadInputPublish: PUBLISH requests with wrong headers, sizes or
// entity-tags, over the wire.
func TestBadInputPublish(t *testing.T) {
	t.Parallel()
	d, lw := startWatchedDaemon(t, badInputConfig, true)
	uri := "sip:pub-bad@127.0.0.1"
	body := string(pidfDoc(uri, "open", "x"))
	ct := "Content-Type: application/pidf+xml"
	runRawCases(t, d, []rawCase{
		{name: "65 KB body", msg: req("PUBLISH", uri, []string{"Event: presence", ct}, `<presence `+pidfNS+`><note>`+strings.Repeat("x", 64000)+`</note></presence>`), want: 413},
		{name: "body without Content-Type", msg: req("PUBLISH", uri, []string{"Event: presence"}, body), want: 415, header: "Accept", value: "application/pidf+xml"},
		{name: "Content-Type garbage", msg: req("PUBLISH", uri, []string{"Event: presence", "Content-Type: ;;;"}, body), want: 415, header: "Accept", value: "application/pidf+xml"},
		{name: "Content-Type multipart", msg: req("PUBLISH", uri, []string{"Event: presence", `Content-Type: multipart/related;type="application/pidf+xml";boundary=x`}, "--x\r\n\r\n--x--\r\n"), want: 415},
		{name: "PIDF on the dialog event", msg: req("PUBLISH", uri, []string{"Event: dialog", ct}, body), want: 415, header: "Accept", value: "application/dialog-info+xml"},
		{name: "Content-Type with parameters", msg: req("PUBLISH", uri, []string{"Event: presence", "Content-Type: Application/PIDF+XML ; charset=UTF-8"}, body), want: 200, header: "SIP-ETag"},
		{name: "compact Content-Type", msg: req("PUBLISH", uri, []string{"Event: presence", "c: application/pidf+xml"}, body), want: 200, header: "SIP-ETag"},
		{name: "empty Event", msg: req("PUBLISH", uri, []string{"Event: ", ct}, body), want: 489, header: "Allow-Events", value: "presence"},
		{name: "Event with only parameters", msg: req("PUBLISH", uri, []string{"Event: ;id=1", ct}, body), want: 489, header: "Allow-Events", value: "presence"},
		{name: "Event presence.winfo (not publishable)", msg: req("PUBLISH", uri, []string{"Event: presence.winfo", "Content-Type: application/watcherinfo+xml"}, "<watcherinfo/>"), want: 489},
		{name: "empty SIP-If-Match", msg: req("PUBLISH", uri, []string{"Event: presence", "SIP-If-Match: "}, ""), want: 400},
		{name: "remove with unknown entity-tag", msg: req("PUBLISH", uri, []string{"Event: presence", "SIP-If-Match: a.b.c", "Expires: 0"}, ""), want: 412},
		{name: "Expires not a number", msg: req("PUBLISH", uri, []string{"Event: presence", ct, "Expires: 1e3"}, body), want: 400, reason: "Expires"},
		{name: "Expires beyond 2^32", msg: req("PUBLISH", uri, []string{"Event: presence", ct, "Expires: 99999999999"}, body), want: 400, reason: "Expires"},
		{name: "no user in Request-URI", msg: req("PUBLISH", "sip:127.0.0.1", []string{"Event: presence", ct}, body), want: 404},
	})
	// An entity-tag is only good for the event package it was given for.
	c := dialRaw(t, "udp", d.UDP.String())
	id := "etag-" + rawID()
	c.send(rawReq("PUBLISH", uri, id, c.Local(), "UDP", []string{"Event: presence", ct}, body))
	res := c.response(id, 5*time.Second)
	if res == nil || res.Code != 200 || res.Get("SIP-ETag") == "" {
		t.Fatalf("PUBLISH: got %v, want 200 with an entity-tag", res)
	}
	id = "etag-" + rawID()
	c.send(rawReq("PUBLISH", uri, id, c.Local(), "UDP", []string{"Event: dialog", "SIP-If-Match: " + res.Get("SIP-ETag")}, ""))
	if res := c.response(id, 5*time.Second); res == nil || res.Code != 412 {
		t.Errorf("refresh of a presence entity-tag as dialog: got %v, want 412", res)
	}
	// Nor for another presentity.
	id = "etag-" + rawID()
	c.send(rawReq("PUBLISH", "sip:someone-else@127.0.0.1", id, c.Local(), "UDP", []string{"Event: presence", "SIP-If-Match: " + res.Get("SIP-ETag")}, ""))
	if res := c.response(id, 5*time.Second); res == nil || res.Code != 412 {
		t.Errorf("refresh of another presentity's entity-tag: got %v, want 412", res)
	}
	stillServing(t, d, lw)
}

// TestBadInputSubscribe: SUBSCRIBE requests that cannot make a
// subscription, out of dialog (raw) and in dialog (from a real dialog).
func TestBadInputSubscribe(t *testing.T) {
	t.Parallel()
	d, lw := startWatchedDaemon(t, badInputConfig, true)
	uri := "sip:sub-bad@127.0.0.1"
	contact := func(local string) string { return "Contact: <sip:w@" + local + ">" }
	sub := func(ruri string, extra ...string) func(local, callID string) []byte {
		return func(local, callID string) []byte {
			return rawReq("SUBSCRIBE", ruri, callID, local, "UDP", append([]string{contact(local)}, extra...), "")
		}
	}
	runRawCases(t, d, []rawCase{
		{name: "no Contact", msg: req("SUBSCRIBE", uri, []string{"Event: presence"}, ""), want: 400, reason: "Contact"},
		{name: "malformed Contact", msg: req("SUBSCRIBE", uri, []string{"Event: presence", "Contact: <not a uri"}, ""), want: 400, reason: "Contact"},
		{name: "no From tag", msg: sub(uri, "Event: presence", "From: <sip:w@127.0.0.1>"), want: 400, reason: "tag"},
		{name: "empty Event", msg: sub(uri, "Event: "), want: 489, header: "Allow-Events", value: "presence"},
		{name: "Event with only parameters", msg: sub(uri, "Event: ;id=7"), want: 489, header: "Allow-Events", value: "presence"},
		{name: "compact Event of an unknown package", msg: sub(uri, "o: weather"), want: 489, header: "Allow-Events", value: "presence"},
		{name: "no user in Request-URI", msg: sub("sip:127.0.0.1", "Event: presence"), want: 404},
		{name: "winfo accepting only PIDF", msg: sub(uri, "Event: presence.winfo", "Accept: application/pidf+xml"), want: 406, header: "Accept", value: "application/watcherinfo+xml"},
		{name: "Expires beyond 2^32", msg: sub(uri, "Event: presence", "Expires: 99999999999"), want: 400, reason: "Expires"},
		{name: "Expires not a number", msg: sub(uri, "Event: presence", "Expires: soon"), want: 400, reason: "Expires"},
		{name: "in-dialog with an unknown Call-ID", msg: sub(uri, "Event: presence", "To: <"+uri+">;tag=nosuchdialog"), want: 481},
		{name: "a body is ignored", msg: func(local, callID string) []byte {
			return rawReq("SUBSCRIBE", uri, callID, local, "UDP", []string{contact(local), "Event: presence", "Expires: 0", "Content-Type: text/plain"}, "ignore me")
		}, want: 200},
	})

	// In dialog: a real subscription, then refreshes that break its rules.
	w := siptest.New(t, siptest.Options{Name: "w"})
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: uri, Headers: map[string]string{"Event": "presence;id=1", "Expires": "600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: got %v %v, want 200", res, err)
	}
	w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))
	for _, tc := range []struct {
		name    string
		cseq    uint32 // CSeq.SeqNo of the refresh is this+1 (0: next)
		headers map[string]string
		want    int
	}{
		{"CSeq not above the last one", 0, map[string]string{"Event": "presence;id=1", "Expires": "600"}, 500},
		{"another event package", 5, map[string]string{"Event": "dialog", "Expires": "600"}, 489},
		{"another event id", 6, map[string]string{"Event": "presence;id=2", "Expires": "600"}, 489},
		{"Expires too brief", 7, map[string]string{"Event": "presence;id=1", "Expires": "1"}, 423},
		{"a valid refresh still works", 8, map[string]string{"Event": "presence;id=1", "Expires": "600"}, 200},
	} {
		dlg.CSeq = tc.cseq
		res, err := dlg.Request(ctxT(t), sip.SUBSCRIBE, tc.headers)
		if err != nil || res.StatusCode != tc.want {
			t.Errorf("%s: got %v %v, want %d", tc.name, res, err, tc.want)
		}
	}

	// A Contact naming the daemon itself: its NOTIFY comes back to it, is
	// refused (405), and that ends the subscription; nothing loops.
	c := dialRaw(t, "udp", d.UDP.String())
	id := "self-" + rawID()
	c.send(rawReq("SUBSCRIBE", "sip:self@127.0.0.1", id, c.Local(), "UDP", []string{"Event: presence", "Contact: <sip:presence@" + d.UDP.String() + ">"}, ""))
	if res := c.response(id, 5*time.Second); res == nil || res.Code != 200 {
		t.Fatalf("SUBSCRIBE with the daemon as Contact: got %v, want 200", res)
	}
	waitFor(t, 10*time.Second, "the self-subscription to end", func() bool {
		var subs []struct{ Presentity string }
		if err := d.mi("subscriptions_list", nil, &subs); err != nil {
			return false
		}
		for _, s := range subs {
			if s.Presentity == "sip:self@127.0.0.1" {
				return false
			}
		}
		return true
	})
	stillServing(t, d, lw)
}

// TestBadInputMethods: methods the daemon does not serve get 405 with
// Allow; OPTIONS gets 200 with what it serves; CANCEL and ACK matching
// nothing get 481 and silence.
func TestBadInputMethods(t *testing.T) {
	t.Parallel()
	d, lw := startWatchedDaemon(t, badInputConfig, true)
	runRawCases(t, d, []rawCase{
		{name: "unknown method", msg: req("FOO", "sip:x@127.0.0.1", nil, ""), want: 405, header: "Allow", value: "REGISTER"},
		{name: "unknown method with a body", msg: req("BREW", "sip:x@127.0.0.1", []string{"Content-Type: message/coffeepot"}, "start"), want: 405, header: "Allow", value: "SUBSCRIBE"},
		{name: "OPTIONS", msg: req("OPTIONS", "sip:x@127.0.0.1", nil, ""), want: 200, header: "Allow", value: "PUBLISH"},
		{name: "OPTIONS lists the event packages", msg: req("OPTIONS", "sip:x@127.0.0.1", nil, ""), want: 200, header: "Allow-Events", value: "presence.winfo"},
		{name: "OPTIONS lists the body types", msg: req("OPTIONS", "sip:x@127.0.0.1", nil, ""), want: 200, header: "Accept", value: "application/pidf+xml"},
		{name: "CANCEL matching nothing", msg: req("CANCEL", "sip:x@127.0.0.1", nil, ""), want: 481},
		{name: "ACK matching nothing", msg: req("ACK", "sip:x@127.0.0.1", nil, "")},
	})
	stillServing(t, d, lw)
}

// TestBadInputTCP: framing abuse on TCP connections. A framing error
// gets its answer when one can be given, then the connection is closed;
// other connections are not disturbed.
func TestBadInputTCP(t *testing.T) {
	t.Parallel()
	d, lw := startWatchedDaemon(t, badInputConfig, true)
	bystander := dialRaw(t, "tcp", d.TCP.String())
	bystander.ping(5 * time.Second)
	for _, tc := range []rawCase{
		{name: "no Content-Length", msg: reqTCP("OPTIONS", "sip:x@127.0.0.1", []string{"-Content-Length"}, ""), want: 400, reason: "Content-Length", closes: true},
		{name: "70 KB message", msg: reqTCP("PUBLISH", "sip:x@127.0.0.1", []string{"Event: presence", "Content-Type: application/pidf+xml"}, strings.Repeat("x", 70000)), want: 513, closes: true},
		{name: "TLS hello on the SIP port", msg: fixed([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + string(randomBytes(4, 200)) + "\r\n\r\n")), closes: true},
		{name: "random bytes", msg: fixed(randomBytes(5, 4000)), closes: true},
		{name: "HTTP request", msg: fixed([]byte("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")), closes: true},
		{name: "header without colon", msg: reqTCP("OPTIONS", "sip:x@127.0.0.1", []string{"not a header"}, ""), want: 400, closes: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, "tcp", d.TCP.String())
			id := "tcp-" + rawID()
			c.send(tc.msg(c.Local(), id))
			if tc.want != 0 {
				checkRaw(t, tc, c.response(id, 5*time.Second))
			}
			if tc.closes {
				c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				b, err := c.readMessage(time.Now().Add(5 * time.Second))
				if err == nil {
					t.Fatalf("got %q, want the connection closed", b)
				}
				var ne interface{ Timeout() bool }
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("connection still open after 5s, want it closed")
				}
			} else {
				c.ping(5 * time.Second)
			}
			dialRaw(t, "tcp", d.TCP.String()).ping(5 * time.Second)
		})
	}
	t.Run("pipelined requests in one write", func(t *testing.T) {
		// 40 requests, about 10 KB: the daemon reads them in pieces that
		// cut some of them in two.
		c := dialRaw(t, "tcp", d.TCP.String())
		var burst []byte
		for i := range 40 {
			burst = append(burst, rawReq("OPTIONS", "sip:x@127.0.0.1", "pipe-"+strconv.Itoa(i), c.Local(), "TCP", nil, "")...)
		}
		c.send(burst)
		for i := range 40 {
			if res := c.response("pipe-"+strconv.Itoa(i), 5*time.Second); res == nil || res.Code != 200 {
				t.Errorf("request %d of the burst: got %v, want 200", i, res)
			}
		}
	})
	t.Run("one request a byte at a time", func(t *testing.T) {
		c := dialRaw(t, "tcp", d.TCP.String())
		for _, b := range rawReq("OPTIONS", "sip:x@127.0.0.1", "bytewise", c.Local(), "TCP", nil, "") {
			c.send([]byte{b})
		}
		if res := c.response("bytewise", 5*time.Second); res == nil || res.Code != 200 {
			t.Errorf("got %v, want 200", res)
		}
	})
	t.Run("keep-alive ping gets a pong", func(t *testing.T) {
		c := dialRaw(t, "tcp", d.TCP.String())
		c.send([]byte("\r\n\r\n"))
		c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b := make([]byte, 16)
		n, err := c.c.Read(b)
		if err != nil || string(b[:n]) != "\r\n" {
			t.Fatalf("got %q %v, want CRLF (RFC 5626 4.4.1)", b[:n], err)
		}
		c.ping(5 * time.Second)
	})
	t.Run("half a message then close", func(t *testing.T) {
		for _, cut := range []int{10, 100, 200} {
			c := dialRaw(t, "tcp", d.TCP.String())
			m := rawReq("PUBLISH", "sip:x@127.0.0.1", "half", c.Local(), "TCP", []string{"Event: presence", "Content-Type: application/pidf+xml"}, string(pidfDoc("sip:x@127.0.0.1", "open", "x")))
			c.send(m[:cut])
			c.c.Close()
		}
		dialRaw(t, "tcp", d.TCP.String()).ping(5 * time.Second)
	})
	bystander.ping(5 * time.Second)
	stillServing(t, d, lw)
}
