package sipnet

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestAdvertised(t *testing.T) {
	tests := []struct {
		name      string
		listen    []string
		advertise string
		wantUDP   string // with PORT for the bound port
		wantTCP   string
	}{
		{"wildcard v4", []string{"udp:0.0.0.0:0", "tcp:0.0.0.0:0"}, "", "127.0.0.1:UDP", "127.0.0.1:TCP"},
		{"loopback", []string{"udp:127.0.0.1:0"}, "", "127.0.0.1:UDP", ""},
		{"advertise host", []string{"udp:127.0.0.1:0", "tcp:127.0.0.1:0"}, "sip.example.com", "sip.example.com:UDP", "sip.example.com:TCP"},
		{"advertise host and port", []string{"udp:127.0.0.1:0"}, "198.51.100.7:5080", "198.51.100.7:5080", "198.51.100.7:5080"},
		{"advertise v6", []string{"udp:127.0.0.1:0"}, "[2001:db8::1]:5060", "[2001:db8::1]:5060", "[2001:db8::1]:5060"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t, func(c *Config) { c.Listen, c.Advertise = tc.listen, tc.advertise }, nil)
			repl := func(x string) string {
				if a, ok := s.Addr("udp"); ok {
					x = strings.Replace(x, "UDP", fmt.Sprint(a.Port()), 1)
				}
				if a, ok := s.Addr("tcp"); ok {
					x = strings.Replace(x, "TCP", fmt.Sprint(a.Port()), 1)
				}
				return x
			}
			if got, want := s.AdvertisedHostPort("udp"), repl(tc.wantUDP); got != want {
				t.Errorf("udp: got %q, want %q", got, want)
			}
			if got, want := s.AdvertisedHostPort("tcp"), repl(tc.wantTCP); got != want {
				t.Errorf("tcp: got %q, want %q", got, want)
			}
			if a, ok := s.Addr("udp"); !ok || a.Port() == 0 {
				t.Errorf("Addr(udp): got %v %v, want a bound port", a, ok)
			}
		})
	}
}

func TestContactURI(t *testing.T) {
	s := newStack(t, nil, nil)
	u := s.ContactURI("tcp", "presence")
	want := fmt.Sprintf("sip:presence@127.0.0.1:%d;transport=tcp", mustAddr(t, s, "tcp").Port())
	if got := u.String(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	u = s.ContactURI("udp", "presence")
	want = fmt.Sprintf("sip:presence@127.0.0.1:%d", mustAddr(t, s, "udp").Port())
	if got := u.String(); got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Error("Handle after Start: no panic")
		}
	}()
	s.Handle("X", nil)
}

func TestMethods(t *testing.T) {
	s, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []sip.RequestMethod{sip.SUBSCRIBE, sip.INVITE, sip.PUBLISH} {
		s.Handle(m, func(*ServerTx) {})
	}
	if got, want := strings.Join(s.Methods(), ","), "ACK,CANCEL,INVITE,PUBLISH,SUBSCRIBE"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestSendStateless(t *testing.T) {
	t.Run("ack gets our via", func(t *testing.T) {
		s := newStack(t, nil, nil)
		p := newUDPPeer(t)
		ack := newRequest(t, sip.ACK, "sip:bob@"+p.addr().String())
		if err := s.SendStateless(ack, SendOptions{}); err != nil {
			t.Fatal(err)
		}
		m, src := p.recvMsg(wait)
		got := m.(*sip.Request)
		if got.Method != sip.ACK || got.Via() == nil || src != mustAddr(t, s, "udp") {
			t.Fatalf("got %s from %v, want an ACK with our Via from %v", got.Method, src, mustAddr(t, s, "udp"))
		}
		if b, _ := param(got.Via().Params, "branch"); !strings.HasPrefix(b, magicCookie) {
			t.Errorf("branch: got %q", b)
		}
	})
	t.Run("response follows received and rport", func(t *testing.T) {
		s := newStack(t, nil, nil)
		p := newUDPPeer(t)
		res := sip.NewResponse(200, "OK")
		res.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "phone.invalid", Port: 5060,
			Params: sip.HeaderParams{{K: "branch", V: "z9hG4bKfwd"}, {K: "received", V: "127.0.0.1"}, {K: "rport", V: fmt.Sprint(p.addr().Port())}}})
		res.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
		if err := s.SendStateless(res, SendOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := p.recvResponse(wait); got.StatusCode != 200 {
			t.Errorf("got %d, want 200", got.StatusCode)
		}
	})
	t.Run("tcp", func(t *testing.T) {
		got := make(chan string, 1)
		server := newStack(t, nil, map[sip.RequestMethod]Handler{sip.ACK: func(tx *ServerTx) { got <- tx.Transport() }})
		client := newStack(t, nil, nil)
		ack := newRequest(t, sip.ACK, "sip:bob@"+mustAddr(t, server, "tcp").String()+";transport=tcp")
		if err := client.SendStateless(ack, SendOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case tr := <-got:
			if tr != "tcp" {
				t.Errorf("got %s, want tcp", tr)
			}
		case <-time.After(wait):
			t.Fatal("ACK not delivered")
		}
	})
}

