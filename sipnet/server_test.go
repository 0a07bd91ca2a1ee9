package sipnet

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func etagHandler(calls *atomic.Int64) Handler {
	return func(tx *ServerTx) {
		calls.Add(1)
		tx.Reply(200, "OK", sip.NewHeader("SIP-ETag", "e1"), sip.NewHeader("Expires", "3600"))
	}
}

func TestRequestResponse(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var calls atomic.Int64
			var gotTransport atomic.Value
			s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: func(tx *ServerTx) {
				gotTransport.Store(tx.Transport())
				etagHandler(&calls)(tx)
			}})
			var res *sip.Response
			if tr == "udp" {
				p := newUDPPeer(t)
				p.send(mustAddr(t, s, "udp"), publish(p.addr().String(), "UDP", "z9hG4bK-rr1").String())
				res = p.recvResponse(wait)
			} else {
				p := dialPeer(t, mustAddr(t, s, "tcp"))
				p.send(publish("127.0.0.1:5999", "TCP", "z9hG4bK-rr1").String())
				m := p.recvMsg(wait)
				var ok bool
				if res, ok = m.(*sip.Response); !ok {
					t.Fatalf("got %s, want a response", m)
				}
			}
			if res.StatusCode != 200 {
				t.Fatalf("status: got %d, want 200", res.StatusCode)
			}
			if got := header(res, "SIP-ETag"); got != "e1" {
				t.Errorf("SIP-ETag: got %q, want e1", got)
			}
			if got := header(res, "Server"); got != "presenced-test" {
				t.Errorf("Server: got %q, want presenced-test", got)
			}
			if b, _ := param(res.Via().Params, "branch"); b != "z9hG4bK-rr1" {
				t.Errorf("Via branch: got %q, want z9hG4bK-rr1", b)
			}
			if tag, _ := param(res.To().Params, "tag"); tag == "" {
				t.Errorf("To tag missing in %s", res)
			}
			if got := res.CSeq().Value(); got != "1 PUBLISH" {
				t.Errorf("CSeq: got %q, want 1 PUBLISH", got)
			}
			if got := gotTransport.Load(); got != tr {
				t.Errorf("Transport(): got %v, want %s", got, tr)
			}
			if tr == "tcp" {
				waitFor(t, wait, func() bool { return s.Stats().ServerTransactions == 0 })
			}
		})
	}
}

func TestRetransmissionAbsorbed(t *testing.T) {
	var calls atomic.Int64
	// T1 = 100 ms: Timer J (6.4 s) outlasts any stall of a loaded machine.
	s := newStack(t, func(c *Config) { c.T1, c.T2 = 100, 4000 }, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
	p := newUDPPeer(t)
	msg := publish(p.addr().String(), "UDP", "z9hG4bK-re1").String()
	p.send(mustAddr(t, s, "udp"), msg)
	first, _ := p.recv(wait)
	p.send(mustAddr(t, s, "udp"), msg)
	second, _ := p.recv(wait)
	if first == "" || second != first {
		t.Fatalf("retransmitted response: got %q, want %q", second, first)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler calls: got %d, want 1", n)
	}
	st := s.Stats()
	if st.RetransmissionsAbsorbed != 1 || st.Retransmissions != 1 {
		t.Errorf("absorbed/retransmissions: got %d/%d, want 1/1", st.RetransmissionsAbsorbed, st.Retransmissions)
	}
}

func TestTimerJ(t *testing.T) {
	var calls atomic.Int64
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
	p := newUDPPeer(t)
	p.send(mustAddr(t, s, "udp"), publish(p.addr().String(), "UDP", "z9hG4bK-tj").String())
	p.recvResponse(wait)
	if n := s.Stats().ServerTransactions; n != 1 {
		t.Errorf("live server transactions after the 200: got %d, want 1 (Timer J)", n)
	}
	// Timer J (64*T1 = 640 ms) ends the transaction.
	waitFor(t, wait, func() bool { return s.Stats().ServerTransactions == 0 })
	if n := s.timers.armed(); n != 0 {
		t.Errorf("armed timers: got %d, want 0", n)
	}
}

func TestRetransmissionWhileHandlerWorks(t *testing.T) {
	held := make(chan *ServerTx, 1)
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: func(tx *ServerTx) { held <- tx }})
	p := newUDPPeer(t)
	msg := publish(p.addr().String(), "UDP", "z9hG4bK-rw1").String()
	p.send(mustAddr(t, s, "udp"), msg)
	tx := <-held
	p.send(mustAddr(t, s, "udp"), msg)
	waitFor(t, wait, func() bool { return s.Stats().RetransmissionsAbsorbed == 1 })
	if got, _ := p.recv(50 * time.Millisecond); got != "" {
		t.Fatalf("got %q while the handler works, want nothing", got)
	}
	if err := tx.Reply(202, ""); err != nil {
		t.Fatal(err)
	}
	if res := p.recvResponse(wait); res.StatusCode != 202 || res.Reason != "Accepted" {
		t.Errorf("got %d %s, want 202 Accepted", res.StatusCode, res.Reason)
	}
	if err := tx.Reply(200, ""); err == nil {
		t.Error("second final response: got nil error, want one")
	}
	select {
	case <-held:
		t.Error("handler called twice")
	default:
	}
}

