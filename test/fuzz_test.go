package test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
)

// fuzzConfig gives the fuzzed daemon a short T1, so that NOTIFYs to
// contacts nobody answers give up within 64*T1 = 1.3 s.
var fuzzConfig = strings.Replace(baseConfig, "t1_ms: 100", "t1_ms: 20", 1)

// FuzzRequest fuzzes the request handling path of the whole daemon (SIP
// stack, presence server, event packages, store) over a real socket. One
// daemon serves the fuzz process. Each input is sent as two datagrams:
// raw as it is, and a request built from a structured form (method, extra
// header lines, body) with the usual headers filled in, so that the
// fuzzer also mutates well-formed requests deep into the handlers. After
// each input the daemon must still answer an OPTIONS within 5 s, and must
// have logged no error (a recovered panic is logged as one); a panic on a
// shard goroutine kills the process, which the fuzzer reports.
//
// The seed corpus is testdata/fuzz/FuzzRequest, generated from
// fuzzRequestSeeds by TestFuzzRequestCorpus -update-fuzz-corpus. Without
// -fuzz, `go test` runs the seeds.
//
// A SUBSCRIBE whose Contact or Record-Route names a host other than a
// loopback address is not sent: the daemon would send NOTIFYs there, and
// a fuzz run must not send anything off this machine.
func FuzzRequest(f *testing.F) {
	d, lw := startWatchedDaemon(f, fuzzConfig, false)
	sink := siptest.New(f, siptest.Options{Name: "sink"}) // Contact of the structured requests
	pinger := siptest.New(f, siptest.Options{Name: "pinger"})
	c, err := net.Dial("udp", d.UDP.String())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.Close() })
	local := c.LocalAddr().String()
	sinkAddr := sink.Addr("udp").String()
	var seq atomic.Uint64

	f.Fuzz(func(t *testing.T, raw []byte, method, headers string, body []byte) {
		n := seq.Add(1)
		structured := buildFuzzRequest(n, local, sinkAddr, method, headers, body)
		for _, m := range [][]byte{raw, structured} {
			if stays(m) {
				if _, err := c.Write(m); err != nil && len(m) <= 65507 {
					t.Fatalf("write: %v", err)
				}
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res, _, err := pinger.Send(ctx, d.UDP, siptest.Request{Method: sip.OPTIONS, URI: "sip:ping@127.0.0.1"})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("OPTIONS after the input: got %v %v, want 200 within 5s", res, err)
		}
		if errs := lw.Errors(); len(errs) > 0 {
			t.Fatalf("the daemon logged errors (this input or one before it):\n%s", strings.Join(errs, "\n"))
		}
	})
}

