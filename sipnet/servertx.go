package sipnet

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// ServerTx is the handler's view of a server transaction: the request and
// the way to answer it. Its methods are safe from any goroutine.
type ServerTx struct {
	s         *Stack
	tx        *serverTx // nil for an ACK, which has no transaction to answer
	req       *sip.Request
	transport string
	src       netip.AddrPort
	local     netip.AddrPort
	toTag     string // added to responses when the request has no To tag
}

// Request returns the request. Its top Via carries received and rport as
// the stack filled them in; handlers must not modify it.
func (tx *ServerTx) Request() *sip.Request { return tx.req }

// Transport returns "udp" or "tcp".
func (tx *ServerTx) Transport() string { return tx.transport }

// Source returns the address the request came from.
func (tx *ServerTx) Source() netip.AddrPort { return tx.src }

// Local returns the address of our socket the request arrived on.
func (tx *ServerTx) Local() netip.AddrPort { return tx.local }

// NewResponse builds a response to the request (RFC 3261 8.2.6): Via,
// From, To, Call-ID and CSeq copied, a To tag added unless the code is 100
// or the request has one (the same tag for every response of the
// transaction), Record-Route copied into 18x and 2xx of INVITE, SUBSCRIBE
// and REFER, Server from the config, Content-Length. An empty reason
// takes the standard phrase.
func (tx *ServerTx) NewResponse(code int, reason string) *sip.Response {
	return newResponse(tx.req, code, reason, tx.toTag, tx.s.cfg.UserAgent)
}

// Reply builds a response with NewResponse, appends hdrs and sends it.
func (tx *ServerTx) Reply(code int, reason string, hdrs ...sip.Header) error {
	res := tx.NewResponse(code, reason)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return tx.Respond(res)
}

// Respond sends a provisional or final response. The final one is kept
// (as bytes) to answer retransmissions of the request. A second final
// response is an error, except further 2xx to an INVITE (the UAS core
// retransmitting its 2xx).
func (tx *ServerTx) Respond(res *sip.Response) error {
	if tx.tx == nil {
		return errors.New("respond: an ACK has no response")
	}
	if res.StatusCode < 100 || res.StatusCode > 699 {
		return errors.New("respond: status code out of range")
	}
	ensureContentLength(res)
	err := tx.tx.respond(res)
	if err == nil {
		tx.s.responses.add(string(tx.req.Method) + " " + strconv.Itoa(res.StatusCode))
	}
	return err
}

// Canceled is closed when a CANCEL matching this INVITE arrived; the
// stack has answered the CANCEL with 200, the handler should now answer
// the INVITE with 487. It is nil (never ready) for other methods.
func (tx *ServerTx) Canceled() <-chan struct{} {
	if tx.tx == nil || tx.tx.inv == nil {
		return nil
	}
	return tx.tx.inv.canceled
}

var (
	errFinalSent = errors.New("respond: final response already sent")
	errTxEnded   = errors.New("respond: transaction ended (stack stopped, or no answer within 64*T1)")
)

type srvState uint8

const (
	srvProceeding srvState = iota // the handler has not sent a final response
	srvCompleted                  // final response sent (INVITE: non-2xx, waiting for the ACK)
	srvConfirmed                  // INVITE: ACK received (Timer I)
	srvAccepted                   // INVITE: 2xx sent (RFC 6026, Timer L)
	srvTerminated
)

// serverTx is a server transaction as kept in the table. Once a UDP
// non-INVITE transaction has its final response it holds only its key,
// the response bytes and where to send them, for Timer J.
type serverTx struct {
	mu       sync.Mutex
	state    srvState
	reliable bool
	answered bool // counted out of Stack.pending
	s        *Stack
	key      string
	udp      *udpListener
	tcp      *tcpConn
	dst      netip.AddrPort // UDP: where responses go; TCP: where to reconnect
	last     []byte         // last response sent, for retransmissions (UDP)
	node     timerNode      // answer deadline, then Timer J; INVITE: Timer G or 100 Trying
	inv      *inviteState   // nil unless INVITE
}