func TestResponseRouting(t *testing.T) {
	tests := []struct {
		name      string
		viaParams string
		viaToB    bool // the Via names peer B, the request comes from peer A
		wantB     bool // the response goes to peer B
		received  bool
		rport     bool
	}{
		{name: "rport to source", viaParams: ";rport", viaToB: true, wantB: false, received: true, rport: true},
		{name: "no rport to via port", viaToB: true, wantB: true},
		{name: "no rport via host is a name", viaParams: "", viaToB: false, wantB: false, received: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.OPTIONS: func(tx *ServerTx) { tx.Reply(200, "OK") }})
			a, b := newUDPPeer(t), newUDPPeer(t)
			via := fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d%s;branch=z9hG4bK-rt", b.addr().Port(), tc.viaParams)
			if !tc.viaToB {
				via = fmt.Sprintf("SIP/2.0/UDP client.invalid:%d;branch=z9hG4bK-rt", a.addr().Port())
			}
			r := reqText{method: "OPTIONS", ruri: "sip:x@example.com", via: via, from: "<sip:a@example.com>;tag=1",
				to: "<sip:x@example.com>", callID: "rt1", cseq: "1 OPTIONS"}
			a.send(mustAddr(t, s, "udp"), r.String())
			want, other := a, b
			if tc.wantB {
				want, other = b, a
			}
			res := want.recvResponse(wait)
			if got, _ := other.recv(20 * time.Millisecond); got != "" {
				t.Errorf("response also reached the other peer")
			}
			if got, ok := param(res.Via().Params, "received"); ok != tc.received || (ok && got != "127.0.0.1") {
				t.Errorf("received: got %q (%v), want present=%v", got, ok, tc.received)
			}
			if got, _ := param(res.Via().Params, "rport"); tc.rport && got != fmt.Sprint(a.addr().Port()) {
				t.Errorf("rport: got %q, want %d", got, a.addr().Port())
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	s := newStack(t, nil, map[sip.RequestMethod]Handler{
		sip.PUBLISH:   func(tx *ServerTx) { tx.Reply(200, "OK") },
		sip.SUBSCRIBE: func(tx *ServerTx) { tx.Reply(200, "OK") },
	})
	p := newUDPPeer(t)
	r := publish(p.addr().String(), "UDP", "z9hG4bK-405")
	r.method, r.cseq = "MESSAGE", "1 MESSAGE"
	p.send(mustAddr(t, s, "udp"), r.String())
	res := p.recvResponse(wait)
	if res.StatusCode != 405 {
		t.Fatalf("status: got %d, want 405", res.StatusCode)
	}
	if got, want := header(res, "Allow"), "PUBLISH, SUBSCRIBE"; got != want {
		t.Errorf("Allow: got %q, want %q", got, want)
	}
}

func TestBadRequests(t *testing.T) {
	base := func(p *udpPeer) reqText {
		r := publish(p.addr().String(), "UDP", "z9hG4bK-bad")
		r.extra = nil
		r.body = ""
		return r
	}
	tests := []struct {
		name       string
		mod        func(r *reqText) string
		wantCode   int
		wantReason string
	}{
		{"missing Call-ID", func(r *reqText) string { r.callID = "-"; return r.String() }, 400, "missing Call-ID"},
		{"missing From", func(r *reqText) string { r.from = "-"; return r.String() }, 400, "missing From"},
		{"missing To", func(r *reqText) string { r.to = "-"; return r.String() }, 400, "missing To"},
		{"missing CSeq", func(r *reqText) string { r.cseq = "-"; return r.String() }, 400, "missing CSeq"},
		{"CSeq method mismatch", func(r *reqText) string { r.cseq = "1 INVITE"; return r.String() }, 400, "CSeq method"},
		{"malformed CSeq", func(r *reqText) string { r.cseq = "x PUBLISH"; return r.String() }, 400, "malformed CSeq"},
		{"malformed From", func(r *reqText) string { r.from = "<sip:a@b;tag=1"; return r.String() }, 400, "malformed From"},
		{"SIP version 3.0", func(r *reqText) string { return strings.Replace(r.String(), "SIP/2.0\r\n", "SIP/3.0\r\n", 1) }, 505, "Version"},
		{"body shorter than Content-Length", func(r *reqText) string {
			r.noContentLength = true
			r.extra = []string{"Content-Length: 500"}
			r.body = "short"
			return r.String()
		}, 400, "Content-Length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int64
			s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
			p := newUDPPeer(t)
			r := base(p)
			p.send(mustAddr(t, s, "udp"), tc.mod(&r))
			res := p.recvResponse(wait)
			if res.StatusCode != tc.wantCode || !strings.Contains(res.Reason, tc.wantReason) {
				t.Errorf("got %d %q, want %d containing %q", res.StatusCode, res.Reason, tc.wantCode, tc.wantReason)
			}
			if calls.Load() != 0 {
				t.Errorf("handler called for a bad request")
			}
			if got := s.Stats().BadRequests; got != 1 {
				t.Errorf("BadRequests: got %d, want 1", got)
			}
		})
	}
}