func TestTCPIdleTimeout(t *testing.T) {
	s := newStack(t, func(c *Config) { c.TCPIdleTimeout = 1 }, nil)
	p := dialPeer(t, mustAddr(t, s, "tcp"))
	waitFor(t, wait, func() bool { return s.Stats().TCPConnections == 1 })
	start := time.Now()
	p.c.SetReadDeadline(time.Now().Add(wait))
	if _, err := p.r.ReadByte(); err == nil {
		t.Fatal("read data, want the connection closed")
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("closed after %v, want about 1 s", d)
	}
	waitFor(t, wait, func() bool { return s.Stats().TCPConnections == 0 })
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error, "" for valid
	}{
		{"default", func(*Config) {}, ""},
		{"bad listen", func(c *Config) { c.Listen = []string{"sctp:1.2.3.4:5060"} }, "listen[0]"},
		{"t2 below t1", func(c *Config) { c.T1, c.T2 = 500, 100 }, "t2_ms"},
		{"t4 negative", func(c *Config) { c.T4 = -1 }, "t4_ms"},
		{"advertise bad port", func(c *Config) { c.Advertise = "example.com:99999" }, "advertise"},
		{"advertise bad host", func(c *Config) { c.Advertise = "exa mple.com" }, "advertise"},
		{"advertise v6 bare", func(c *Config) { c.Advertise = "2001:db8::1" }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mod(&c)
			errs := c.Validate()
			got := fmt.Sprint(errs)
			if tc.want == "" && len(errs) != 0 || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("got %v, want %q", errs, tc.want)
			}
		})
	}
}

func TestStartStop(t *testing.T) {
	s, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("Stop before Start: %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("second Start: got nil error")
	}
	// A listener on a taken port fails Start and releases the others.
	taken := mustAddr(t, s, "udp")
	s2, _ := New(func() Config {
		c := testConfig()
		c.Listen = []string{"tcp:127.0.0.1:0", "udp:" + taken.String()}
		return c
	}(), nil)
	if err := s2.Start(context.Background()); err == nil {
		t.Error("Start on a taken port: got nil error")
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(taken)); err != nil {
		t.Errorf("port not released after Stop: %v", err)
	}
}

func TestWriteViaMatchesSipgo(t *testing.T) {
	for _, v := range []string{
		"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;rport",
		"SIP/2.0/TCP host.example.com;branch=z9hG4bKx;received=192.0.2.9;rport=4000",
		"SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bKv6",
		"SIP/2.0/UDP 192.0.2.1",
	} {
		msg := "OPTIONS sip:a@b SIP/2.0\r\nVia: " + v + "\r\n\r\n"
		m, err := sip.ParseMessage([]byte(msg))
		if err != nil {
			t.Fatal(err)
		}
		via := m.Via()
		var buf bytes.Buffer
		writeVia(&buf, via)
		if got, want := buf.String(), via.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestStopGrace(t *testing.T) {
	held := make(chan *ServerTx, 1)
	s, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Handle(sip.PUBLISH, func(tx *ServerTx) { held <- tx })
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := newUDPPeer(t)
	p.send(mustAddr(t, s, "udp"), publish(p.addr().String(), "UDP", "z9hG4bK-grace").String())
	tx := <-held
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		stopped <- s.Stop(ctx)
	}()
	// Stop waits for the answer, which still goes out.
	waitFor(t, wait, func() bool { return s.stopping() })
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned %v before the handler answered", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := tx.Reply(200, "OK"); err != nil {
		t.Fatal(err)
	}
	if res := p.recvResponse(wait); res.StatusCode != 200 {
		t.Errorf("got %d, want 200", res.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Stop: %v", err)
	}
	// A grace period that runs out is an error.
	s2 := newStack(t, nil, map[sip.RequestMethod]Handler{sip.PUBLISH: func(tx *ServerTx) {}})
	p.send(mustAddr(t, s2, "udp"), publish(p.addr().String(), "UDP", "z9hG4bK-grace2").String())
	waitFor(t, wait, func() bool { return s2.Stats().ServerTransactions == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s2.Stop(ctx); err == nil {
		t.Error("Stop with an unanswered request and a short grace: got nil error")
	}
}