type inviteState struct {
	pub      *ServerTx // to build the 100 Trying
	node     timerNode // Timers H, L, I
	gEvery   time.Duration
	canceled chan struct{}
	isCancel bool // closed
	provSent bool // a provisional response went out (no automatic 100)
}

func (s *Stack) newServerTx(key string, req *sip.Request, in inbound) *serverTx {
	t := &serverTx{s: s, key: key, udp: in.udp, tcp: in.tcp, reliable: in.tcp != nil}
	t.dst = responseDest(req.Via(), in.src)
	if req.Method == sip.INVITE {
		t.inv = &inviteState{canceled: make(chan struct{})}
	}
	return t
}

// handleNew starts a server transaction for a request, or answers a
// retransmission from the one it matches.
func (s *Stack) handleNew(req *sip.Request, key string, in inbound) {
	t, added := s.srv.getOrAdd(key, func() *serverTx { return s.newServerTx(key, req, in) })
	if !added {
		t.retransmitted()
		return
	}
	s.st.serverTx.Add(1)
	s.pending.Add(1)
	pub := s.newPub(t, req, in)
	if t.inv != nil {
		t.mu.Lock()
		t.inv.pub = pub
		s.timers.arm(&t.node, tryingDelay, t, timerTrying)
		t.mu.Unlock()
	} else {
		t.mu.Lock()
		s.timers.arm(&t.node, s.t64, t, timerAnswer)
		t.mu.Unlock()
	}
	h := s.handlers[req.Method]
	if h == nil {
		pub.Reply(405, "Method Not Allowed", sip.NewHeader("Allow", strings.Join(s.Methods(), ", ")))
		return
	}
	s.runHandler(h, pub)
}

func (s *Stack) newPub(t *serverTx, req *sip.Request, in inbound) *ServerTx {
	pub := &ServerTx{s: s, tx: t, req: req, transport: in.transport, src: in.src, local: in.local}
	if to := req.To(); to != nil {
		if _, ok := param(to.Params, "tag"); !ok {
			pub.toTag = newTag()
		}
	}
	return pub
}

// runHandler runs h; a panic is recovered, counted, and answered with 500
// if the handler had not answered.
func (s *Stack) runHandler(h Handler, pub *ServerTx) {
	defer func() {
		if v := recover(); v != nil {
			s.recovered(v)
			if pub.tx != nil {
				pub.Reply(500, "Server Internal Error")
			}
		}
	}()
	h(pub)
}

// handleAck: an ACK matching a non-2xx INVITE transaction is absorbed; an
// ACK for a 2xx, or matching nothing, goes to the ACK handler.
func (s *Stack) handleAck(req *sip.Request, key string, in inbound) {
	if t := s.srv.get(key); t != nil && !t.ack() {
		return
	}
	h := s.handlers[sip.ACK]
	if h == nil {
		s.st.dropped.Add(1)
		return
	}
	s.runHandler(h, &ServerTx{s: s, req: req, transport: in.transport, src: in.src, local: in.local})
}

// handleCancel answers a CANCEL matching an INVITE transaction with 200
// and signals Canceled (RFC 3261 9.2). A CANCEL matching nothing goes to
// the CANCEL handler, or gets a 481.
func (s *Stack) handleCancel(req *sip.Request, key string, in inbound) {
	t, added := s.srv.getOrAdd(key, func() *serverTx { return s.newServerTx(key, req, in) })
	if !added {
		t.retransmitted()
		return
	}
	s.st.serverTx.Add(1)
	s.pending.Add(1)
	pub := s.newPub(t, req, in)
	t.mu.Lock()
	s.timers.arm(&t.node, s.t64, t, timerAnswer)
	t.mu.Unlock()
	if inv := s.srv.get(serverKey(req, sip.INVITE)); inv != nil && inv.inv != nil {
		inv.mu.Lock()
		if inv.inv.pub != nil && inv.inv.pub.toTag != "" && pub.toTag != "" {
			pub.toTag = inv.inv.pub.toTag
		}
		inv.mu.Unlock()
		pub.Reply(200, "OK")
		inv.cancel()
		return
	}
	if h := s.handlers[sip.CANCEL]; h != nil {
		s.runHandler(h, pub)
		return
	}
	pub.Reply(481, "Call/Transaction Does Not Exist")
}

