package sipnet

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// wait bounds how long a test waits for something that must happen; the
// test machine may be loaded.
const wait = 5 * time.Second

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func testConfig() Config {
	c := Default()
	c.Listen = []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}
	c.T1, c.T2, c.T4 = 10, 40, 50
	c.Workers = 2
	c.UserAgent = "presenced-test"
	c.UDPReceiveBuffer = 1 << 20
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("SIPNET_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newStack starts a stack with handlers; it stops at the end of the test.
func newStack(t testing.TB, mod func(*Config), handlers map[sip.RequestMethod]Handler) *Stack {
	t.Helper()
	cfg := testConfig()
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	for m, h := range handlers {
		s.Handle(m, h)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func mustAddr(t testing.TB, s *Stack, tr string) netip.AddrPort {
	t.Helper()
	a, ok := s.Addr(tr)
	if !ok {
		t.Fatalf("no %s listener", tr)
	}
	return a
}

// udpPeer is a raw UDP endpoint playing the other side.
type udpPeer struct {
	t testing.TB
	c *net.UDPConn
}

func newUDPPeer(t testing.TB) *udpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &udpPeer{t: t, c: c}
}

func (p *udpPeer) addr() netip.AddrPort { return p.c.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *udpPeer) send(dst netip.AddrPort, msg string) {
	p.t.Helper()
	if _, err := p.c.WriteToUDPAddrPort([]byte(msg), dst); err != nil {
		p.t.Fatal(err)
	}
}

// recv reads one datagram, or returns "" after timeout.
func (p *udpPeer) recv(timeout time.Duration) (string, netip.AddrPort) {
	buf := make([]byte, 70000)
	p.c.SetReadDeadline(time.Now().Add(timeout))
	n, src, err := p.c.ReadFromUDPAddrPort(buf)
	if err != nil {
		return "", netip.AddrPort{}
	}
	return string(buf[:n]), src
}

// recvMsg reads and parses one message, failing the test on timeout.
func (p *udpPeer) recvMsg(timeout time.Duration) (sip.Message, netip.AddrPort) {
	p.t.Helper()
	s, src := p.recv(timeout)
	if s == "" {
		p.t.Fatalf("no message within %v", timeout)
	}
	m, err := sip.ParseMessage([]byte(s))
	if err != nil {
		p.t.Fatalf("parse %q: %v", s, err)
	}
	return m, src
}

func (p *udpPeer) recvResponse(timeout time.Duration) *sip.Response {
	p.t.Helper()
	m, _ := p.recvMsg(timeout)
	res, ok := m.(*sip.Response)
	if !ok {
		p.t.Fatalf("got %s, want a response", m.String())
	}
	return res
}

// tcpPeer is a raw TCP connection to the stack.
type tcpPeer struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialPeer(t testing.TB, dst netip.AddrPort) *tcpPeer {
	t.Helper()
	c, err := net.Dial("tcp", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &tcpPeer{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *tcpPeer) send(msg string) {
	p.t.Helper()
	if _, err := io.WriteString(p.c, msg); err != nil {
		p.t.Fatal(err)
	}
}

// recvMsg reads one message framed by Content-Length.
func (p *tcpPeer) recvMsg(timeout time.Duration) sip.Message {
	p.t.Helper()
	m, err := readStreamMsg(p.c, p.r, timeout)
	if err != nil {
		p.t.Fatalf("tcp read: %v", err)
	}
	return m
}

func readStreamMsg(c net.Conn, r *bufio.Reader, timeout time.Duration) (sip.Message, error) {
	c.SetReadDeadline(time.Now().Add(timeout))
	var head strings.Builder
	clen := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if line == "\r\n" && head.Len() == 0 {
			continue
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(strings.TrimSpace(k), "content-length") || strings.TrimSpace(k) == "l") {
			fmt.Sscanf(strings.TrimSpace(v), "%d", &clen)
		}
	}
	body := make([]byte, clen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return sip.ParseMessage(append([]byte(head.String()), body...))
}

// reqText builds a request. via is the full Via value.
type reqText struct {
	method, ruri, via, from, to, callID, cseq string
	extra                                     []string
	body                                      string
	noContentLength                           bool
}

func (r reqText) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s SIP/2.0\r\n", r.method, r.ruri)
	if r.via != "-" {
		fmt.Fprintf(&b, "Via: %s\r\n", r.via)
	}
	if r.from != "-" {
		fmt.Fprintf(&b, "From: %s\r\n", r.from)
	}
	if r.to != "-" {
		fmt.Fprintf(&b, "To: %s\r\n", r.to)
	}
	if r.callID != "-" {
		fmt.Fprintf(&b, "Call-ID: %s\r\n", r.callID)
	}
	if r.cseq != "-" {
		fmt.Fprintf(&b, "CSeq: %s\r\n", r.cseq)
	}
	b.WriteString("Max-Forwards: 70\r\n")
	for _, e := range r.extra {
		b.WriteString(e + "\r\n")
	}
	if !r.noContentLength {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n")
	b.WriteString(r.body)
	return b.String()
}

// publish returns a PUBLISH from a peer at via (host:port) with branch.
func publish(viaHostPort, tr, branch string) reqText {
	return reqText{
		method: "PUBLISH", ruri: "sip:alice@example.com",
		via:  fmt.Sprintf("SIP/2.0/%s %s;branch=%s", tr, viaHostPort, branch),
		from: "<sip:alice@example.com>;tag=f1", to: "<sip:alice@example.com>",
		callID: "pub-" + branch, cseq: "1 PUBLISH",
		extra: []string{"Event: presence", "Expires: 3600", "Content-Type: application/pidf+xml"},
		body:  `<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com"/>`,
	}
}

func header(m sip.Message, name string) string {
	var hs []sip.Header
	switch m := m.(type) {
	case *sip.Request:
		hs = m.Headers()
	case *sip.Response:
		hs = m.Headers()
	}
	for _, h := range hs {
		if strings.EqualFold(h.Name(), name) {
			return h.Value()
		}
	}
	return ""
}

// newRequest builds a request to send from a stack.
func newRequest(t testing.TB, method sip.RequestMethod, ruri string) *sip.Request {
	t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(ruri, &u); err != nil {
		t.Fatal(err)
	}
	req := sip.NewRequest(method, u)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "pua", Host: "example.com"}, Params: sip.NewParams()}
	from.Params.Add("tag", newTag())
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: "bob", Host: "example.com"}, Params: sip.NewParams()})
	cid := sip.CallIDHeader("c-" + newTag())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	return req
}

// answer builds a response to a request received by a raw peer.
func answer(req *sip.Request, code int, reason string, extra ...string) string {
	res := newResponse(req, code, reason, "peer", "")
	for _, e := range extra {
		k, v, _ := strings.Cut(e, ":")
		res.AppendHeader(sip.NewHeader(k, strings.TrimSpace(v)))
	}
	return res.String()
}