// buildFuzzRequest makes a request from the structured form: the request
// line and CSeq use method, the usual headers are ours (the Contact is the
// sink UA, which answers NOTIFYs), headers are added as they are, and
// Content-Length is body's. Requests go to one of eight presentities, so
// that publications and subscriptions of several inputs meet.
func buildFuzzRequest(n uint64, local, sink, method, headers string, body []byte) []byte {
	id := strconv.FormatUint(n, 10)
	uri := "sip:fz" + strconv.FormatUint(n%8, 10) + "@127.0.0.1"
	var b bytes.Buffer
	b.WriteString(method + " " + uri + " SIP/2.0\r\n")
	b.WriteString("Via: SIP/2.0/UDP " + local + ";branch=z9hG4bK-fz" + id + ";rport\r\n")
	b.WriteString("Max-Forwards: 70\r\n")
	b.WriteString("From: <sip:fuzzer@127.0.0.1>;tag=fz" + id + "\r\n")
	b.WriteString("To: <" + uri + ">\r\n")
	b.WriteString("Call-ID: fz" + id + "@fuzz\r\n")
	b.WriteString("CSeq: " + id + " " + method + "\r\n")
	b.WriteString("Contact: <sip:fuzzer@" + sink + ">\r\n")
	if headers != "" {
		b.WriteString(headers)
		if !strings.HasSuffix(headers, "\r\n") {
			b.WriteString("\r\n")
		}
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	b.Write(body)
	return b.Bytes()
}

// stays reports whether the daemon would send nothing off the loopback
// interface because of m: anything but a SUBSCRIBE naming a non-loopback
// remote target or route. Responses go back to the source (loopback).
func stays(m []byte) bool {
	msg, err := sip.ParseMessage(m)
	if err != nil {
		return true // the daemon's parser (the same) refuses it too
	}
	req, ok := msg.(*sip.Request)
	if !ok || req.Method != sip.SUBSCRIBE {
		return true
	}
	local := func(host string) bool {
		if host == "" {
			return true // no target at all
		}
		a, err := netip.ParseAddr(strings.Trim(host, "[]"))
		return err == nil && a.IsLoopback()
	}
	for _, h := range req.GetHeaders("Contact") {
		if ch, ok := h.(*sip.ContactHeader); ok && !local(ch.Address.Host) {
			return false
		}
	}
	for _, h := range req.GetHeaders("Record-Route") {
		rr, ok := h.(*sip.RecordRouteHeader)
		if !ok || !local(rr.Address.Host) {
			return false
		}
	}
	return true
}

var updateFuzzCorpus = flag.Bool("update-fuzz-corpus", false, "rewrite testdata/fuzz/FuzzRequest from fuzzRequestSeeds")

// fuzzSeed is one entry of FuzzRequest's seed corpus.
type fuzzSeed struct {
	name    string
	raw     string
	method  string
	headers string
	body    string
}

// encode is the corpus file format of `go test fuzz v1`.
func (s fuzzSeed) encode() []byte {
	return []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\nstring(%q)\nstring(%q)\n[]byte(%q)\n", s.raw, s.method, s.headers, s.body))
}

// TestFuzzRequestCorpus checks that testdata/fuzz/FuzzRequest holds
// exactly the seeds of fuzzRequestSeeds; with -update-fuzz-corpus it
// writes them.
func TestFuzzRequestCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRequest")
	seeds := fuzzRequestSeeds()
	if *updateFuzzCorpus {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, s := range seeds {
			if err := os.WriteFile(filepath.Join(dir, s.name), s.encode(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("%v (run go test -run TestFuzzRequestCorpus -update-fuzz-corpus)", err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join(dir, s.name))
		if err != nil || !bytes.Equal(b, s.encode()) {
			t.Errorf("%s: out of date or missing (run go test -run TestFuzzRequestCorpus -update-fuzz-corpus)", s.name)
		}
		names = slices.DeleteFunc(names, func(n string) bool { return n == s.name })
	}
	// Files the fuzzer added (failing inputs it found) may stay.
	for _, n := range names {
		t.Logf("%s: not a seed of fuzzRequestSeeds (an input the fuzzer found?)", n)
	}
}

// fuzzRequestSeeds are the seeds: valid requests of every kind the daemon
// serves, and nasty ones. Raw messages carry a Via with rport to
// 127.0.0.1:9 (responses go to the fuzzer's socket) and loopback
// Contacts only.
func fuzzRequestSeeds() []fuzzSeed {
	const via = "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-seed;rport\r\n"
	msg := func(method, ruri string, extra []string, body string) string {
		var b strings.Builder
		b.WriteString(method + " " + ruri + " SIP/2.0\r\n" + via +
			"Max-Forwards: 70\r\nFrom: <sip:seed@127.0.0.1>;tag=s1\r\nTo: <" + ruri + ">\r\n" +
			"Call-ID: seed@127.0.0.1\r\nCSeq: 1 " + method + "\r\n")
		for _, h := range extra {
			b.WriteString(h + "\r\n")
		}
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body)
		return b.String()
	}
	pres := "sip:fz1@127.0.0.1"
	pidfBody := string(pidfDoc(pres, "open", "seed"))
	dlgBody := `<?xml version="1.0"?><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="` + pres + `"><dialog id="d1" call-id="c1" local-tag="l" remote-tag="r" direction="initiator"><state>confirmed</state><local><identity>` + pres + `</identity></local><remote><identity>sip:bob@127.0.0.1</identity></remote></dialog></dialog-info>`
	contact := "Contact: <sip:w@127.0.0.1:9>"
	pub := func(event, ct, body string, extra ...string) fuzzSeed {
		h := append([]string{"Event: " + event, "Expires: 60", "Content-Type: " + ct}, extra...)
		return fuzzSeed{raw: msg("PUBLISH", pres, h, body), method: "PUBLISH", headers: strings.Join(h, "\r\n"), body: body}
	}
	sub := func(extra ...string) fuzzSeed {
		return fuzzSeed{raw: msg("SUBSCRIBE", pres, append([]string{contact}, extra...), ""), method: "SUBSCRIBE", headers: strings.Join(extra, "\r\n")}
	}
	raw := func(r string) fuzzSeed { return fuzzSeed{raw: r, method: "OPTIONS"} }
	named := func(name string, s fuzzSeed) fuzzSeed { s.name = name; return s }
	laughs := billionLaughs("presence", `xmlns="urn:ietf:params:xml:ns:pidf" entity="`+pres+`"`, `<tuple id="t"><status><basic>ENTITY</basic></status></tuple>`)
	return []fuzzSeed{
		// Valid requests.
		named("options", fuzzSeed{raw: msg("OPTIONS", "sip:fz0@127.0.0.1", nil, ""), method: "OPTIONS"}),
		named("publish-presence", pub("presence", "application/pidf+xml", pidfBody)),
		named("publish-presence-rpid", pub("presence", "application/pidf+xml", `<?xml version="1.0" encoding="UTF-8"?><presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="`+pres+`"><tuple id="t1"><status><basic>open</basic></status><contact priority="0.8">sip:fz1@127.0.0.1</contact><timestamp>2024-01-01T00:00:00Z</timestamp></tuple><dm:person id="p1"><rpid:activities><rpid:on-the-phone/></rpid:activities><dm:note xml:lang="en">busy</dm:note></dm:person></presence>`)),
		named("publish-dialog", pub("dialog", "application/dialog-info+xml", dlgBody)),
		named("publish-dialog-sla", pub("dialog;sla", "application/dialog-info+xml", dlgBody, "Sender: <sip:w@127.0.0.1:9>")),
		named("publish-refresh", fuzzSeed{raw: msg("PUBLISH", pres, []string{"Event: presence", "SIP-If-Match: a1.1.x", "Expires: 60"}, ""), method: "PUBLISH", headers: "Event: presence\r\nSIP-If-Match: a1.1.x\r\nExpires: 60"}),
		named("publish-remove", fuzzSeed{raw: msg("PUBLISH", pres, []string{"Event: presence", "SIP-If-Match: a1.1.x", "Expires: 0"}, ""), method: "PUBLISH", headers: "Event: presence\r\nSIP-If-Match: a1.1.x\r\nExpires: 0"}),
		named("subscribe-presence", sub("Event: presence", "Accept: application/pidf+xml", "Expires: 60")),
		named("subscribe-winfo", sub("Event: presence.winfo", "Accept: application/watcherinfo+xml", "Expires: 60")),
		named("subscribe-dialog", sub("Event: dialog", "Expires: 60")),
		named("subscribe-sla", sub("Event: dialog;sla", "Expires: 60")),
		named("subscribe-fetch", sub("Event: presence", "Expires: 0")),
		named("subscribe-in-dialog", sub("Event: presence;id=1", "Expires: 60", "To: <sip:fz1@127.0.0.1>;tag=nosuch")),
		named("subscribe-record-route", sub("Event: presence", "Record-Route: <sip:127.0.0.1:9;lr>, <sip:127.0.0.2:9;lr>")),
		named("notify", fuzzSeed{raw: msg("NOTIFY", pres, []string{"Event: presence", "Subscription-State: active;expires=60", "Content-Type: application/pidf+xml"}, pidfBody), method: "NOTIFY", headers: "Event: presence\r\nSubscription-State: active;expires=60\r\nContent-Type: application/pidf+xml", body: pidfBody}),
		named("message", fuzzSeed{raw: msg("MESSAGE", pres, []string{"Content-Type: text/plain"}, "hello"), method: "MESSAGE", headers: "Content-Type: text/plain", body: "hello"}),
		named("invite", fuzzSeed{raw: msg("INVITE", pres, []string{contact}, ""), method: "INVITE"}),
		named("cancel", fuzzSeed{raw: msg("CANCEL", pres, nil, ""), method: "CANCEL"}),
		named("ack", fuzzSeed{raw: msg("ACK", pres, nil, ""), method: "ACK"}),
		named("compact-forms", raw("SUBSCRIBE "+pres+" SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-c;rport\r\nf: <sip:seed@127.0.0.1>;tag=c\r\nt: <"+pres+">\r\ni: compact@127.0.0.1\r\nCSeq: 1 SUBSCRIBE\r\nm: <sip:w@127.0.0.1:9>\r\no: presence\r\nl: 0\r\n\r\n")),
		named("folded-header", raw("OPTIONS "+pres+" SIP/2.0\r\n"+via+"From: <sip:seed@127.0.0.1>\r\n ;tag=fold\r\nTo: <"+pres+">\r\nCall-ID: fold\r\nCSeq: 1\r\n OPTIONS\r\nContent-Length: 0\r\n\r\n")),
		// Nasty requests.
		named("billion-laughs", pub("presence", "application/pidf+xml", laughs)),
		named("external-entity", pub("presence", "application/pidf+xml", `<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="`+pres+`">&x;</presence>`)),
		named("deep-nesting", pub("presence", "application/pidf+xml", `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="`+pres+`">`+strings.Repeat("<a>", 200)+strings.Repeat("</a>", 200)+`</presence>`)),
		named("dialog-deep-nesting", pub("dialog", "application/dialog-info+xml", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="`+pres+`"><dialog id="d">`+strings.Repeat("<a>", 200)+strings.Repeat("</a>", 200)+`</dialog></dialog-info>`)),
		named("invalid-utf8", pub("presence", "application/pidf+xml", "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\""+pres+"\"><tuple id=\"\xff\xfe\"/></presence>")),
		named("wrong-content-type", pub("presence", "text/plain", "hello")),
		named("no-event", fuzzSeed{raw: msg("PUBLISH", pres, []string{"Content-Type: application/pidf+xml"}, pidfBody), method: "PUBLISH", headers: "Content-Type: application/pidf+xml", body: pidfBody}),
		named("missing-via", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), via, "", 1))),
		named("missing-call-id", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "Call-ID: seed@127.0.0.1\r\n", "", 1))),
		named("cseq-mismatch", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1))),
		named("sip-3.0", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "SIP/2.0\r\n", "SIP/3.0\r\n", 1))),
		named("content-length-too-large", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "Content-Length: 0", "Content-Length: 9999", 1))),
		named("content-length-negative", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "Content-Length: 0", "Content-Length: -1", 1))),
		named("header-without-colon", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "Max-Forwards: 70", "Max-Forwards 70", 1))),
		named("truncated", raw(msg("OPTIONS", pres, nil, "")[:90])),
		named("repeated-call-id", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "Max-Forwards: 70", "Call-ID: other\r\nMax-Forwards: 70", 1))),
		named("lower-case-method", raw(msg("options", pres, nil, ""))),
		named("require", fuzzSeed{raw: msg("SUBSCRIBE", pres, []string{contact, "Event: presence", "Require: x-nothing"}, ""), method: "SUBSCRIBE", headers: "Event: presence\r\nRequire: x-nothing"}),
		named("contact-wildcard", fuzzSeed{raw: msg("SUBSCRIBE", pres, []string{"Contact: *", "Event: presence"}, ""), method: "SUBSCRIBE", headers: "Event: presence\r\nContact: *"}),
		named("contact-tel", fuzzSeed{raw: msg("SUBSCRIBE", pres, []string{"Contact: <tel:+15551234567>", "Event: presence"}, ""), method: "SUBSCRIBE", headers: "Event: presence"}),
		named("expires-overflow", sub("Event: presence", "Expires: 99999999999")),
		named("ipv6-via", raw(strings.Replace(msg("OPTIONS", pres, nil, ""), "127.0.0.1:9;", "[::1]:9;", 1))),
		named("escaped-ruri", raw(msg("OPTIONS", "sip:f%7a1@127.0.0.1;transport=udp?Subject=x", nil, ""))),
		named("star-ruri", raw(msg("OPTIONS", "*", nil, ""))),
		named("response-unsolicited", raw("SIP/2.0 200 OK\r\n"+via+"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:b@127.0.0.1>;tag=2\r\nCall-ID: nobody\r\nCSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n")),
		named("garbage", fuzzSeed{raw: "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03garbage\x00\xff", method: "\x00"}),
		named("nul-bytes", fuzzSeed{raw: strings.Repeat("\x00", 64), method: "OPTIONS", headers: "X-Nul: a\x00b"}),
		named("crlf-keepalive", fuzzSeed{raw: "\r\n\r\n", method: ""}),
		named("empty", fuzzSeed{}),
		named("huge-header", fuzzSeed{raw: msg("OPTIONS", pres, []string{"X-Big: " + strings.Repeat("a", 8000)}, ""), method: "OPTIONS", headers: "X-Big: " + strings.Repeat("b", 8000)}),
	}
}
