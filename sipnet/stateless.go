package sipnet

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// SendStateless sends a message outside any transaction: the ACK of a
// 2xx, or a request or response forwarded statelessly. A request without
// a Via gets ours (new branch) and goes to the next hop chosen as in Send
// (over TCP when it is a UDP request over 1300 bytes and TCP works); one
// with a Via is sent as it is, over the transport chosen. A response goes where its top Via says (RFC 3261 18.2.2:
// received, rport, sent-by). It may block for a DNS lookup or a TCP
// connect (2 s at most).
func (s *Stack) SendStateless(msg sip.Message, opts SendOptions) error {
	if !s.running() {
		return fmt.Errorf("send stateless: %w", ErrStopped)
	}
	switch m := msg.(type) {
	case *sip.Request:
		return s.statelessRequest(m, opts)
	case *sip.Response:
		return s.statelessResponse(m, opts)
	}
	return errors.New("send stateless: not a request or response")
}

func (s *Stack) statelessRequest(req *sip.Request, opts SendOptions) error {
	tg, err := s.requestTarget(req, opts)
	if err != nil {
		return fmt.Errorf("send stateless %s: %w", req.Method, err)
	}
	if !tg.addr.IsValid() {
		addrs, err := s.lookup(tg.host)
		if tg.addr, err = s.pickAddr(tg, addrs, err); err != nil {
			return fmt.Errorf("send stateless %s: %w", req.Method, err)
		}
	}
	var ours *sip.ViaHeader
	if req.Via() == nil {
		ours = &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
			Params: sip.HeaderParams{{K: "branch", V: newBranch()}, {K: "rport"}}}
		req.PrependHeader(ours)
	}
	if req.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	ensureContentLength(req)
	setTr := func(tr string) {
		if ours != nil {
			s.setVia(ours, tr)
		}
	}
	if tg.transport == "udp" {
		setTr("udp")
		b := s.encodeOwned(req)
		// The switch to TCP needs a Via we own: a forwarded request's Via
		// says the transport its sender chose.
		if len(b) <= largeUDP || ours == nil || s.conns.failedRecently(tg.addr) {
			return s.statelessUDP(tg.addr, b)
		}
		setTr("tcp")
		if err := s.statelessTCP(tg.addr, s.encodeOwned(req)); err == nil {
			s.st.largeTCP.Add(1)
			return nil
		} else if opts.NoLargeUDPFallback {
			return fmt.Errorf("send stateless %s: %w", req.Method, err)
		}
		s.conns.markFailed(tg.addr)
		setTr("udp")
		s.st.largeUDP.Add(1)
		return s.statelessUDP(tg.addr, b)
	}
	setTr("tcp")
	if err := s.statelessTCP(tg.addr, s.encodeOwned(req)); err != nil {
		return fmt.Errorf("send stateless %s: %w", req.Method, err)
	}
	return nil
}

func (s *Stack) statelessResponse(res *sip.Response, opts SendOptions) error {
	via := res.Via()
	if via == nil {
		return errors.New("send stateless response: no Via")
	}
	tr := strings.ToLower(via.Transport)
	if opts.Transport != "" {
		tr = strings.ToLower(opts.Transport)
	}
	if tr != "udp" && tr != "tcp" {
		return fmt.Errorf("send stateless response: transport %q not supported", tr)
	}
	dst := opts.Destination
	if !dst.IsValid() {
		host := strings.Trim(via.Host, "[]")
		if r, ok := param(via.Params, "received"); ok && r != "" {
			host = r
		}
		port := via.Port
		if rp, ok := param(via.Params, "rport"); ok {
			if n, err := strconv.Atoi(rp); err == nil {
				port = n
			}
		}
		if port <= 0 || port > 65535 {
			port = 5060
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			tg := target{transport: tr, host: host, port: uint16(port)}
			addrs, err := s.lookup(host)
			if dst, err = s.pickAddr(tg, addrs, err); err != nil {
				return fmt.Errorf("send stateless response: %w", err)
			}
		} else {
			dst = netip.AddrPortFrom(a.Unmap(), uint16(port))
		}
	}
	dst = netip.AddrPortFrom(dst.Addr().Unmap(), dst.Port())
	ensureContentLength(res)
	b := s.encodeOwned(res)
	var err error
	if tr == "udp" {
		err = s.statelessUDP(dst, b)
	} else {
		err = s.statelessTCP(dst, b)
	}
	if err != nil {
		return fmt.Errorf("send stateless response: %w", err)
	}
	return nil
}

func (s *Stack) statelessUDP(dst netip.AddrPort, b []byte) error {
	l := s.udpFor(dst.Addr())
	if l == nil {
		return &TransportError{Op: "write", Transport: "udp", Addr: dst.String(), Err: errors.New("no udp socket of that address family")}
	}
	if len(b) > maxUDP {
		return &TransportError{Op: "write", Transport: "udp", Addr: dst.String(), Err: fmt.Errorf("%d bytes is too large for udp", len(b))}
	}
	return s.writeUDP(l, dst, b)
}

// statelessTCP writes b to an open connection to dst, or dials one and
// waits for it.
func (s *Stack) statelessTCP(dst netip.AddrPort, b []byte) error {
	if c := s.conns.get(dst); c != nil {
		return s.writeTCP(c, b)
	}
	ch := make(chan error, 1)
	s.dialTCP(dst, func(c *tcpConn, err error) {
		if err == nil {
			err = s.writeTCP(c, b)
		}
		ch <- err
	})
	return <-ch
}
