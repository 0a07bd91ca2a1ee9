package sipnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

type outcome struct {
	res *sip.Response
	err error
}

func sendAsync(t *testing.T, s *Stack, req *sip.Request, opts SendOptions) <-chan outcome {
	t.Helper()
	ch := make(chan outcome, 1)
	var calls atomic.Int64
	err := s.Send(req, opts, func(res *sip.Response, err error) {
		if calls.Add(1) > 1 {
			t.Errorf("done called twice: %v %v", res, err)
		}
		ch <- outcome{res, err}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func waitOutcome(t *testing.T, ch <-chan outcome, timeout time.Duration) outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(timeout):
		t.Fatalf("no outcome within %v", timeout)
	}
	return outcome{}
}

func TestSendUDP(t *testing.T) {
	// Timer K long enough that the retransmitted 200 below surely finds
	// the transaction on a loaded machine, short enough to see it end.
	s := newStack(t, func(c *Config) { c.T4 = 1000 }, nil)
	p := newUDPPeer(t)
	req := newRequest(t, sip.NOTIFY, "sip:watcher@"+p.addr().String())
	ch := sendAsync(t, s, req, SendOptions{})

	m, src := p.recvMsg(wait)
	got := m.(*sip.Request)
	if src != mustAddr(t, s, "udp") {
		t.Errorf("source: got %v, want our listening socket %v", src, mustAddr(t, s, "udp"))
	}
	via := got.Via()
	if via.Transport != "UDP" || via.Host != "127.0.0.1" || via.Port != int(src.Port()) {
		t.Errorf("Via: got %s, want UDP 127.0.0.1:%d", via.Value(), src.Port())
	}
	if b, _ := param(via.Params, "branch"); !strings.HasPrefix(b, magicCookie) {
		t.Errorf("branch %q lacks the magic cookie", b)
	}
	if _, ok := param(via.Params, "rport"); !ok {
		t.Errorf("Via has no rport")
	}
	if mf := got.MaxForwards(); mf == nil || *mf != 70 {
		t.Errorf("Max-Forwards: got %v, want 70", mf)
	}
	p.send(src, answer(got, 100, "Trying"))
	p.send(src, answer(got, 200, "OK"))
	o := waitOutcome(t, ch, wait)
	if o.err != nil || o.res.StatusCode != 200 {
		t.Fatalf("outcome: got %v %v, want 200", o.res, o.err)
	}
	// A retransmitted 200 is absorbed during Timer K.
	p.send(src, answer(got, 200, "OK"))
	waitFor(t, wait, func() bool { return s.Stats().RetransmissionsAbsorbed == 1 })
	waitFor(t, wait, func() bool { return s.Stats().ClientTransactions == 0 })
}

func TestSendRetransmitTimeout(t *testing.T) {
	s := newStack(t, nil, nil)
	p := newUDPPeer(t)
	start := time.Now()
	ch := sendAsync(t, s, newRequest(t, sip.NOTIFY, "sip:w@"+p.addr().String()), SendOptions{})
	o := waitOutcome(t, ch, wait)
	if !errors.Is(o.err, ErrTimeout) {
		t.Fatalf("err: got %v, want ErrTimeout", o.err)
	}
	if d := time.Since(start); d < 640*time.Millisecond {
		t.Errorf("timed out after %v, want Timer F = 64*T1 = 640ms", d)
	}
	n := 0
	for {
		m, _ := p.recv(10 * time.Millisecond)
		if m == "" {
			break
		}
		n++
	}
	// T1=10ms, T2=40ms: 0, 10, 30, 70, 110, ... within 640 ms: about 17
	// copies; a loaded machine fires timers late, so fewer.
	if n < 4 || n > 18 {
		t.Errorf("copies received: got %d, want 4 to 18", n)
	}
	st := s.Stats()
	if st.TxTimeouts != 1 || st.Retransmissions != uint64(n-1) || st.ClientTransactions != 0 {
		t.Errorf("stats: got %+v", st)
	}
}

func TestSendProvisionalSlowsRetransmissions(t *testing.T) {
	s := newStack(t, func(c *Config) { c.T1, c.T2 = 10, 200 }, nil)
	p := newUDPPeer(t)
	ch := sendAsync(t, s, newRequest(t, sip.NOTIFY, "sip:w@"+p.addr().String()), SendOptions{})
	m, src := p.recvMsg(wait)
	p.send(src, answer(m.(*sip.Request), 100, "Trying"))
	// In Proceeding, Timer E is T2 = 200 ms: at most 3 more copies in 640 ms.
	o := waitOutcome(t, ch, wait)
	if !errors.Is(o.err, ErrTimeout) {
		t.Fatalf("err: got %v, want ErrTimeout", o.err)
	}
	n := 0
	for x, _ := p.recv(10 * time.Millisecond); x != ""; x, _ = p.recv(10 * time.Millisecond) {
		n++
	}
	if n > 5 {
		t.Errorf("copies after 100 Trying: got %d, want at most 5", n)
	}
}

func TestDoStackToStack(t *testing.T) {
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var calls atomic.Int64
			server := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
			client := newStack(t, nil, nil)
			ruri := fmt.Sprintf("sip:presence@%s", mustAddr(t, server, tr))
			if tr == "tcp" {
				ruri += ";transport=tcp"
			}
			for i := range 3 {
				req := newRequest(t, sip.PUBLISH, ruri)
				req.AppendHeader(sip.NewHeader("Event", "presence"))
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				res, err := client.Do(ctx, req, SendOptions{})
				cancel()
				if err != nil || res.StatusCode != 200 || header(res, "SIP-ETag") != "e1" {
					t.Fatalf("request %d: got %v %v, want 200 with SIP-ETag", i, res, err)
				}
			}
			if tr == "tcp" {
				if got := client.Stats().TCPConnections; got != 1 {
					t.Errorf("client TCP connections: got %d, want 1 (reused)", got)
				}
			}
		})
	}
}

