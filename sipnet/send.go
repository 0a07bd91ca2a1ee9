package sipnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// SendOptions change where a request goes.
type SendOptions struct {
	// Transport overrides the transport ("udp" or "tcp") taken from the
	// next hop URI's transport parameter.
	Transport string
	// Destination overrides the next hop address, e.g. the NAT source a
	// contact registered from. Over TCP an open connection from or to
	// that address is used.
	Destination netip.AddrPort
	// NoLargeUDPFallback fails a UDP request over 1300 bytes with a
	// *TransportError when TCP to its destination fails, instead of
	// sending it over UDP anyway.
	NoLargeUDPFallback bool
}

// target is a request's next hop: an address, or a host to resolve.
type target struct {
	transport string // "udp" or "tcp"
	addr      netip.AddrPort
	host      string
	port      uint16
}

// Send starts a non-INVITE client transaction. It adds our Via on top
// (branch, rport), Max-Forwards 70 if absent and Content-Length, and
// sends req to its next hop: the top Route if it is a loose router (lr),
// else the Request-URI; transport from its transport parameter (udp by
// default), port 5060 by default, host resolved with A/AAAA. A UDP request
// leaves from our listening UDP socket. Send takes ownership of req.
//
// done is called once with the final response, or with ErrTimeout (Timer
// F) or a *TransportError; provisional responses are not reported. It
// runs on a stack goroutine, possibly before Send returns, and must not
// block. If Send returns an error, done is never called.
func (s *Stack) Send(req *sip.Request, opts SendOptions, done func(res *sip.Response, err error)) error {
	if done == nil {
		return fmt.Errorf("send %s: nil done callback", req.Method)
	}
	if req.Method == sip.INVITE || req.Method == sip.ACK {
		return fmt.Errorf("send %s: use SendInvite or SendStateless", req.Method)
	}
	return s.startClient(req, opts, &clientTx{done: done})
}

