package sipnet

import (
	"context"
	"errors"
	"hash/maphash"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"
)

type tcpListener struct {
	ln   *net.TCPListener
	addr netip.AddrPort
}

// listenTCP binds a TCP listener. 0.0.0.0 is IPv4 only; :: is dual-stack.
func listenTCP(ctx context.Context, a netip.AddrPort) (*tcpListener, error) {
	network := "tcp4"
	if a.Addr().Is6() && !a.Addr().Is4In6() {
		network = "tcp6"
		if a.Addr().IsUnspecified() {
			network = "tcp"
		}
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, network, a.String())
	if err != nil {
		return nil, err
	}
	t := ln.(*net.TCPListener)
	return &tcpListener{ln: t, addr: t.Addr().(*net.TCPAddr).AddrPort()}, nil
}

// tcpConn is one connection, accepted or dialed. Its reader goroutine owns
// the read side; writes are serialised by wmu.
type tcpConn struct {
	s             *Stack
	c             net.Conn
	remote, local netip.AddrPort
	wmu           sync.Mutex
	last          atomic.Int64 // UnixNano of the last read or write
	closed        atomic.Bool
}

func (c *tcpConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *tcpConn) idleFor() time.Duration {
	return time.Duration(time.Now().UnixNano() - c.last.Load())
}

func (c *tcpConn) write(b []byte) error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	c.wmu.Lock()
	c.c.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
	_, err := c.c.Write(b)
	c.wmu.Unlock()
	if err != nil {
		c.close()
		return err
	}
	c.touch()
	return nil
}

func (c *tcpConn) close() {
	if c.closed.CompareAndSwap(false, true) {
		c.c.Close()
		c.s.conns.remove(c)
		c.s.st.tcpConns.Add(-1)
	}
}

// tcpPool holds the open connections by remote address, the dials in
// progress, and the addresses where TCP recently failed. Its mutex is a
// leaf.
type tcpPool struct {
	mu      sync.Mutex
	conns   map[netip.AddrPort]*tcpConn
	dialing map[netip.AddrPort][]func(*tcpConn, error)
	failed  map[netip.AddrPort]time.Time
	closed  bool
}

func (p *tcpPool) init() {
	p.conns = make(map[netip.AddrPort]*tcpConn)
	p.dialing = make(map[netip.AddrPort][]func(*tcpConn, error))
	p.failed = make(map[netip.AddrPort]time.Time)
}

func (p *tcpPool) get(a netip.AddrPort) *tcpConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c := p.conns[a]; c != nil && !c.closed.Load() {
		return c
	}
	return nil
}

func (p *tcpPool) add(c *tcpConn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c.remote] = c
	return true
}

func (p *tcpPool) remove(c *tcpConn) {
	p.mu.Lock()
	if p.conns[c.remote] == c {
		delete(p.conns, c.remote)
	}
	p.mu.Unlock()
}

func (p *tcpPool) each(f func(*tcpConn)) {
	p.mu.Lock()
	cs := make([]*tcpConn, 0, len(p.conns))
	for _, c := range p.conns {
		cs = append(cs, c)
	}
	p.mu.Unlock()
	for _, c := range cs {
		f(c)
	}
}

func (p *tcpPool) closeAll() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.each((*tcpConn).close)
}

func (p *tcpPool) failedRecently(a netip.AddrPort) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.failed[a]
	if ok && time.Since(t) > tcpFailMemory {
		delete(p.failed, a)
		return false
	}
	return ok
}

func (p *tcpPool) markFailed(a netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.failed) > 4096 {
		for k, t := range p.failed {
			if time.Since(t) > tcpFailMemory {
				delete(p.failed, k)
			}
		}
	}
	p.failed[a] = time.Now()
}

func (p *tcpPool) takeWaiters(a netip.AddrPort) []func(*tcpConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.dialing[a]
	delete(p.dialing, a)
	return w
}

// acceptTCP accepts connections until the listener is closed.
func (s *Stack) acceptTCP(l *tcpListener) {
	defer s.wg.Done()
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) || s.stopping() {
				return
			}
			s.log.Warn("tcp accept failed", "addr", l.addr.String(), "error", err)
			select {
			case <-time.After(10 * time.Millisecond):
			case <-s.quit:
				return
			}
			continue
		}
		s.startConn(c)
	}
}

// startConn registers c and starts its reader; nil when stopping.
func (s *Stack) startConn(c net.Conn) *tcpConn {
	ra := c.RemoteAddr().(*net.TCPAddr).AddrPort()
	la := c.LocalAddr().(*net.TCPAddr).AddrPort()
	tc := &tcpConn{
		s:      s,
		c:      c,
		remote: netip.AddrPortFrom(ra.Addr().Unmap(), ra.Port()),
		local:  netip.AddrPortFrom(la.Addr().Unmap(), la.Port()),
	}
	tc.touch()
	if !s.conns.add(tc) {
		c.Close()
		return nil
	}
	s.st.tcpConns.Add(1)
	if !s.goAsync(func() { s.readTCP(tc) }) {
		tc.close()
		return nil
	}
	return tc
}