func TestSendLoosRoute(t *testing.T) {
	s := newStack(t, nil, nil)
	proxy, target := newUDPPeer(t), newUDPPeer(t)
	req := newRequest(t, sip.NOTIFY, "sip:w@"+target.addr().String())
	var u sip.Uri
	sip.ParseUri(fmt.Sprintf("sip:%s;lr", proxy.addr()), &u)
	req.AppendHeader(&sip.RouteHeader{Address: u})
	sendAsync(t, s, req, SendOptions{})
	if m, _ := proxy.recv(wait); m == "" {
		t.Error("loose-routed request did not reach the Route")
	}
}

func TestLargeUDP(t *testing.T) {
	body := strings.Repeat("x", 3000)
	t.Run("peer without tcp gets udp", func(t *testing.T) {
		s := newStack(t, nil, nil)
		p := newUDPPeer(t) // nothing listens on its port over TCP: connect is refused
		req := newRequest(t, sip.NOTIFY, "sip:w@"+p.addr().String())
		req.SetBody([]byte(body))
		ch := sendAsync(t, s, req, SendOptions{})
		m, src := p.recvMsg(wait)
		got := m.(*sip.Request)
		if got.Via().Transport != "UDP" || len(got.Body()) != len(body) {
			t.Fatalf("got Via %s with %d body bytes, want UDP and %d", got.Via().Value(), len(got.Body()), len(body))
		}
		p.send(src, answer(got, 200, "OK"))
		if o := waitOutcome(t, ch, wait); o.err != nil || o.res.StatusCode != 200 {
			t.Fatalf("outcome: %v %v", o.res, o.err)
		}
		if st := s.Stats(); st.LargeOverUDP != 1 || st.LargeOverTCP != 0 {
			t.Errorf("LargeOverUDP/TCP: got %d/%d, want 1/0", st.LargeOverUDP, st.LargeOverTCP)
		}
		// The failure is remembered: the next one goes straight to UDP.
		req2 := newRequest(t, sip.NOTIFY, "sip:w@"+p.addr().String())
		req2.SetBody([]byte(body))
		sendAsync(t, s, req2, SendOptions{})
		if m, _ := p.recvMsg(wait); m.(*sip.Request).Via().Transport != "UDP" {
			t.Errorf("second large request not over UDP")
		}
	})
	t.Run("no udp fallback when asked", func(t *testing.T) {
		s := newStack(t, nil, nil)
		p := newUDPPeer(t)
		req := newRequest(t, sip.NOTIFY, "sip:w@"+p.addr().String())
		req.SetBody([]byte(body))
		o := waitOutcome(t, sendAsync(t, s, req, SendOptions{NoLargeUDPFallback: true}), wait)
		var te *TransportError
		if !errors.As(o.err, &te) {
			t.Errorf("err: got %v, want a TransportError", o.err)
		}
		if m, _ := p.recv(50 * time.Millisecond); m != "" {
			t.Errorf("request delivered over UDP despite NoLargeUDPFallback")
		}
	})
	t.Run("peer with tcp gets tcp", func(t *testing.T) {
		var calls atomic.Int64
		var gotTr atomic.Value
		server := newStack(t, nil, map[sip.RequestMethod]Handler{sip.NOTIFY: func(tx *ServerTx) {
			gotTr.Store(tx.Transport())
			etagHandler(&calls)(tx)
		}})
		// The server listens on the same port for UDP and TCP.
		tcpAddr := mustAddr(t, server, "tcp")
		server2 := newStack(t, func(c *Config) {
			c.Listen = []string{"udp:" + tcpAddr.String()}
		}, nil)
		_ = server2 // holds the UDP port: a UDP send would not reach server
		client := newStack(t, nil, nil)
		req := newRequest(t, sip.NOTIFY, "sip:w@"+tcpAddr.String())
		req.SetBody([]byte(body))
		ch := sendAsync(t, client, req, SendOptions{})
		o := waitOutcome(t, ch, wait)
		if o.err != nil || o.res.StatusCode != 200 {
			t.Fatalf("outcome: %v %v", o.res, o.err)
		}
		if got := gotTr.Load(); got != "tcp" {
			t.Errorf("arrived over %v, want tcp", got)
		}
		if v := o.res.Via(); v.Transport != "TCP" {
			t.Errorf("Via transport: got %s, want TCP", v.Transport)
		}
		if st := client.Stats(); st.LargeOverTCP != 1 {
			t.Errorf("LargeOverTCP: got %d, want 1", st.LargeOverTCP)
		}
	})
}