// respond sends res in the transaction's state machine.
func (t *serverTx) respond(res *sip.Response) error {
	s := t.s
	buf := s.encode(res)
	defer s.release(buf)
	b := buf.Bytes()
	code := res.StatusCode

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inv != nil {
		return t.respondInvite(code, b)
	}
	if t.state == srvTerminated {
		return errTxEnded
	}
	if t.state != srvProceeding {
		return errFinalSent
	}
	err := t.send(b)
	if code < 200 {
		if !t.reliable {
			t.last = bytes.Clone(b)
		}
		return err
	}
	t.answer()
	if t.reliable {
		t.terminate()
		return err
	}
	t.state = srvCompleted
	t.last = bytes.Clone(b)
	s.timers.arm(&t.node, s.t64, t, timerLinger) // Timer J
	return err
}

func (t *serverTx) respondInvite(code int, b []byte) error {
	s := t.s
	switch t.state {
	case srvProceeding:
	case srvAccepted:
		if code >= 200 && code < 300 {
			return t.send(b)
		}
		return errFinalSent
	case srvTerminated:
		return errTxEnded
	default:
		return errFinalSent
	}
	err := t.send(b)
	switch {
	case code < 200:
		t.inv.provSent = true
		if !t.reliable {
			t.last = bytes.Clone(b)
		}
		if t.node.kind == timerTrying {
			s.timers.disarm(&t.node)
		}
	case code < 300:
		t.answer()
		t.state = srvAccepted
		t.last = nil
		s.timers.disarm(&t.node)
		s.timers.arm(&t.inv.node, s.t64, t, timerLinger) // Timer L
	default:
		t.answer()
		t.state = srvCompleted
		t.last = bytes.Clone(b)
		s.timers.disarm(&t.node)
		if !t.reliable {
			t.inv.gEvery = s.t1
			s.timers.arm(&t.node, s.t1, t, timerRetransmit) // Timer G
		}
		s.timers.arm(&t.inv.node, s.t64, t, timerTimeout) // Timer H
	}
	return err
}

// send writes b toward the client; t.mu is held. A TCP connection that is
// gone is replaced by a new one to the Via address (RFC 3261 18.2.2).
func (t *serverTx) send(b []byte) error {
	s := t.s
	if !t.reliable {
		return s.writeUDP(t.udp, t.dst, b)
	}
	if !t.tcp.closed.Load() {
		return s.writeTCP(t.tcp, b)
	}
	msg := bytes.Clone(b)
	s.dialTCP(t.dst, func(c *tcpConn, err error) {
		if err == nil {
			s.writeTCP(c, msg)
			return
		}
		s.st.sendErrors.Add(1)
	})
	return nil
}

// answer takes the transaction out of the count Stop waits for; t.mu is
// held.
func (t *serverTx) answer() {
	if !t.answered {
		t.answered = true
		t.s.pending.Add(-1)
	}
}

// retransmitted answers a retransmitted request with the last response.
func (t *serverTx) retransmitted() {
	s := t.s
	s.st.absorbed.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state {
	case srvProceeding, srvCompleted:
		if t.last != nil {
			s.st.retrans.Add(1)
			t.send(t.last)
		}
	}
}