// Do sends req as in Send and waits for the outcome or ctx.
func (s *Stack) Do(ctx context.Context, req *sip.Request, opts SendOptions) (*sip.Response, error) {
	type result struct {
		res *sip.Response
		err error
	}
	ch := make(chan result, 1)
	if err := s.Send(req, opts, func(res *sip.Response, err error) { ch <- result{res, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.res, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SendInvite starts an INVITE client transaction (RFC 3261 17.1.1 with
// RFC 6026), prepared and routed as in Send. onResponse gets every
// response passed up: provisional ones, the final one, and further 2xx
// (retransmissions or forks) during Timer M; the ACK of a non-2xx is sent
// by the transaction, the ACK of a 2xx is the caller's (SendStateless).
// done is called once, last, when the transaction ends: nil after a final
// response (once Timer D or M ran out), ErrTimeout (Timer B, or no final
// response 64*T1 after a CANCEL) or a *TransportError. Callbacks run in
// order on stack goroutines and must not block.
func (s *Stack) SendInvite(req *sip.Request, opts SendOptions, onResponse func(res *sip.Response), done func(err error)) (*ClientTx, error) {
	if req.Method != sip.INVITE {
		return nil, fmt.Errorf("send invite: method is %s", req.Method)
	}
	t := &clientTx{invite: true, req: req, onResponse: onResponse, doneErr: done}
	if err := s.startClient(req, opts, t); err != nil {
		return nil, err
	}
	return &ClientTx{t: t}, nil
}

// checkOutgoing checks what a request needs before it can be sent.
func checkOutgoing(req *sip.Request) error {
	switch {
	case req.From() == nil:
		return errors.New("missing From header")
	case req.To() == nil:
		return errors.New("missing To header")
	case req.CallID() == nil:
		return errors.New("missing Call-ID header")
	case req.CSeq() == nil:
		return errors.New("missing CSeq header")
	case req.CSeq().MethodName != req.Method:
		return errors.New("CSeq method does not match the request")
	}
	return nil
}

func (s *Stack) startClient(req *sip.Request, opts SendOptions, t *clientTx) error {
	if !s.running() {
		return fmt.Errorf("send %s: %w", req.Method, ErrStopped)
	}
	if err := checkOutgoing(req); err != nil {
		return fmt.Errorf("send %s: %w", req.Method, err)
	}
	tg, err := s.requestTarget(req, opts)
	if err != nil {
		return fmt.Errorf("send %s: %w", req.Method, err)
	}
	branch := newBranch()
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP",
		Params: sip.HeaderParams{{K: "branch", V: branch}, {K: "rport"}}}
	req.PrependHeader(via)
	if req.MaxForwards() == nil {
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
	}
	ensureContentLength(req)

	t.s, t.key, t.via, t.opts = s, clientKey(branch, req.Method), via, opts
	if !s.cli.add(t.key, t) {
		return fmt.Errorf("send %s: branch collision", req.Method)
	}
	s.st.clientTx.Add(1)
	if !s.running() {
		// Stop may have drained the table before we added to it. If it
		// found us, done already had ErrStopped.
		t.mu.Lock()
		aborted := t.state == cliTerminated
		if !aborted {
			t.terminate()
		}
		t.mu.Unlock()
		if aborted {
			return nil
		}
		return fmt.Errorf("send %s: %w", req.Method, ErrStopped)
	}
	t.mu.Lock()
	s.timers.arm(&t.timeout, s.t64, t, timerTimeout) // Timer B or F
	t.mu.Unlock()

	if !tg.addr.IsValid() {
		if addrs, err, ok := s.dns.cached(tg.host); ok {
			tg.addr, err = s.pickAddr(tg, addrs, err)
			if err != nil {
				t.unregister()
				return fmt.Errorf("send %s: %w", req.Method, err)
			}
		}
	}
	if tg.addr.IsValid() {
		if err := s.transmit(t, req, tg); err != nil {
			t.unregister()
			return fmt.Errorf("send %s: %w", req.Method, err)
		}
		return nil
	}
	if !s.goAsync(func() {
		addrs, err := s.lookup(tg.host)
		if tg.addr, err = s.pickAddr(tg, addrs, err); err == nil {
			err = s.transmit(t, req, tg)
		}
		if err != nil {
			t.fail(err)
		}
	}) {
		t.unregister()
		return fmt.Errorf("send %s: %w", req.Method, ErrStopped)
	}
	return nil
}

// unregister drops a transaction that never started; no callback runs.
func (t *clientTx) unregister() {
	t.mu.Lock()
	t.terminate()
	t.mu.Unlock()
}

// setVia makes our top Via say transport tr.
func (s *Stack) setVia(via *sip.ViaHeader, tr string) {
	via.Transport = strings.ToUpper(tr)
	via.Host, via.Port = s.viaHost(tr)
}

// transmit sends a new request the first time. A UDP request over 1300
// bytes goes over TCP if TCP to the destination works (RFC 3261 18.1.1),
// else over UDP anyway. It returns an error only for a failure it sees at
// once; failures of a TCP connect come to t.fail.
func (s *Stack) transmit(t *clientTx, req *sip.Request, tg target) error {
	dst := tg.addr
	if tg.transport == "tcp" {
		s.setVia(t.via, "tcp")
		b := s.encodeOwned(req)
		if c := s.conns.get(dst); c != nil {
			return t.firstSend("tcp", nil, c, dst, b)
		}
		s.dialTCP(dst, func(c *tcpConn, err error) {
			if err == nil {
				err = t.firstSend("tcp", nil, c, dst, b)
			}
			if err != nil {
				t.fail(err)
			}
		})
		return nil
	}
	l := s.udpFor(dst.Addr())
	s.setVia(t.via, "udp")
	bu := s.encodeOwned(req)
	if len(bu) <= largeUDP || s.conns.failedRecently(dst) {
		return s.sendLargeUDP(t, l, dst, bu, len(bu) > largeUDP)
	}
	s.setVia(t.via, "tcp")
	bt := s.encodeOwned(req)
	try := func(c *tcpConn, err error) error {
		if err == nil {
			if err = t.firstSend("tcp", nil, c, dst, bt); err == nil {
				s.st.largeTCP.Add(1)
				return nil
			}
		}
		s.conns.markFailed(dst)
		if t.opts.NoLargeUDPFallback {
			return err
		}
		t.mu.Lock()
		s.setVia(t.via, "udp")
		t.mu.Unlock()
		return s.sendLargeUDP(t, l, dst, bu, true)
	}
	if c := s.conns.get(dst); c != nil {
		return try(c, nil)
	}
	s.dialTCP(dst, func(c *tcpConn, err error) {
		if err := try(c, err); err != nil {
			t.fail(err)
		}
	})
	return nil
}

// sendLargeUDP sends over UDP; large says the request is over 1300
// bytes and TCP was not possible.
func (s *Stack) sendLargeUDP(t *clientTx, l *udpListener, dst netip.AddrPort, b []byte, large bool) error {
	if l == nil {
		return &TransportError{Op: "write", Transport: "udp", Addr: dst.String(), Err: errors.New("no udp socket of that address family")}
	}
	if len(b) > maxUDP {
		return &TransportError{Op: "write", Transport: "udp", Addr: dst.String(), Err: fmt.Errorf("%d bytes is too large for udp", len(b))}
	}
	if large {
		if t.opts.NoLargeUDPFallback {
			return &TransportError{Op: "write", Transport: "udp", Addr: dst.String(), Err: fmt.Errorf("%d bytes is too large for udp and tcp failed recently", len(b))}
		}
		s.st.largeUDP.Add(1)
	}
	return t.firstSend("udp", l, nil, dst, b)
}

// requestTarget finds a request's next hop (RFC 3261 8.1.2, no SRV).
func (s *Stack) requestTarget(req *sip.Request, opts SendOptions) (target, error) {
	uri := &req.Recipient
	if r := req.Route(); r != nil {
		if _, lr := param(r.Address.UriParams, "lr"); lr {
			uri = &r.Address
		}
	}
	tg := target{transport: "udp"}
	if v, ok := param(uri.UriParams, "transport"); ok && v != "" {
		tg.transport = strings.ToLower(v)
	}
	if opts.Transport != "" {
		tg.transport = strings.ToLower(opts.Transport)
	}
	if tg.transport != "udp" && tg.transport != "tcp" {
		return tg, fmt.Errorf("transport %q not supported", tg.transport)
	}
	if opts.Destination.IsValid() {
		tg.addr = netip.AddrPortFrom(opts.Destination.Addr().Unmap(), opts.Destination.Port())
		return tg, nil
	}
	if sc := strings.ToLower(uri.Scheme); sc != "sip" && sc != "" {
		return tg, fmt.Errorf("uri scheme %q not supported", uri.Scheme)
	}
	host := strings.Trim(uri.Host, "[]")
	if host == "" {
		return tg, errors.New("next hop has no host")
	}
	port := uri.Port
	if port == 0 {
		port = 5060
	}
	if port < 0 || port > 65535 {
		return tg, fmt.Errorf("bad port %d", port)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		tg.addr = netip.AddrPortFrom(a.Unmap(), uint16(port))
		return tg, nil
	}
	tg.host, tg.port = host, uint16(port)
	return tg, nil
}

// pickAddr chooses among resolved addresses one we can send to.
func (s *Stack) pickAddr(tg target, addrs []netip.Addr, err error) (netip.AddrPort, error) {
	if err != nil {
		return netip.AddrPort{}, &TransportError{Op: "resolve", Transport: tg.transport, Addr: net2(tg.host, tg.port), Err: err}
	}
	for _, a := range addrs {
		a = a.Unmap()
		if tg.transport == "tcp" || s.udpFor(a) != nil {
			return netip.AddrPortFrom(a, tg.port), nil
		}
	}
	return netip.AddrPort{}, &TransportError{Op: "resolve", Transport: tg.transport, Addr: net2(tg.host, tg.port), Err: errors.New("no usable address")}
}

func net2(host string, port uint16) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}

// dnsCache keeps A/AAAA answers for a minute (failures for 5 s), so that
// refreshes to a named server do not each cost a lookup.
type dnsCache struct {
	mu sync.Mutex
	m  map[string]dnsEntry
}

type dnsEntry struct {
	addrs []netip.Addr
	err   error
	exp   time.Time
}

func (d *dnsCache) init() { d.m = make(map[string]dnsEntry) }

func (d *dnsCache) cached(host string) ([]netip.Addr, error, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.m[strings.ToLower(host)]
	if !ok || time.Now().After(e.exp) {
		return nil, nil, false
	}
	return e.addrs, e.err, true
}

func (d *dnsCache) store(host string, addrs []netip.Addr, err error) {
	ttl := time.Minute
	if err != nil {
		ttl = 5 * time.Second
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.m) > 4096 {
		clear(d.m)
	}
	d.m[strings.ToLower(host)] = dnsEntry{addrs, err, time.Now().Add(ttl)}
}

// lookup resolves host with A/AAAA, through the cache.
func (s *Stack) lookup(host string) ([]netip.Addr, error) {
	if addrs, err, ok := s.dns.cached(host); ok {
		return addrs, err
	}
	ctx, cancel := context.WithTimeout(s.runCtx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err == nil && len(addrs) == 0 {
		err = errors.New("no address")
	}
	if ctx.Err() == nil || err == nil {
		s.dns.store(host, addrs, err)
	}
	return addrs, err
}

// encode serialises m into a pooled buffer; release it after use.
func (s *Stack) encode(m sip.Message) *bytes.Buffer {
	buf := s.enc.Get().(*bytes.Buffer)
	buf.Reset()
	writeMessage(buf, m)
	return buf
}

func (s *Stack) release(buf *bytes.Buffer) {
	if buf.Cap() <= 64<<10 {
		s.enc.Put(buf)
	}
}

// encodeOwned serialises m into a new slice of its exact size.
func (s *Stack) encodeOwned(m sip.Message) []byte {
	buf := s.encode(m)
	b := bytes.Clone(buf.Bytes())
	s.release(buf)
	return b
}
