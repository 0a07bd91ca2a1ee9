package sipnet

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// job is one received message: a datagram to parse (buf, n) or a message
// framed and parsed by a TCP reader (msg).
type job struct {
	fn  func() // a callback to run (client transaction timeouts)
	buf *[]byte
	n   int
	msg sip.Message
	src netip.AddrPort
	udp *udpListener
	tcp *tcpConn
	// repeated names a single-value header the raw message repeats (the
	// parser keeps only one of them), "" if none.
	repeated string
	method   string // the request method as sent, see rawMethod
	scanned  bool   // repeated and method are set (UDP: by the reader)
}

// inbound says where a request came from and how to answer it.
type inbound struct {
	transport string // "udp" or "tcp"
	src       netip.AddrPort
	local     netip.AddrPort
	udp       *udpListener
	tcp       *tcpConn
	repeated  string // see job.repeated
	method    string // see job.method
	scanned   bool   // see job.scanned
}

// worker processes jobs until Stop. Workers are the only goroutines that
// run handlers.
func (s *Stack) worker(own chan job) {
	defer s.wg.Done()
	for {
		select {
		case j := <-s.jobs:
			s.process(j)
		case j := <-own:
			s.process(j)
		case <-s.quit:
			return
		}
	}
}

func (s *Stack) process(j job) {
	defer s.recover()
	if j.fn != nil {
		j.fn()
		return
	}
	if j.udp != nil {
		in := inbound{transport: "udp", src: j.src, local: j.udp.addr, udp: j.udp}
		b := (*j.buf)[:j.n]
		in.repeated, in.method, in.scanned = j.repeated, j.method, j.scanned
		s.handleDatagram(b, in)
		if cap(*j.buf) == smallBuf {
			s.small.Put(j.buf)
		}
		return
	}
	in := inbound{transport: "tcp", src: j.src, local: j.tcp.local, tcp: j.tcp, repeated: j.repeated, method: j.method}
	s.handleMessage(j.msg, in)
}

// handleDatagram parses one datagram and handles it. data is not kept.
func (s *Stack) handleDatagram(data []byte, in inbound) {
	if isKeepalive(data) {
		return
	}
	if !in.scanned {
		in.repeated, in.method = repeatedRawHeader(data), rawMethod(data)
	}
	msg, err := s.parser.ParseSIP(data)
	if err != nil {
		s.st.parseErrors.Add(1)
		if s.debug() {
			s.log.Debug("sip message unparsable", "transport", in.transport, "remote", in.src.String(), "error", err, "msg", string(data))
		}
		s.rejectUnparsable(data, err, in)
		return
	}
	s.handleMessage(msg, in)
}

// rejectUnparsable answers 400 to what can be recognised as a request
// with a usable Via, and drops the rest.
func (s *Stack) rejectUnparsable(data []byte, err error, in inbound) {
	if len(data) > s.maxMsg {
		s.st.dropped.Add(1)
		return
	}
	req, problem := salvageRequest(data, err)
	if req == nil || req.Method == sip.ACK || !routableVia(req) {
		s.st.dropped.Add(1)
		return
	}
	s.replyStateless(req, in, 400, "Bad Request ("+problem+")")
}

func (s *Stack) handleMessage(msg sip.Message, in inbound) {
	if s.debug() {
		s.log.Debug("sip message received", "transport", in.transport, "remote", in.src.String(), "local", in.local.String(), "msg", msg.String())
	}
	switch m := msg.(type) {
	case *sip.Request:
		s.handleRequest(m, in)
	case *sip.Response:
		s.handleResponse(m)
	}
}

func (s *Stack) handleRequest(req *sip.Request, in inbound) {
	code, reason := checkRequest(req)
	if code == 0 && in.repeated != "" {
		code, reason = 400, "Bad Request (more than one "+in.repeated+" header)"
	}
	if code == 0 && in.method != "" && in.method != string(req.Method) && req.Method != sip.ACK {
		// A case variant of a known method is an unknown extension method.
		code = 405
	}
	if code == 405 {
		s.replyStateless(req, in, 405, "Method Not Allowed", sip.NewHeader("Allow", strings.Join(s.Methods(), ", ")))
		return
	}
	if code != 0 {
		if req.Method == sip.ACK || !routableVia(req) {
			s.st.dropped.Add(1)
			return
		}
		s.replyStateless(req, in, code, reason)
		return
	}
	if !routableVia(req) {
		s.st.dropped.Add(1)
		return
	}
	method := req.Method
	if method == sip.ACK {
		method = sip.INVITE
	}
	key := serverKey(req, method)
	markVia(req.Via(), in.src)
	s.requests.add(string(req.Method))
	switch req.Method {
	case sip.ACK:
		s.handleAck(req, key, in)
	case sip.CANCEL:
		s.handleCancel(req, key, in)
	default:
		s.handleNew(req, key, in)
	}
}

// markVia adds received and fills rport in the top Via (RFC 3261
// 18.2.1, RFC 3581 section 4).
func markVia(via *sip.ViaHeader, src netip.AddrPort) {
	if _, ok := param(via.Params, "rport"); ok {
		setParam(&via.Params, "received", src.Addr().String())
		setParam(&via.Params, "rport", strconv.Itoa(int(src.Port())))
		return
	}
	if a, err := netip.ParseAddr(strings.Trim(via.Host, "[]")); err != nil || a.Unmap() != src.Addr() {
		setParam(&via.Params, "received", src.Addr().String())
	}
}

// responseDest is where UDP responses to a request go (RFC 3261 18.2.2,
// RFC 3581 section 4): the source address when the Via has rport, else
// the source IP (the received address) and the Via port.
func responseDest(via *sip.ViaHeader, src netip.AddrPort) netip.AddrPort {
	if _, ok := param(via.Params, "rport"); ok {
		return src
	}
	port := via.Port
	if port <= 0 || port > 65535 {
		port = 5060
	}
	return netip.AddrPortFrom(src.Addr(), uint16(port))
}

// replyStateless answers a request outside any transaction: the 400s and
// 505s of checks that run before matching.
func (s *Stack) replyStateless(req *sip.Request, in inbound, code int, reason string, hdrs ...sip.Header) {
	if code == 400 || code == 505 || code == 513 {
		s.st.badRequests.Add(1)
	}
	tag := ""
	if to := req.To(); to != nil {
		if _, ok := param(to.Params, "tag"); !ok {
			tag = newTag()
		}
	}
	s.responses.add(string(req.Method) + " " + strconv.Itoa(code))
	res := newResponse(req, code, reason, tag, s.cfg.UserAgent)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	buf := s.encode(res)
	defer s.enc.Put(buf)
	if in.tcp != nil {
		s.writeTCP(in.tcp, buf.Bytes())
		return
	}
	s.writeUDP(in.udp, responseDest(req.Via(), in.src), buf.Bytes())
}

// handleResponse passes a response to its client transaction.
func (s *Stack) handleResponse(res *sip.Response) {
	via, cseq := res.Via(), res.CSeq()
	if via == nil || cseq == nil {
		s.st.dropped.Add(1)
		return
	}
	branch, _ := param(via.Params, "branch")
	t := s.cli.get(clientKey(branch, cseq.MethodName))
	if t == nil {
		s.st.dropped.Add(1)
		return
	}
	t.receive(res)
}

// runCallbacks runs f on a worker, so that the timer goroutine never waits
// for a user callback; with the queue full it runs on a goroutine of its
// own.
func (s *Stack) runCallbacks(f func()) {
	select {
	case s.jobs <- job{fn: f}:
	default:
		if !s.goAsync(f) {
			f()
		}
	}
}