// ack handles an ACK matching an INVITE transaction and reports whether
// it goes up to the ACK handler (ACK of a 2xx, RFC 6026).
func (t *serverTx) ack() bool {
	s := t.s
	t.mu.Lock()
	defer t.mu.Unlock()
	switch t.state {
	case srvCompleted:
		t.state = srvConfirmed
		t.last = nil
		s.timers.disarm(&t.node)
		if t.reliable {
			t.terminate()
		} else {
			s.timers.arm(&t.inv.node, s.t4, t, timerLinger) // Timer I
		}
		return false
	case srvAccepted:
		return true
	}
	s.st.absorbed.Add(1)
	return false
}

// cancel signals Canceled while the INVITE is unanswered.
func (t *serverTx) cancel() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == srvProceeding && !t.inv.isCancel {
		t.inv.isCancel = true
		close(t.inv.canceled)
	}
}

func (t *serverTx) onTimer(kind timerKind) {
	s := t.s
	t.mu.Lock()
	defer t.mu.Unlock()
	switch kind {
	case timerTrying:
		if t.state == srvProceeding && !t.inv.provSent && t.inv.pub != nil {
			res := t.inv.pub.NewResponse(100, "Trying")
			buf := s.encode(res)
			t.send(buf.Bytes())
			if !t.reliable {
				t.last = bytes.Clone(buf.Bytes())
			}
			s.release(buf)
			t.inv.provSent = true
		}
	case timerRetransmit: // Timer G
		if t.state == srvCompleted && t.last != nil {
			s.st.retrans.Add(1)
			t.send(t.last)
			t.inv.gEvery = min(2*t.inv.gEvery, s.t2)
			s.timers.arm(&t.node, t.inv.gEvery, t, timerRetransmit)
		}
	case timerTimeout: // Timer H
		if t.state == srvCompleted {
			s.st.timeouts.Add(1)
			t.terminate()
		}
	case timerLinger: // Timers I, J, L
		if t.state == srvCompleted || t.state == srvConfirmed || t.state == srvAccepted {
			t.terminate()
		}
	case timerAnswer:
		if t.state == srvProceeding && t.inv == nil {
			s.st.timeouts.Add(1)
			t.answer()
			t.terminate()
			s.log.Warn("handler did not answer in time", "key", t.key)
		}
	}
}

// terminate removes the transaction; t.mu is held.
func (t *serverTx) terminate() {
	s := t.s
	t.state = srvTerminated
	t.last = nil
	s.timers.disarm(&t.node)
	if t.inv != nil {
		s.timers.disarm(&t.inv.node)
		t.inv.pub = nil
	}
	if s.srv.remove(t.key, t) {
		s.st.serverTx.Add(-1)
	}
}

// drop ends a transaction when the stack stops.
func (t *serverTx) drop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.answer()
	t.state = srvTerminated
	t.last = nil
	t.s.st.serverTx.Add(-1)
}

// RejectUnsupported answers 420 Bad Extension, with an Unsupported header
// listing them, when the request Requires option tags not in supported
// (RFC 3261 8.2.2.3), and reports whether it did. User agent handlers
// call it first; a proxy does not (it checks Proxy-Require instead).
func (tx *ServerTx) RejectUnsupported(supported ...string) bool {
	var missing []string
	for _, h := range tx.req.Headers() {
		if !strings.EqualFold(h.Name(), "Require") {
			continue
		}
		for _, opt := range strings.Split(h.Value(), ",") {
			opt = strings.TrimSpace(opt)
			if opt == "" {
				continue
			}
			known := false
			for _, s := range supported {
				if strings.EqualFold(s, opt) {
					known = true
					break
				}
			}
			if !known {
				missing = append(missing, opt)
			}
		}
	}
	if len(missing) == 0 || tx.req.Method == sip.ACK || tx.req.Method == sip.CANCEL {
		return false
	}
	_ = tx.Reply(420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(missing, ", ")))
	return true
}
