package dialog

import (
	"strconv"
	"time"
)

// CallInfo describes an initial INVITE as the proxy received it.
type CallInfo struct {
	CallID    string
	CallerTag string // the From tag
	Caller    Party  // From URI and display name; Target: the INVITE's Contact
	// CallerCSeq is the INVITE's CSeq number.
	CallerCSeq uint32
	// CallerRoute is the route set from this proxy toward the caller: the
	// INVITE's Record-Route values (added by proxies before us), in order.
	CallerRoute []string
	// CallerDest is "transport:ip:port" the INVITE came from when the
	// caller sent it to us directly (one Via), "" otherwise.
	CallerDest string
}

// Answer is what a 2xx tells about the callee.
type Answer struct {
	ToTag  string
	Target string // the 2xx's Contact URI
	// CalleeRoute is the route set from this proxy toward the callee:
	// the 2xx's Record-Route values above ours, reversed.
	CalleeRoute []string
}

// Request is a request within a dialog that the proxy forwards.
type Request struct {
	Method  string // "BYE", "INVITE", "UPDATE", ...
	CallID  string
	FromTag string
	ToTag   string
	CSeq    uint32
	Contact string // the request's Contact URI, "" when none
}

// Hop is where a request within a dialog goes toward a party: its target
// and, when its target is not reachable as it reads, the address to send
// to ("transport:ip:port", see Record.CallerDest).
type Hop struct {
	Target string
	Dest   string
}

// Call is the proxy's handle on the branches of an initial INVITE. Its
// methods only post work to the call's shard: they never block.
type Call struct {
	sh *dshard
	c  *call // set on the shard
}

// Branch is the proxy's handle on one branch (one dialog).
type Branch struct {
	sh *dshard
	br *branch // set on the shard
}

// NewCall records an initial INVITE. A retry of an INVITE (same Call-ID
// and From tag) continues the branch numbering of the earlier one.
func (s *Service) NewCall(info CallInfo) *Call {
	h := &Call{sh: s.shardOf(info.CallID)}
	sh := h.sh
	sh.Do(func() {
		key := callKey(info.CallID, info.CallerTag)
		c := sh.calls[key]
		if c == nil {
			c = &call{key: key}
			c.linger.Fire = func(time.Time) { sh.dropIfEnded(c) }
			sh.calls[key] = c
		}
		c.info = info
		sh.Cancel(&c.linger)
		h.c = c
	})
	return h
}

// Branch records that the INVITE is forwarded to callee (URI: the AOR
// or Request-URI called, Target: the contact forwarded to); dest is
// "transport:ip:port" when the contact is reached at another address than
// it reads (a NAT binding's Received address), else "". The branch starts
// in Trying.
func (h *Call) Branch(callee Party, dest string) *Branch {
	b := &Branch{sh: h.sh}
	sh := h.sh
	sh.Do(func() {
		c := h.c
		idx := c.next
		c.next++
		now := time.Now()
		br := &branch{call: c}
		br.rec = Record{
			Dialog: Dialog{
				ID: c.info.CallID + "." + strconv.FormatInt(int64(idx), 16), CallID: c.info.CallID, Branch: idx,
				CallerTag: c.info.CallerTag, Caller: c.info.Caller, Callee: callee,
				Created: now, Expires: now.Add(sh.s.lifetime),
			},
			CallerCSeq:  c.info.CallerCSeq,
			CallerRoute: c.info.CallerRoute,
			CallerDest:  c.info.CallerDest,
			CalleeDest:  dest,
		}
		c.branches = append(c.branches, br)
		sh.Cancel(&c.linger)
		b.br = br
		sh.s.active.Inc()
		br.timer.Fire = func(now time.Time) { sh.lifetimeOver(br, now) }
		sh.Schedule(&br.timer, br.rec.Expires)
		sh.advance(br, Trying, nil)
	})
	return b
}

// Progress records a provisional response on the branch: 101-179 make it
// proceeding, 180-199 early. toTag is the response's To tag.
func (b *Branch) Progress(code int, toTag string) {
	if code <= 100 || code >= 200 {
		return
	}
	sh := b.sh
	sh.Do(func() {
		br := b.br
		st := Proceeding
		if code >= 180 {
			st = Early
		}
		sh.advance(br, st, func() {
			if br.rec.CalleeTag == "" {
				br.rec.CalleeTag = toTag
			}
		})
	})
}

