package sipnet

import (
	"bytes"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

type cliState uint8

const (
	cliTrying     cliState = iota // INVITE: Calling
	cliProceeding                 // a provisional response arrived
	cliCompleted                  // final response (INVITE: non-2xx, ACK sent); Timers K, D
	cliAccepted                   // INVITE: 2xx arrived (RFC 6026); Timer M
	cliTerminated
)

// clientTx is a client transaction (RFC 3261 17.1). Callbacks never run
// with mu held; they are queued in order and run by whichever goroutine
// finds the queue idle, so the TU sees responses in the order the
// transaction processed them.
type clientTx struct {
	mu      sync.Mutex
	s       *Stack
	key     string
	invite  bool
	state   cliState
	started bool // the request went out
	tr      string
	udp     *udpListener
	tcp     *tcpConn
	dst     netip.AddrPort
	msg     []byte // the request, for retransmissions over UDP
	every   time.Duration
	retrans timerNode // Timer A/E, then K
	timeout timerNode // Timer B/F, then D/M or the CANCEL guard
	via     *sip.ViaHeader
	req     *sip.Request // INVITE: for the ACK and the CANCEL
	opts    SendOptions

	done       func(*sip.Response, error) // non-INVITE
	onResponse func(*sip.Response)        // INVITE
	doneErr    func(error)                // INVITE

	cancelWanted, cancelSent bool
	ack                      []byte

	events   []txEvent
	draining bool
}

type txEvent struct {
	res   *sip.Response
	err   error
	final bool // the last event: done / doneErr
}

// push queues a callback; mu is held.
func (t *clientTx) push(e txEvent) { t.events = append(t.events, e) }

// drain runs queued callbacks unless another goroutine is at it; mu is
// not held.
func (t *clientTx) drain() {
	t.mu.Lock()
	if t.draining || len(t.events) == 0 {
		t.mu.Unlock()
		return
	}
	t.draining = true
	for len(t.events) > 0 {
		e := t.events[0]
		t.events[0] = txEvent{}
		t.events = t.events[1:]
		t.mu.Unlock()
		t.deliver(e)
		t.mu.Lock()
	}
	t.events = nil
	t.draining = false
	t.mu.Unlock()
}

func (t *clientTx) deliver(e txEvent) {
	defer t.s.recover()
	if !t.invite {
		if e.final && t.done != nil {
			t.done(e.res, e.err)
		}
		return
	}
	if e.res != nil && t.onResponse != nil {
		t.onResponse(e.res)
	}
	if e.final && t.doneErr != nil {
		t.doneErr(e.err)
	}
}

// firstSend records where the request goes and sends it. It returns the
// write error; it does nothing if the transaction already ended.
func (t *clientTx) firstSend(tr string, l *udpListener, c *tcpConn, dst netip.AddrPort, b []byte) error {
	s := t.s
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.state == cliTerminated {
		return nil
	}
	t.tr, t.udp, t.tcp, t.dst = tr, l, c, dst
	var err error
	if tr == "udp" {
		err = s.writeUDP(l, dst, b)
	} else {
		err = s.writeTCP(c, b)
	}
	if err != nil {
		return err
	}
	t.started = true
	if tr == "udp" {
		t.msg = b
		t.every = s.t1
		s.timers.arm(&t.retrans, s.t1, t, timerRetransmit) // Timer A or E
	}
	return nil
}

// fail ends the transaction with err (transport errors after Send
// returned).
func (t *clientTx) fail(err error) {
	t.mu.Lock()
	if t.state == cliTerminated {
		t.mu.Unlock()
		return
	}
	t.terminate()
	t.push(txEvent{err: err, final: true})
	t.mu.Unlock()
	t.drain()
}

// abort ends the transaction when the stack stops.
func (t *clientTx) abort(err error) {
	t.mu.Lock()
	if t.state == cliTerminated {
		t.mu.Unlock()
		return
	}
	finished := t.state == cliCompleted || t.state == cliAccepted
	t.state = cliTerminated
	t.msg, t.ack = nil, nil
	t.s.st.clientTx.Add(-1)
	switch {
	case !finished:
		t.push(txEvent{err: err, final: true})
	case t.invite:
		t.push(txEvent{final: true}) // the final response came: done(nil)
	}
	t.mu.Unlock()
	t.drain()
}

// terminate removes the transaction; mu is held.
func (t *clientTx) terminate() {
	s := t.s
	t.state = cliTerminated
	t.msg, t.ack = nil, nil
	s.timers.disarm(&t.retrans)
	s.timers.disarm(&t.timeout)
	if s.cli.remove(t.key, t) {
		s.st.clientTx.Add(-1)
	}
}

// resend sends the request or the ACK again; mu is held.
func (t *clientTx) resend(b []byte) {
	s := t.s
	s.st.retrans.Add(1)
	if t.tr == "udp" {
		s.writeUDP(t.udp, t.dst, b)
	} else if t.tcp != nil {
		s.writeTCP(t.tcp, b)
	}
}

// receive runs a response through the state machine.
func (t *clientTx) receive(res *sip.Response) {
	var cancel *sip.Request
	t.mu.Lock()
	if t.invite {
		cancel = t.receiveInvite(res)
	} else {
		t.receiveNonInvite(res)
	}
	t.mu.Unlock()
	if cancel != nil {
		t.s.sendCancel(t, cancel)
	}
	t.drain()
}

func (t *clientTx) receiveNonInvite(res *sip.Response) {
	s := t.s
	switch t.state {
	case cliTrying, cliProceeding:
		if res.StatusCode < 200 {
			t.state = cliProceeding
			return
		}
		t.state = cliCompleted
		t.msg = nil
		s.timers.disarm(&t.timeout)
		t.push(txEvent{res: res, final: true})
		if t.tr != "udp" {
			t.terminate()
			return
		}
		s.timers.arm(&t.retrans, s.t4, t, timerLinger) // Timer K
	case cliCompleted:
		s.st.absorbed.Add(1)
	}
}

func (t *clientTx) receiveInvite(res *sip.Response) (cancel *sip.Request) {
	s := t.s
	code := res.StatusCode
	switch t.state {
	case cliTrying, cliProceeding:
		s.timers.disarm(&t.retrans)
		switch {
		case code < 200:
			if t.state == cliTrying {
				s.timers.disarm(&t.timeout) // Timer B only runs in Calling
			}
			t.state = cliProceeding
			t.push(txEvent{res: res})
			if t.cancelWanted && !t.cancelSent {
				t.cancelSent = true
				cancel = buildCancel(t.req)
				s.timers.arm(&t.timeout, s.t64, t, timerCancel)
			}
		case code < 300:
			t.state = cliAccepted
			t.msg = nil
			s.timers.arm(&t.timeout, s.t64, t, timerLinger) // Timer M
			t.push(txEvent{res: res})
		default:
			t.state = cliCompleted
			t.msg = nil
			ack := buildAck(t.req, res)
			buf := s.encode(ack)
			if t.tr == "udp" {
				t.ack = bytes.Clone(buf.Bytes())
				s.writeUDP(t.udp, t.dst, buf.Bytes())
			} else if t.tcp != nil {
				s.writeTCP(t.tcp, buf.Bytes())
			}
			s.release(buf)
			t.push(txEvent{res: res})
			if t.tr != "udp" {
				t.terminate()
				t.push(txEvent{final: true})
				return nil
			}
			s.timers.arm(&t.timeout, s.t64, t, timerLinger) // Timer D
		}
	case cliAccepted:
		if code >= 200 && code < 300 {
			t.push(txEvent{res: res}) // a retransmitted or forked 2xx goes up
		} else {
			s.st.absorbed.Add(1)
		}
	case cliCompleted:
		if code >= 300 && t.ack != nil {
			t.resend(t.ack)
		}
		s.st.absorbed.Add(1)
	}
	return cancel
}

func (t *clientTx) onTimer(kind timerKind) {
	s := t.s
	t.mu.Lock()
	switch kind {
	case timerRetransmit: // Timer A, E
		if t.state == cliTrying || (t.state == cliProceeding && !t.invite) {
			if t.msg != nil {
				t.resend(t.msg)
			}
			switch {
			case t.invite:
				t.every *= 2
			case t.state == cliProceeding:
				t.every = s.t2
			default:
				t.every = min(2*t.every, s.t2)
			}
			s.timers.arm(&t.retrans, t.every, t, timerRetransmit)
		}
	case timerTimeout: // Timer B, F
		if t.state == cliTrying || (t.state == cliProceeding && !t.invite) {
			s.st.timeouts.Add(1)
			t.terminate()
			t.push(txEvent{err: ErrTimeout, final: true})
		}
	case timerCancel:
		if t.state == cliTrying || t.state == cliProceeding {
			s.st.timeouts.Add(1)
			t.terminate()
			t.push(txEvent{err: ErrTimeout, final: true})
		}
	case timerLinger: // Timer K, D, M
		if t.state == cliCompleted || t.state == cliAccepted {
			t.terminate()
			if t.invite {
				t.push(txEvent{final: true})
			}
		}
	}
	pending := len(t.events) > 0 && !t.draining
	t.mu.Unlock()
	if pending {
		s.runCallbacks(t.drain)
	}
}

// ClientTx is an INVITE client transaction started by SendInvite.
type ClientTx struct {
	t *clientTx
}

// Request returns the INVITE as sent, with our Via on top. It must not be
// modified.
func (c *ClientTx) Request() *sip.Request { return c.t.req }

// Cancel cancels the INVITE (RFC 3261 9.1): the CANCEL goes out as its own
// transaction once a provisional response has arrived (at once if one
// has). If no final response arrives within 64*T1 after the CANCEL, the
// transaction ends with ErrTimeout. Cancel after a final response, or
// twice, does nothing.
func (c *ClientTx) Cancel() error {
	t := c.t
	var cancel *sip.Request
	t.mu.Lock()
	switch t.state {
	case cliTrying:
		t.cancelWanted = true
	case cliProceeding:
		if !t.cancelSent {
			t.cancelSent = true
			cancel = buildCancel(t.req)
			t.s.timers.arm(&t.timeout, t.s.t64, t, timerCancel)
		}
	}
	t.mu.Unlock()
	if cancel != nil {
		t.s.sendCancel(t, cancel)
	}
	return nil
}

// sendCancel sends a CANCEL as a non-INVITE transaction to where the
// INVITE went; its outcome is not reported.
func (s *Stack) sendCancel(inv *clientTx, req *sip.Request) {
	branch, _ := param(req.Via().Params, "branch")
	ct := &clientTx{s: s, key: clientKey(branch, sip.CANCEL), via: req.Via(), done: func(*sip.Response, error) {}}
	if !s.cli.add(ct.key, ct) {
		return
	}
	s.st.clientTx.Add(1)
	ct.mu.Lock()
	s.timers.arm(&ct.timeout, s.t64, ct, timerTimeout)
	ct.mu.Unlock()
	inv.mu.Lock()
	tr, l, c, dst := inv.tr, inv.udp, inv.tcp, inv.dst
	inv.mu.Unlock()
	if err := ct.firstSend(tr, l, c, dst, s.encodeOwned(req)); err != nil {
		ct.fail(err)
	}
}

// buildAck builds the ACK of a non-2xx final response (RFC 3261
// 17.1.1.3).
func buildAck(inv *sip.Request, res *sip.Response) *sip.Request {
	ack := sip.NewRequest(sip.ACK, *inv.Recipient.Clone())
	ack.AppendHeader(inv.Via().Clone())
	for _, h := range inv.Headers() {
		if r, ok := h.(*sip.RouteHeader); ok {
			ack.AppendHeader(r.Clone())
		}
	}
	mf := sip.MaxForwardsHeader(70)
	ack.AppendHeader(&mf)
	if h := inv.From(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := res.To(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	} else if h := inv.To(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	if h := inv.CallID(); h != nil {
		ack.AppendHeader(sip.HeaderClone(h))
	}
	ack.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.ACK})
	ack.SetBody(nil)
	return ack
}

// buildCancel builds the CANCEL of a request (RFC 3261 9.1): same
// Request-URI, top Via, Route, From, To, Call-ID and CSeq number.
func buildCancel(inv *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	c.AppendHeader(inv.Via().Clone())
	for _, h := range inv.Headers() {
		if r, ok := h.(*sip.RouteHeader); ok {
			c.AppendHeader(r.Clone())
		}
	}
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	if h := inv.From(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := inv.To(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	if h := inv.CallID(); h != nil {
		c.AppendHeader(sip.HeaderClone(h))
	}
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.SetBody(nil)
	return c
}
