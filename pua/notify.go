package pua

import (
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/sipnet"
)

// handleNotify matches a NOTIFY to its subscription dialog (Call-ID and
// our tag, the To tag) and hands it to the record's shard; a NOTIFY for no
// dialog of ours gets 481. It runs on a SIP worker goroutine.
func (c *Client) handleNotify(tx *sipnet.ServerTx) {
	if tx.RejectUnsupported() {
		return
	}
	req := tx.Request()
	cid, to, from := req.CallID(), req.To(), req.From()
	if cid == nil || to == nil || from == nil {
		_ = tx.Reply(400, "Bad Request (missing Call-ID, To or From)")
		return
	}
	toTag, _ := to.Params.Get("tag")
	ref, ok := c.dialogs.Get(string(*cid) + ";" + toTag)
	if !ok {
		c.m.notifies.WithLabelValues("481").Inc()
		_ = tx.Reply(481, "Subscription Does Not Exist")
		return
	}
	sh := c.shardOf(ref.presentity)
	sh.Do(func() { sh.notify(tx, ref.id) })
}

// SubscriptionState is a parsed Subscription-State header.
type SubscriptionState struct {
	State      string // active, pending, terminated
	Reason     string
	Expires    int // -1 when absent
	RetryAfter int // -1 when absent
}

// ParseSubscriptionState parses a Subscription-State value (RFC 6665
// section 8.2.3).
func ParseSubscriptionState(v string) SubscriptionState {
	parts := strings.Split(v, ";")
	s := SubscriptionState{State: strings.ToLower(strings.TrimSpace(parts[0])), Expires: -1, RetryAfter: -1}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "reason":
			s.Reason = strings.ToLower(val)
		case "expires":
			if n, err := strconv.Atoi(val); err == nil {
				s.Expires = n
			}
		case "retry-after":
			if n, err := strconv.Atoi(val); err == nil {
				s.RetryAfter = n
			}
		}
	}
	return s
}

func (sh *pshard) notify(tx *sipnet.ServerTx, id string) {
	c := sh.c
	req := tx.Request()
	reply := func(code int, reason string) {
		c.m.notifies.WithLabelValues(strconv.Itoa(code)).Inc()
		_ = tx.Reply(code, reason)
	}
	rec := sh.subByID[id]
	if rec == nil || rec.gone {
		reply(481, "Subscription Does Not Exist")
		return
	}
	fromTag, _ := req.From().Params.Get("tag")
	switch {
	case rec.RemoteTag == "":
		// The NOTIFY came before the 2xx: it starts the dialog, its
		// Record-Route is the route set.
		rec.RemoteTag = fromTag
		for _, h := range req.GetHeaders("Record-Route") {
			rec.RouteSet = append(rec.RouteSet, routeValue(h))
		}
	case rec.RemoteTag != fromTag:
		// A second dialog from a forked SUBSCRIBE: we keep one.
		reply(481, "Subscription Does Not Exist (forked dialog not kept)")
		return
	}
	if cs := req.CSeq(); cs != nil {
		if rec.RemoteCSeq != 0 && cs.SeqNo <= rec.RemoteCSeq {
			reply(500, "Server Internal Error (CSeq out of order)")
			return
		}
		rec.RemoteCSeq = cs.SeqNo
	}
	if ev := header(req, "Event", "o"); ev != "" && !sameEvent(ev, rec.Event) {
		reply(489, "Bad Event")
		return
	}
	if ct := req.Contact(); ct != nil {
		rec.RemoteTarget = ct.Address.String()
	}
	ssv := header(req, "Subscription-State")
	if ssv == "" {
		reply(400, "Bad Request (missing Subscription-State)")
		return
	}
	ss := ParseSubscriptionState(ssv)
	rec.State, rec.Reason = ss.State, ss.Reason
	rec.NotifyAt = time.Now()
	rec.NotifyBody = req.Body()
	rec.NotifyContentType = header(req, "Content-Type", "c")

	code, reason := 200, "OK"
	if h := c.handler(rec.Source).Notify; h != nil {
		if hc, hr := h(rec.Subscription, req); hc != 0 {
			code, reason = hc, hr
		}
	}
	reply(code, reason)

	if ss.State != "terminated" {
		if ss.Expires >= 0 && !rec.ending {
			if exp := time.Now().Add(time.Duration(ss.Expires) * time.Second); exp.Before(rec.Expires) || rec.Expires.IsZero() {
				rec.Expires = exp
				if rec.inflight == nil && len(rec.queue) == 0 {
					sh.scheduleSub(rec)
				}
			}
		}
		if !rec.ending {
			c.save(&Batch{PutSubscriptions: []*Subscription{rec.record()}})
		}
		return
	}
	// Terminated by the notifier (RFC 6665 section 4.1.3).
	if rec.ending {
		sh.dropSub(rec, false)
		return
	}
	wanted := !rec.leaving && (rec.Desired.IsZero() || rec.Desired.After(time.Now()))
	switch ss.Reason {
	case "", "deactivated", "timeout", "probation", "giveup":
		if wanted && (ss.Reason != "giveup" || ss.RetryAfter >= 0) {
			// Subscribe again, in a new dialog, after any Retry-After.
			sh.newDialog(rec)
			exp := Forever
			if !rec.Desired.IsZero() {
				exp = max(1, int(time.Until(rec.Desired)/time.Second))
			}
			rec.queue = append(rec.queue, &subOp{expires: exp, internal: true})
			if ss.RetryAfter > 0 {
				rec.timer.retry(time.Now().Add(time.Duration(ss.RetryAfter) * time.Second))
			} else {
				sh.pumpSub(rec)
			}
			c.save(&Batch{PutSubscriptions: []*Subscription{rec.record()}})
			return
		}
	}
	sh.dropSub(rec, true)
}

// sameEvent compares Event header values by package (and the sla
// parameter), ignoring other parameters.
func sameEvent(header, event string) bool {
	name, params, _ := strings.Cut(strings.ToLower(header), ";")
	name = strings.TrimSpace(name)
	if name == "dialog" && strings.Contains(params, "sla") {
		name = "dialog;sla"
	}
	return name == event
}