// Confirm records a 2xx on the branch: it goes confirmed and is persisted.
// done (may be nil) runs once the dialog is durable, or at once when the
// branch was already confirmed or ended: the proxy forwards the 2xx then,
// so that a call answered upstream survives a kill -9. done must be quick.
func (b *Branch) Confirm(a Answer, done func()) {
	sh := b.sh
	sh.Do(func() {
		br := b.br
		now := time.Now()
		ok := sh.advance(br, Confirmed, func() {
			br.rec.CalleeTag = a.ToTag
			br.rec.Callee.Target = a.Target
			br.rec.CalleeRoute = a.CalleeRoute
			br.rec.Confirmed = now
			br.rec.Expires = now.Add(sh.s.lifetime)
		})
		if !ok {
			if done != nil {
				done()
			}
			return
		}
		sh.Schedule(&br.timer, br.rec.Expires)
		sh.putPeers(br)
		sh.persist(br, done)
	})
}

// End terminates the branch with reason (ReasonRejected with the final
// status code, ReasonCancelled, ReasonReplaced, ReasonTimeout,
// ReasonError). A branch already terminated stays as it is.
func (b *Branch) End(reason string, code int) {
	sh := b.sh
	sh.Do(func() { sh.end(b.br, reason, code) })
}

// find returns the live dialog a request with these tags belongs to, and
// whether the request comes from the caller.
func (sh *dshard) find(callID, fromTag, toTag string) (*branch, bool) {
	if c := sh.calls[callKey(callID, fromTag)]; c != nil {
		for _, br := range c.branches {
			if br.rec.State != Terminated && br.rec.CalleeTag == toTag && toTag != "" {
				return br, true
			}
		}
	}
	if c := sh.calls[callKey(callID, toTag)]; c != nil {
		for _, br := range c.branches {
			if br.rec.State != Terminated && br.rec.CalleeTag == fromTag && fromTag != "" {
				return br, false
			}
		}
	}
	return nil, false
}

// InDialog records a request within a dialog: a BYE ends it (local-bye
// from the caller, remote-bye from the callee); any other request raises
// the sender's CSeq, and an INVITE or UPDATE with a Contact refreshes the
// sender's target. A request matching no dialog changes nothing.
func (s *Service) InDialog(r Request) {
	sh := s.shardOf(r.CallID)
	sh.Do(func() {
		br, fromCaller := sh.find(r.CallID, r.FromTag, r.ToTag)
		if br == nil {
			return
		}
		if r.Method == "BYE" {
			reason := ReasonRemoteBye
			if fromCaller {
				reason = ReasonLocalBye
			}
			sh.end(br, reason, 0)
			return
		}
		changed := false
		cseq, target := &br.rec.CalleeCSeq, &br.rec.Callee.Target
		if fromCaller {
			cseq, target = &br.rec.CallerCSeq, &br.rec.Caller.Target
		}
		if r.CSeq > *cseq {
			*cseq = r.CSeq
			changed = true
		}
		if (r.Method == "INVITE" || r.Method == "UPDATE") && r.Contact != "" && r.Contact != *target {
			*target = r.Contact
			changed = true
			sh.putPeers(br)
		}
		if changed && br.persisted {
			sh.persist(br, nil)
		}
	})
}

// Refreshed records a 2xx to a re-INVITE or UPDATE within a confirmed
// dialog: subscribers get a Refreshed event.
func (s *Service) Refreshed(callID, fromTag, toTag string) {
	sh := s.shardOf(callID)
	sh.Do(func() {
		br, _ := sh.find(callID, fromTag, toTag)
		if br == nil || br.rec.State != Confirmed {
			return
		}
		s.emit(Event{Kind: Refreshed, Dialog: br.rec.Dialog, Prev: Confirmed})
	})
}

// Peer returns where a request within a confirmed dialog, from the party
// tagged fromTag, goes: the other party's target and address. It is safe
// from any goroutine.
func (s *Service) Peer(callID, fromTag, toTag string) (Hop, bool) {
	return s.peers.Get(peerKey(callID, fromTag, toTag))
}

func peerKey(callID, fromTag, toTag string) string {
	return callID + "\x00" + fromTag + "\x00" + toTag
}

func (sh *dshard) putPeers(br *branch) {
	r := &br.rec
	if r.CalleeTag == "" {
		return
	}
	sh.s.peers.Put(peerKey(r.CallID, r.CallerTag, r.CalleeTag), Hop{Target: r.Callee.Target, Dest: r.CalleeDest})
	sh.s.peers.Put(peerKey(r.CallID, r.CalleeTag, r.CallerTag), Hop{Target: r.Caller.Target, Dest: r.CallerDest})
}

func (sh *dshard) deletePeers(br *branch) {
	r := &br.rec
	if r.CalleeTag == "" || r.State != Terminated {
		return
	}
	sh.s.peers.Delete(peerKey(r.CallID, r.CallerTag, r.CalleeTag))
	sh.s.peers.Delete(peerKey(r.CallID, r.CalleeTag, r.CallerTag))
}
