package proxy

import (
	"errors"
	"sync"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/sipnet"
)

// rctx is a response context (RFC 3261 16.7): one forwarded request and
// its branches.
type rctx struct {
	p       *Proxy
	tx      *sipnet.ServerTx
	req     *sip.Request
	sf      *self
	invite  bool
	refresh bool         // a re-INVITE or UPDATE: its 2xx refreshes the dialog
	key     string       // loop key
	sh      *shard.Shard // Timer C
	reqRR   int          // Record-Route values the request came with

	mu         sync.Mutex
	branches   []*branch
	best       *sip.Response // the best final response so far; nil when it is one of ours
	bestCode   int           // its status code as ranked (0: none yet)
	answered   bool          // a 2xx arrived
	finalSent  bool          // a final response went upstream
	canceled   bool          // CANCELled from upstream
	finished   bool          // every branch has its final outcome
	done       chan struct{} // closed once the final response is decided
	doneClosed bool
}

// branch is one client transaction of a response context.
type branch struct {
	rc  *rctx
	t   target
	ct  *sipnet.ClientTx // INVITE only; nil until SendInvite returned
	dlg *dialog.Branch   // initial INVITE with a tracker

	// Guarded by rc.mu.
	finished     bool   // final response (or failure) known
	provisional  bool   // a provisional other than 100 arrived
	got2xx       bool   // a 2xx arrived
	durable      bool   // its dialog is persisted: its 2xx may go upstream
	cancelWhy    string // why we CANCELled it: dialog.ReasonCancelled, ReasonReplaced or ReasonTimeout
	cancelWanted bool   // a CANCEL was asked before ct was known

	timerC shard.Timer // on rc.sh only
}

// forward forwards the request of tx to targets, as one response context.
// initial says it is outside any dialog (Record-Route, dialog tracking).
func (p *Proxy) forward(tx *sipnet.ServerTx, rt routing, targets []target, initial bool) {
	req := tx.Request()
	sf := p.self.Load()
	callID := ""
	if c := req.CallID(); c != nil {
		callID = string(*c)
	}
	rc := &rctx{
		p: p, tx: tx, req: req, sf: sf, invite: req.Method == sip.INVITE,
		key: loopKey(req), sh: p.timers.Of(callID), done: make(chan struct{}),
	}
	rc.refresh = !initial && p.dlg != nil && (req.Method == sip.INVITE || req.Method == sip.UPDATE)
	for _, h := range req.Headers() {
		if _, ok := h.(*sip.RecordRouteHeader); ok {
			rc.reqRR++
		}
	}
	recordRoute := initial && p.cfg.RecordRoute &&
		(req.Method == sip.INVITE || req.Method == sip.SUBSCRIBE || req.Method == sip.REFER)
	var call *dialog.Call
	if initial && rc.invite && p.dlg != nil {
		call = p.dlg.NewCall(callInfo(tx, req))
	}
	for _, t := range targets {
		rc.branches = append(rc.branches, &branch{rc: rc, t: t})
	}
	p.loops.Put(rc.key, 1)
	if rc.invite && !p.spawn(rc.watchCancel) {
		rc.p.reply(tx, 503, "Service Unavailable")
		p.loops.Delete(rc.key)
		return
	}
	for _, b := range rc.branches {
		fwd := p.buildForward(req, b.t, recordRoute, tx.Transport(), sf)
		p.forwarded.WithLabelValues(string(req.Method)).Inc()
		if call != nil {
			b.dlg = call.Branch(b.t.callee, b.t.dest)
		}
		if rc.invite {
			rc.startInvite(b, fwd)
		} else {
			rc.startRequest(b, fwd)
		}
	}
}

func (rc *rctx) startInvite(b *branch, fwd *sip.Request) {
	ct, err := rc.p.sip.SendInvite(fwd, b.t.opts, b.onResponse, b.onDone)
	if err != nil {
		rc.p.log.Debug("forward failed", "method", "INVITE", "to", b.t.ruri.String(), "err", err)
		b.onDone(&sipnet.TransportError{Op: "send", Err: err})
		return
	}
	rc.mu.Lock()
	b.ct = ct
	cancel := b.cancelWanted
	pending := !b.finished
	rc.mu.Unlock()
	if cancel {
		ct.Cancel()
	}
	if pending {
		rc.armTimerC(b)
	}
}

func (rc *rctx) startRequest(b *branch, fwd *sip.Request) {
	err := rc.p.sip.Send(fwd, b.t.opts, func(res *sip.Response, err error) { rc.onNonInvite(b, res, err) })
	if err != nil {
		rc.p.log.Debug("forward failed", "method", string(fwd.Method), "to", b.t.ruri.String(), "err", err)
		rc.onNonInvite(b, nil, &sipnet.TransportError{Op: "send", Err: err})
	}
}