func TestGarbageThenValid(t *testing.T) {
	var calls atomic.Int64
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
	p := newUDPPeer(t)
	dst := mustAddr(t, s, "udp")
	valid := publish(p.addr().String(), "UDP", "z9hG4bK-gv").String()
	garbage := []string{
		"hello",
		"\x00\x01\x02\xff\xfe garbage",
		"SIP/2.0 200\r\n\r\n",
		valid[:40],
		"PUBLISH sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP\r\n\r\n",
		strings.Repeat("A", 3000),
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKnothing\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
	}
	for _, g := range garbage {
		p.send(dst, g)
	}
	p.send(dst, "\r\n\r\n") // keep-alive: ignored, not an error
	p.send(dst, valid)
	var res *sip.Response
	for res == nil || res.StatusCode != 200 {
		res = p.recvResponse(wait)
	}
	waitFor(t, wait, func() bool { return s.Stats().MessagesReceived == uint64(len(garbage)+2) })
	st := s.Stats()
	if st.ParseErrors < 4 || st.Dropped < 4 {
		t.Errorf("ParseErrors/Dropped: got %d/%d, want at least 4/4", st.ParseErrors, st.Dropped)
	}
	if st.Panics != 0 {
		t.Errorf("Panics: got %d, want 0", st.Panics)
	}
}

func TestHandlerPanic(t *testing.T) {
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: func(tx *ServerTx) { panic("boom") }})
	p := newUDPPeer(t)
	p.send(mustAddr(t, s, "udp"), publish(p.addr().String(), "UDP", "z9hG4bK-panic").String())
	if res := p.recvResponse(wait); res.StatusCode != 500 {
		t.Errorf("status: got %d, want 500", res.StatusCode)
	}
	if got := s.Stats().Panics; got != 1 {
		t.Errorf("Panics: got %d, want 1", got)
	}
}

func TestTCPFramingErrorCloses(t *testing.T) {
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: func(tx *ServerTx) { tx.Reply(200, "OK") }})
	p := dialPeer(t, mustAddr(t, s, "tcp"))
	r := publish("127.0.0.1:5999", "TCP", "z9hG4bK-nocl")
	r.noContentLength = true
	r.body = ""
	p.send(r.String())
	res, ok := p.recvMsg(wait).(*sip.Response)
	if !ok || res.StatusCode != 400 || !strings.Contains(res.Reason, "Content-Length") {
		t.Fatalf("got %v, want 400 about Content-Length", res)
	}
	p.c.SetReadDeadline(time.Now().Add(wait))
	if _, err := p.r.ReadByte(); err == nil {
		t.Error("connection still open after a framing error")
	}
}

func TestTCPKeepalivePong(t *testing.T) {
	s := newStack(t, nil, nil)
	p := dialPeer(t, mustAddr(t, s, "tcp"))
	p.send("\r\n\r\n")
	p.c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2)
	if _, err := p.r.Read(buf); err != nil || string(buf) != "\r\n" {
		t.Errorf("pong: got %q (%v), want CRLF", buf, err)
	}
}