// dialTCP calls cb with a connection to dst: an open one at once, else a
// new one from a dial on its own goroutine (concurrent dials to one
// address are merged). The error is a *TransportError.
func (s *Stack) dialTCP(dst netip.AddrPort, cb func(*tcpConn, error)) {
	p := &s.conns
	p.mu.Lock()
	if c := p.conns[dst]; c != nil && !c.closed.Load() {
		p.mu.Unlock()
		cb(c, nil)
		return
	}
	if w, ok := p.dialing[dst]; ok {
		p.dialing[dst] = append(w, cb)
		p.mu.Unlock()
		return
	}
	p.dialing[dst] = []func(*tcpConn, error){cb}
	p.mu.Unlock()
	if !s.goAsync(func() { s.dial(dst) }) {
		for _, w := range p.takeWaiters(dst) {
			w(nil, &TransportError{Op: "dial", Transport: "tcp", Addr: dst.String(), Err: ErrStopped})
		}
	}
}

func (s *Stack) dial(dst netip.AddrPort) {
	d := net.Dialer{Timeout: tcpConnTimeout}
	for _, l := range s.tcpLn {
		a := l.addr.Addr().Unmap()
		if !a.IsUnspecified() && a.Is4() == dst.Addr().Is4() {
			d.LocalAddr = &net.TCPAddr{IP: a.AsSlice()}
			break
		}
	}
	var tc *tcpConn
	c, err := d.DialContext(s.runCtx, "tcp", dst.String())
	if err == nil {
		if tc = s.startConn(c); tc == nil {
			err = ErrStopped
		}
	}
	var terr error
	if err != nil {
		terr = &TransportError{Op: "dial", Transport: "tcp", Addr: dst.String(), Err: err}
		s.log.Debug("tcp dial failed", "addr", dst.String(), "error", err)
	}
	for _, w := range s.conns.takeWaiters(dst) {
		func() {
			defer s.recover()
			w(tc, terr)
		}()
	}
}

// readTCP reads and frames messages from one connection until it fails,
// idles out or the stack stops.
func (s *Stack) readTCP(tc *tcpConn) {
	defer func() {
		if !s.stopping() {
			tc.close()
		}
	}()
	stream := s.parser.NewSIPStream()
	defer stream.Close()
	buf := make([]byte, 4096)
	// raw keeps the bytes of the messages being framed, from the start of
	// the current one: the stream parser consumes lines as they arrive,
	// and the raw checks (repeated headers, the method as sent) need the
	// whole header section.
	var raw []byte
	idle := time.Duration(s.cfg.TCPIdleTimeout) * time.Second
	for {
		tc.c.SetReadDeadline(time.Now().Add(idle))
		n, err := tc.c.Read(buf)
		if n > 0 {
			tc.touch()
			if stream.Buffer().Len() == 0 && string(buf[:n]) == "\r\n\r\n" {
				tc.write([]byte("\r\n")) // RFC 5626 4.4.1 pong
			} else {
				stream.Write(buf[:n])
				raw = append(raw, buf[:n]...)
				if !s.frameTCP(tc, stream, &raw) {
					return
				}
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !s.stopping() && tc.idleFor() < idle {
				continue
			}
			if !errors.Is(err, io.EOF) && !s.stopping() {
				s.log.Debug("tcp read ended", "remote", tc.remote.String(), "error", err)
			}
			return
		}
	}
}

// frameTCP hands every complete message in the stream to a worker. It
// reports false when the connection must be closed: a framing error
// (missing Content-Length, oversized or malformed message), after a 400
// when the request can be answered.
func (s *Stack) frameTCP(tc *tcpConn, stream *sip.ParserStream, raw *[]byte) bool {
	for stream.Buffer().Len() > 0 {
		msg, n, err := stream.ParseNext()
		var repeated, method string
		if err == nil {
			m := (*raw)[:min(n, len(*raw))]
			repeated, method = repeatedRawHeader(m), rawMethod(m)
			*raw = append((*raw)[:0], (*raw)[len(m):]...)
		}
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return true
			}
			s.st.received.Add(1)
			s.st.parseErrors.Add(1)
			in := inbound{transport: "tcp", src: tc.remote, local: tc.local, tcp: tc}
			if req, ok := msg.(*sip.Request); ok && req != nil && req.Method != sip.ACK && routableVia(req) {
				reason := "Bad Request (malformed message)"
				switch {
				case errors.Is(err, sip.ErrParseReadBodyIncomplete):
					reason = "Bad Request (missing Content-Length header)"
				case errors.Is(err, sip.ErrMessageTooLarge):
					reason = "Message Too Large"
				}
				code := 400
				if errors.Is(err, sip.ErrMessageTooLarge) {
					code = 513
				}
				s.replyStateless(req, in, code, reason)
			} else {
				s.st.dropped.Add(1)
			}
			s.log.Debug("tcp framing error, closing", "remote", tc.remote.String(), "error", err)
			return false
		}
		s.st.received.Add(1)
		idx := 0
		if cid := msg.CallID(); cid != nil {
			idx = int(maphash.String(s.seed, string(*cid)) % uint64(len(s.own)))
		}
		select {
		case s.own[idx] <- job{msg: msg, tcp: tc, src: tc.remote, repeated: repeated, method: method}:
		case <-s.quit:
			return false
		}
	}
	return true
}

// writeTCP sends b on c.
func (s *Stack) writeTCP(c *tcpConn, b []byte) error {
	if err := c.write(b); err != nil {
		s.st.sendErrors.Add(1)
		return &TransportError{Op: "write", Transport: "tcp", Addr: c.remote.String(), Err: err}
	}
	s.st.sent.Add(1)
	if s.debug() {
		s.log.Debug("sip message sent", "transport", "tcp", "local", c.local.String(), "remote", c.remote.String(), "msg", string(b))
	}
	return nil
}