// onResponse gets every response of an INVITE branch.
func (b *branch) onResponse(res *sip.Response) {
	rc := b.rc
	code := res.StatusCode
	switch {
	case code == 100:
	case code < 200:
		rc.mu.Lock()
		pending := !b.finished
		if pending {
			b.provisional = true
		}
		relay := !rc.finalSent
		rc.mu.Unlock()
		if pending {
			rc.armTimerC(b) // 16.7 step 2: a provisional resets Timer C
		}
		if b.dlg != nil {
			b.dlg.Progress(code, toTag(res.To()))
		}
		if relay {
			_ = rc.tx.Respond(upstream(res, rc.req))
		}
	case code < 300:
		rc.on2xx(b, res)
	default:
		rc.onFailure(b, res)
	}
}

// on2xx relays a 2xx (every one, 16.7 step 5) and CANCELs the other
// branches. The first 2xx of a tracked branch goes upstream once its
// dialog is persisted; its retransmissions until then are dropped (the
// UAS repeats them until the ACK).
func (rc *rctx) on2xx(b *branch, res *sip.Response) {
	rc.mu.Lock()
	first := !b.got2xx
	b.got2xx = true
	wasPending := !b.finished
	b.finished = true
	rc.answered = true
	var others []*sipnet.ClientTx
	if first {
		others = rc.cancelLocked(b, dialog.ReasonReplaced)
	}
	durable := b.durable || b.dlg == nil
	rc.mu.Unlock()
	if wasPending {
		rc.disarmTimerC(b)
	}
	for _, ct := range others {
		ct.Cancel()
	}
	switch {
	case first && b.dlg != nil:
		b.dlg.Confirm(rc.answer(res), func() {
			rc.mu.Lock()
			b.durable = true
			rc.mu.Unlock()
			rc.relay2xx(res)
		})
	case durable:
		if first && rc.refresh {
			// Before the 2xx goes: a BYE its sender sends next must not
			// reach the tracker first.
			rc.p.dlg.Refreshed(string(*rc.req.CallID()), fromTag(rc.req.From()), toTag(rc.req.To()))
		}
		rc.relay2xx(res)
	}
	rc.maybeFinish()
}

// relay2xx sends a 2xx upstream: in the server transaction, or, once it
// has ended (a 2xx after our own final response, or after Timer L),
// statelessly along the Via headers (RFC 6026).
func (rc *rctx) relay2xx(res *sip.Response) {
	rc.mu.Lock()
	rc.finalSent = true
	rc.closeDone()
	rc.mu.Unlock()
	up := upstream(res, rc.req)
	if err := rc.tx.Respond(up); err != nil {
		rc.p.spawn(func() {
			if err := rc.p.sip.SendStateless(upstream(res, rc.req), sipnet.SendOptions{}); err != nil {
				rc.p.log.Debug("2xx not relayed", "err", err)
			}
		})
	}
}

// answer is what the tracker keeps of a 2xx: To tag, Contact, and the
// route set toward the callee (the Record-Route values added downstream
// of us, nearest first).
func (rc *rctx) answer(res *sip.Response) dialog.Answer {
	a := dialog.Answer{ToTag: toTag(res.To())}
	if c := res.Contact(); c != nil {
		a.Target = c.Address.String()
	}
	var rr []*sip.RecordRouteHeader
	for _, h := range res.Headers() {
		if r, ok := h.(*sip.RecordRouteHeader); ok {
			rr = append(rr, r)
		}
	}
	n := len(rr) - rc.reqRR
	for i := n - 1; i >= 0; i-- {
		if rc.sf != nil && rc.sf.isUs(&rr[i].Address) {
			continue
		}
		a.CalleeRoute = append(a.CalleeRoute, rr[i].Value())
	}
	return a
}

// onFailure handles a final response of 300 or more on an INVITE branch.
func (rc *rctx) onFailure(b *branch, res *sip.Response) {
	code := res.StatusCode
	rc.mu.Lock()
	if b.finished {
		rc.mu.Unlock()
		return
	}
	b.finished = true
	reason, ranked := dialog.ReasonRejected, code
	if code == 487 && b.cancelWhy != "" {
		reason = b.cancelWhy
		if reason == dialog.ReasonTimeout {
			ranked = 408 // Timer C: the caller sees a timeout, not a cancel
		}
	}
	rc.consider(res, ranked)
	var others []*sipnet.ClientTx
	if code >= 600 && !rc.answered {
		others = rc.cancelLocked(b, dialog.ReasonCancelled) // 16.7 step 5
	}
	rc.mu.Unlock()
	rc.disarmTimerC(b)
	for _, ct := range others {
		ct.Cancel()
	}
	if b.dlg != nil {
		b.dlg.End(reason, code)
	}
	rc.maybeFinish()
}

