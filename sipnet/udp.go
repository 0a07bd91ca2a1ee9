package sipnet

import (
	"errors"
	"hash/maphash"
	"net"
	"net/netip"
)

type udpListener struct {
	conn *net.UDPConn
	addr netip.AddrPort // bound address
	dual bool           // an IPv6 wildcard socket that also serves IPv4
}

// listenUDP binds a UDP socket. 0.0.0.0 is IPv4 only; :: is dual-stack.
func listenUDP(a netip.AddrPort, rcvbuf int) (*udpListener, error) {
	network := "udp4"
	dual := false
	if a.Addr().Is6() && !a.Addr().Is4In6() {
		network = "udp6"
		if a.Addr().IsUnspecified() {
			network, dual = "udp", true
		}
	}
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(a))
	if err != nil {
		return nil, err
	}
	if rcvbuf > 0 {
		if err := c.SetReadBuffer(rcvbuf); err != nil {
			c.Close()
			return nil, err
		}
	}
	return &udpListener{conn: c, addr: c.LocalAddr().(*net.UDPAddr).AddrPort(), dual: dual}, nil
}

// serves reports whether l can send to dst.
func (l *udpListener) serves(dst netip.Addr) bool {
	if l.dual {
		return true
	}
	return l.addr.Addr().Unmap().Is4() == dst.Unmap().Is4()
}

// udpFor returns the listening socket to send to dst from.
func (s *Stack) udpFor(dst netip.Addr) *udpListener {
	for _, l := range s.udp {
		if l.serves(dst) && !l.dual {
			return l
		}
	}
	for _, l := range s.udp {
		if l.serves(dst) {
			return l
		}
	}
	return nil
}

// readUDP reads datagrams and queues them for the workers. It ends when
// the socket is closed or Stop sets a read deadline.
func (s *Stack) readUDP(l *udpListener) {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, src, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.stopping() {
				return
			}
			s.log.Warn("udp read failed", "addr", l.addr.String(), "error", err)
			continue
		}
		s.st.received.Add(1)
		if n > s.maxMsg {
			s.st.dropped.Add(1)
			continue
		}
		j := job{src: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), udp: l, n: n}
		if n <= smallBuf {
			j.buf = s.small.Get().(*[]byte)
			copy(*j.buf, buf[:n])
		} else {
			b := make([]byte, n)
			copy(b, buf[:n])
			j.buf = &b
		}
		// The datagrams of one Call-ID go to one worker, in the order they
		// arrived: a 180 and the 200 right behind it, or a NOTIFY and the
		// BYE after it, must not overtake each other between workers.
		q := s.jobs
		cid, repeated := rawHeaders((*j.buf)[:n])
		j.repeated, j.method, j.scanned = repeated, rawMethod((*j.buf)[:n]), true
		if cid != nil {
			q = s.own[maphash.Bytes(s.seed, cid)%uint64(len(s.own))]
		}
		select {
		case q <- j:
		case <-s.quit:
			return
		}
	}
}

// writeUDP sends b from l to dst.
func (s *Stack) writeUDP(l *udpListener, dst netip.AddrPort, b []byte) error {
	if _, err := l.conn.WriteToUDPAddrPort(b, dst); err != nil {
		s.st.sendErrors.Add(1)
		return &TransportError{Op: "write", Transport: "udp", Addr: dst.String(), Err: err}
	}
	s.st.sent.Add(1)
	if s.debug() {
		s.log.Debug("sip message sent", "transport", "udp", "local", l.addr.String(), "remote", dst.String(), "msg", string(b))
	}
	return nil
}