func TestSendReusesInboundTCP(t *testing.T) {
	var src atomicAddr
	s := newStack(t, nil, map[sip.RequestMethod]Handler{sip.REGISTER: func(tx *ServerTx) {
		src.Store(tx.Source().String())
		tx.Reply(200, "OK")
	}})
	p := dialPeer(t, mustAddr(t, s, "tcp"))
	r := publish("10.0.0.1:5060", "TCP", "z9hG4bK-reg")
	r.method, r.cseq, r.body, r.extra = "REGISTER", "1 REGISTER", "", nil
	p.send(r.String())
	if res := p.recvMsg(wait).(*sip.Response); res.StatusCode != 200 {
		t.Fatalf("REGISTER: got %d", res.StatusCode)
	}
	// The NOTIFY to the phone goes over the phone's own connection.
	dst := p.c.LocalAddr().(*net.TCPAddr).AddrPort()
	ch := sendAsync(t, s, newRequest(t, sip.NOTIFY, "sip:phone@10.0.0.1:5060"), SendOptions{Transport: "tcp", Destination: dst})
	got := p.recvMsg(wait).(*sip.Request)
	if got.Method != sip.NOTIFY || got.Via().Transport != "TCP" {
		t.Fatalf("got %s over Via %s, want NOTIFY over TCP", got.Method, got.Via().Value())
	}
	p.send(answer(got, 200, "OK"))
	if o := waitOutcome(t, ch, wait); o.err != nil || o.res.StatusCode != 200 {
		t.Fatalf("outcome: %v %v", o.res, o.err)
	}
	if n := s.Stats().TCPConnections; n != 1 {
		t.Errorf("TCP connections: got %d, want 1", n)
	}
}

type atomicAddr struct{ atomic.Value }