// onDone ends an INVITE branch that failed without a final response:
// Timer B (408), a transport error (503, 16.7 step 1... as if received).
func (b *branch) onDone(err error) {
	if err == nil {
		return
	}
	rc := b.rc
	rc.mu.Lock()
	if b.finished {
		rc.mu.Unlock()
		return
	}
	b.finished = true
	code, reason := failure(err)
	if b.cancelWhy != "" {
		reason = b.cancelWhy
		if reason != dialog.ReasonTimeout {
			code = 487
		}
	}
	rc.consider(nil, code)
	rc.mu.Unlock()
	rc.disarmTimerC(b)
	if b.dlg != nil {
		b.dlg.End(reason, code)
	}
	rc.maybeFinish()
}

// failure maps a client transaction error to a status and a reason.
func failure(err error) (int, string) {
	var te *sipnet.TransportError
	if errors.As(err, &te) || errors.Is(err, sipnet.ErrStopped) {
		return 503, dialog.ReasonError
	}
	return 408, dialog.ReasonTimeout
}

// onNonInvite handles the outcome of a non-INVITE branch: the first 2xx
// goes upstream at once, else the best final once all are in.
func (rc *rctx) onNonInvite(b *branch, res *sip.Response, err error) {
	rc.mu.Lock()
	if b.finished {
		rc.mu.Unlock()
		return
	}
	b.finished = true
	relay := false
	switch {
	case err != nil:
		code, _ := failure(err)
		rc.consider(nil, code)
	case res.StatusCode < 300:
		rc.answered = true
		if !rc.finalSent {
			rc.finalSent = true
			relay = true
		}
	default:
		rc.consider(res, res.StatusCode)
	}
	rc.mu.Unlock()
	if relay {
		if rc.refresh {
			rc.p.dlg.Refreshed(string(*rc.req.CallID()), fromTag(rc.req.From()), toTag(rc.req.To()))
		}
		_ = rc.tx.Respond(upstream(res, rc.req))
	}
	rc.maybeFinish()
}

// consider keeps the better of the best response so far and res (nil for
// one of ours) ranked as code (16.7 step 6). rc.mu is held.
func (rc *rctx) consider(res *sip.Response, code int) {
	if rc.bestCode == 0 || prefer(code, rc.canceled) < prefer(rc.bestCode, rc.canceled) {
		rc.bestCode = code
		rc.best = nil
		if res != nil && res.StatusCode == code {
			rc.best = res
		}
	}
}

// prefer ranks a final response, lowest best: any 6xx, then the lowest
// class, preferring in 4xx 401, 407, 415, 420 and 484 (and 487 after a
// CANCEL from upstream).
func prefer(code int, canceled bool) int {
	class := code / 100
	if class == 6 {
		return 0
	}
	r := class*10 + 2
	switch code {
	case 401, 407, 415, 420, 484:
		r = class*10 + 1
	case 487:
		if canceled {
			r = class * 10
		}
	}
	return r
}

// cancelLocked marks every pending branch but except as CANCELled for why
// and returns the transactions to CANCEL now (the others are CANCELled
// when their SendInvite returns). rc.mu is held.
func (rc *rctx) cancelLocked(except *branch, why string) []*sipnet.ClientTx {
	var out []*sipnet.ClientTx
	for _, o := range rc.branches {
		if o == except || o.finished || o.cancelWhy != "" {
			continue
		}
		o.cancelWhy = why
		if o.ct != nil {
			out = append(out, o.ct)
		} else {
			o.cancelWanted = true
		}
	}
	return out
}

// closeDone closes rc.done once; rc.mu is held.
func (rc *rctx) closeDone() {
	if !rc.doneClosed {
		rc.doneClosed = true
		close(rc.done)
	}
}

// maybeFinish sends the best final response upstream once every branch
// has its outcome and no 2xx came (16.7 step 6).
func (rc *rctx) maybeFinish() {
	rc.mu.Lock()
	if rc.finished {
		rc.mu.Unlock()
		return
	}
	for _, b := range rc.branches {
		if !b.finished {
			rc.mu.Unlock()
			return
		}
	}
	rc.finished = true
	send := !rc.answered && !rc.finalSent
	if send {
		rc.finalSent = true
		rc.closeDone()
	}
	best, code := rc.best, rc.bestCode
	rc.mu.Unlock()
	rc.p.loops.Delete(rc.key)
	if !send {
		return
	}
	if code == 0 {
		code = 408
	}
	if best != nil {
		up := upstream(best, rc.req)
		if code == 503 {
			up.StatusCode, up.Reason = 500, "Server Internal Error"
		}
		_ = rc.tx.Respond(up)
		return
	}
	if code == 503 {
		code = 500
	}
	rc.p.reply(rc.tx, code, "")
}