func TestSendErrors(t *testing.T) {
	s := newStack(t, nil, nil)
	req := newRequest(t, sip.NOTIFY, "sip:w@127.0.0.1:9")
	req.RemoveHeader("Call-ID")
	if err := s.Send(req, SendOptions{}, func(*sip.Response, error) {}); err == nil {
		t.Error("request without Call-ID: got nil error")
	}
	if err := s.Send(newRequest(t, sip.NOTIFY, "sips:w@127.0.0.1"), SendOptions{}, func(*sip.Response, error) {}); err == nil {
		t.Error("sips: got nil error")
	}
	// A TCP connect that is refused comes to done as a TransportError.
	ch := sendAsync(t, s, newRequest(t, sip.NOTIFY, "sip:w@127.0.0.1:9;transport=tcp"), SendOptions{})
	o := waitOutcome(t, ch, wait)
	var te *TransportError
	if !errors.As(o.err, &te) || te.Op != "dial" {
		t.Errorf("err: got %v, want a dial TransportError", o.err)
	}
	if n := s.Stats().ClientTransactions; n != 0 {
		t.Errorf("ClientTransactions: got %d, want 0", n)
	}
}

func TestSendResolvesName(t *testing.T) {
	s := newStack(t, nil, nil)
	p := newUDPPeer(t)
	sendAsync(t, s, newRequest(t, sip.NOTIFY, fmt.Sprintf("sip:w@localhost:%d", p.addr().Port())), SendOptions{})
	if m, _ := p.recv(wait); m == "" {
		t.Error("request to localhost did not arrive")
	}
}

func TestStopFailsClientTx(t *testing.T) {
	cfg := testConfig()
	cfg.T1, cfg.T2 = 1000, 4000
	s, err := New(cfg, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := newUDPPeer(t)
	ch := sendAsync(t, s, newRequest(t, sip.NOTIFY, "sip:w@"+p.addr().String()), SendOptions{})
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := waitOutcome(t, ch, wait); !errors.Is(o.err, ErrStopped) {
		t.Errorf("err: got %v, want ErrStopped", o.err)
	}
	if err := s.Send(newRequest(t, sip.NOTIFY, "sip:w@127.0.0.1"), SendOptions{}, func(*sip.Response, error) {}); !errors.Is(err, ErrStopped) {
		t.Errorf("Send after Stop: got %v, want ErrStopped", err)
	}
}

func TestIPv6(t *testing.T) {
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		c.Close()
	}
	v6 := func(c *Config) { c.Listen = []string{"udp:[::1]:0", "tcp:[::1]:0"} }
	for _, tr := range []string{"udp", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var calls atomic.Int64
			var src atomic.Value
			server := newStack(t, v6, map[sip.RequestMethod]Handler{sip.PUBLISH: func(tx *ServerTx) {
				src.Store(tx.Source())
				etagHandler(&calls)(tx)
			}})
			client := newStack(t, v6, nil)
			ruri := "sip:presence@" + mustAddr(t, server, tr).String()
			if tr == "tcp" {
				ruri += ";transport=tcp"
			}
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			res, err := client.Do(ctx, newRequest(t, sip.PUBLISH, ruri), SendOptions{})
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("got %v %v, want 200", res, err)
			}
			if a := src.Load().(netip.AddrPort); !a.Addr().Is6() {
				t.Errorf("source: got %v, want IPv6", a)
			}
			if h := client.AdvertisedHostPort(tr); !strings.HasPrefix(h, "[::1]:") {
				t.Errorf("advertised: got %q, want [::1]:port", h)
			}
		})
	}
	t.Run("dual-stack wildcard serves IPv4", func(t *testing.T) {
		var calls atomic.Int64
		server := newStack(t, func(c *Config) { c.Listen = []string{"udp:[::]:0"} }, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
		p := newUDPPeer(t)
		p.send(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), mustAddr(t, server, "udp").Port()), publish(p.addr().String(), "UDP", "z9hG4bK-ds").String())
		if res := p.recvResponse(wait); res.StatusCode != 200 {
			t.Errorf("got %d, want 200", res.StatusCode)
		}
	})
}
