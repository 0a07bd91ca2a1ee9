package pua

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// SubscribeRequest asks the pua core to subscribe, refresh or unsubscribe.
type SubscribeRequest struct {
	Presentity string // Request-URI of the SUBSCRIBE
	To         string // To URI; the presentity when empty
	Watcher    string // From URI
	Event      string
	Source     Source
	OwnerID    string
	// Expires is the lifetime wanted, in seconds: 0 unsubscribes,
	// Forever keeps the subscription refreshed until unsubscribed.
	Expires      int
	ExtraHeaders []string
	// Contact, when set, is the Contact of our SUBSCRIBEs (pua_bla's
	// server_address); default: this daemon's.
	Contact string
	// Destination, when set ("ip:port"), is where every request of the
	// subscription goes, instead of the presence server or the remote
	// target: a phone behind NAT is reached at the address it registered
	// from.
	Destination string
}

type subKey struct {
	presentity, watcher, event string
	source                     Source
	owner                      string
}

// subRec is a subscription, its dialog and its request queue, owned by a
// shard.
type subRec struct {
	Subscription
	key      subKey
	timer    timerRef
	inflight *subOp
	queue    []*subOp
	attempts int
	ending   bool // unsubscribed: kept a few seconds for the final NOTIFY
	leaving  bool // the owner unsubscribed: a terminated NOTIFY must not re-subscribe
	gone     bool
}

type subOp struct {
	unsubscribe bool
	expires     int
	done        func(Result)
	internal    bool
	minExpires  int
	initial     bool // sent out of dialog
}

// Subscribe queues a subscription request; done (may be nil) is called
// once with the outcome of its SUBSCRIBE, on a shard goroutine.
func (c *Client) Subscribe(r SubscribeRequest, done func(Result)) {
	if done == nil {
		done = func(Result) {}
	}
	ev, err := NormalizeEvent(r.Event)
	if err != nil {
		done(Result{Reason: err.Error(), Err: err})
		return
	}
	r.Event = ev
	for _, f := range []struct {
		what string
		v    *string
	}{{"presentity", &r.Presentity}, {"watcher", &r.Watcher}, {"to", &r.To}} {
		if *f.v == "" && f.what == "to" {
			continue
		}
		u, err := sipaddr.Parse(*f.v)
		if err != nil {
			err = &badURIError{f.what, *f.v, err}
			done(Result{Reason: err.Error(), Err: err})
			return
		}
		*f.v = u.String()
	}
	sh := c.shardOf(r.Presentity)
	sh.Do(func() { sh.subscribe(r, done) })
}

// SubscribeWait is Subscribe waiting for the outcome within ctx; a ctx
// that ends first gives 408.
func (c *Client) SubscribeWait(ctx context.Context, r SubscribeRequest) Result {
	ch := make(chan Result, 1)
	c.Subscribe(r, func(res Result) { ch <- res })
	select {
	case res := <-ch:
		return res
	case <-ctx.Done():
		return Result{Code: 408, Reason: "Request Timeout (no final response in time)", Err: ctx.Err()}
	}
}

func (sh *pshard) subscribe(r SubscribeRequest, done func(Result)) {
	c := sh.c
	key := subKey{r.Presentity, r.Watcher, r.Event, r.Source, r.OwnerID}
	rec := sh.subs[key]
	if rec == nil || rec.ending {
		if r.Expires == 0 {
			done(Result{Reason: "no subscription to end", Err: ErrNoRecord})
			return
		}
		if rec != nil {
			sh.dropSub(rec, false)
		}
		rec = &subRec{
			Subscription: Subscription{
				ID: newID(), Presentity: r.Presentity, To: r.To, Watcher: r.Watcher, Event: r.Event,
				Source: r.Source, OwnerID: r.OwnerID,
			},
			key: key,
		}
		rec.Destination, rec.Contact = r.Destination, r.Contact
		rec.timer.init(sh, rec.fire)
		sh.newDialog(rec)
		sh.subs[key] = rec
		sh.subByID[rec.ID] = rec
		c.m.subs.Inc()
	}
	if r.ExtraHeaders != nil {
		rec.ExtraHeaders = r.ExtraHeaders
	}
	switch {
	case r.Expires == Forever:
		rec.Desired, rec.leaving = time.Time{}, false
	case r.Expires > 0:
		rec.Desired, rec.leaving = time.Now().Add(time.Duration(r.Expires)*time.Second), false
	default:
		rec.leaving = true
	}
	rec.queue = append(rec.queue, &subOp{unsubscribe: r.Expires == 0, expires: r.Expires, done: done})
	sh.pumpSub(rec)
}

// newDialog gives rec a fresh dialog (a new initial SUBSCRIBE follows).
func (sh *pshard) newDialog(rec *subRec) {
	c := sh.c
	if rec.CallID != "" {
		c.dialogs.Delete(rec.CallID + ";" + rec.LocalTag)
	}
	rec.CallID = newID()
	rec.LocalTag = newTag()
	rec.RemoteTag, rec.RouteSet, rec.RemoteTarget = "", nil, ""
	rec.LocalCSeq, rec.RemoteCSeq = 0, 0
	rec.State, rec.Reason = "", ""
	if rec.Contact == "" {
		ct := c.sip.ContactURI(c.transport(), c.cfg.ContactUser)
		rec.Contact = ct.String()
	}
	c.dialogs.Put(rec.CallID+";"+rec.LocalTag, dialogRef{rec.Presentity, rec.ID})
}

func (sh *pshard) pumpSub(rec *subRec) {
	if rec.inflight != nil || len(rec.queue) == 0 || rec.timer.retrying || rec.gone {
		return
	}
	op := rec.queue[0]
	rec.queue = rec.queue[1:]
	if len(rec.queue) == 0 {
		rec.queue = nil
	}
	if op.unsubscribe && rec.RemoteTag == "" && rec.State == "" {
		// Never established: nothing to end on the notifier.
		sh.dropSub(rec, false)
		finishSub(op, Result{Code: 200, Reason: "OK (not established)"})
		return
	}
	rec.inflight = op
	c := sh.c
	req, opts, err := c.buildSubscribe(rec, op)
	if err != nil {
		sh.subscribeReply(rec, op, nil, err)
		return
	}
	err = c.sip.Send(req, opts, func(res *sip.Response, err error) {
		sh.Do(func() { sh.subscribeReply(rec, op, res, err) })
	})
	if err != nil {
		sh.subscribeReply(rec, op, nil, err)
	}
}

func (c *Client) buildSubscribe(rec *subRec, op *subOp) (*sip.Request, sipnet.SendOptions, error) {
	inDialog := rec.RemoteTag != ""
	op.initial = !inDialog
	var ruri sip.Uri
	var err error
	opts := c.serverOptions()
	if inDialog {
		ruri, err = sipaddr.Parse(rec.RemoteTarget)
		opts = sipnet.SendOptions{}
		if rec.Destination != "" && len(rec.RouteSet) == 0 {
			if ap, perr := netip.ParseAddrPort(rec.Destination); perr == nil {
				opts.Destination = ap
			}
		}
		if c.cfg.PresenceServer == "" || len(rec.RouteSet) == 0 {
			// Loose routing decides, unless the remote target is unusable
			// and the presence server is known.
			if err != nil {
				ruri, err = sipaddr.Parse(rec.Presentity)
				opts = c.serverOptions()
			}
		}
	} else {
		ruri, err = sipaddr.Parse(rec.Presentity)
		if rec.Destination != "" {
			if ap, perr := netip.ParseAddrPort(rec.Destination); perr == nil {
				opts = sipnet.SendOptions{Destination: ap}
			}
		}
	}
	if err != nil {
		return nil, opts, err
	}
	req := sip.NewRequest(sip.SUBSCRIBE, ruri)
	if inDialog {
		for _, r := range rec.RouteSet {
			req.AppendHeader(sip.NewHeader("Route", r))
		}
	} else if c.proxy != "" {
		req.AppendHeader(sip.NewHeader("Route", c.proxy))
	}
	w, err := sipaddr.Parse(rec.Watcher)
	if err != nil {
		return nil, opts, err
	}
	toURI := rec.To
	if toURI == "" {
		toURI = rec.Presentity
	}
	to, err := sipaddr.Parse(toURI)
	if err != nil {
		return nil, opts, err
	}
	from := &sip.FromHeader{Address: w, Params: sip.NewParams()}
	from.Params.Add("tag", rec.LocalTag)
	toh := &sip.ToHeader{Address: to, Params: sip.NewParams()}
	if inDialog {
		toh.Params.Add("tag", rec.RemoteTag)
	}
	rec.LocalCSeq++
	cid := sip.CallIDHeader(rec.CallID)
	req.AppendHeader(from)
	req.AppendHeader(toh)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: rec.LocalCSeq, MethodName: sip.SUBSCRIBE})
	ct, err := sipaddr.Parse(rec.Contact)
	if err != nil {
		return nil, opts, err
	}
	req.AppendHeader(&sip.ContactHeader{Address: ct})
	req.AppendHeader(sip.NewHeader("Event", rec.Event))
	exp := 0
	if !op.unsubscribe {
		exp = c.requested(op.expires, rec.Desired, op.minExpires)
	}
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(exp)))
	if t := ContentType(rec.Event); t != "" {
		req.AppendHeader(sip.NewHeader("Accept", t))
	}
	appendExtra(req, rec.ExtraHeaders)
	return req, opts, nil
}

// subscribeReply applies the final response (or failure) of a SUBSCRIBE.
func (sh *pshard) subscribeReply(rec *subRec, op *subOp, res *sip.Response, err error) {
	c := sh.c
	rec.inflight = nil
	if rec.gone {
		finishSub(op, resultOf(res, err))
		return
	}
	r := resultOf(res, err)
	initial := op.initial
	switch {
	case r.OK():
		rec.attempts = 0
		if tag, _ := res.To().Params.Get("tag"); tag != "" && initial && rec.RemoteTag == "" {
			// The dialog starts with this 2xx (unless a NOTIFY came first):
			// its route set is the Record-Route, reversed.
			rec.RemoteTag = tag
			rrs := res.GetHeaders("Record-Route")
			for i := len(rrs) - 1; i >= 0; i-- {
				rec.RouteSet = append(rec.RouteSet, routeValue(rrs[i]))
			}
		}
		if ct := res.Contact(); ct != nil {
			rec.RemoteTarget = ct.Address.String()
		}
		granted := c.requested(op.expires, rec.Desired, op.minExpires)
		if op.unsubscribe {
			granted = 0
		}
		if v, err := strconv.Atoi(strings.TrimSpace(header(res, "Expires"))); err == nil && v >= 0 {
			granted = v
		}
		r.Expires = granted
		if granted == 0 {
			// Ended: wait a little for the final NOTIFY, then forget it.
			rec.ending = true
			rec.timer.set(time.Now().Add(5 * time.Second))
			c.save(&Batch{DeleteSubscriptions: []string{rec.ID}})
			c.m.subscribes.WithLabelValues("2xx").Inc()
			finishSub(op, r)
			sh.pumpSub(rec)
			return
		}
		rec.Expires = time.Now().Add(time.Duration(granted) * time.Second)
		if rec.State == "" {
			rec.State = "pending"
		}
		sh.scheduleSub(rec)
		c.save(&Batch{PutSubscriptions: []*Subscription{rec.record()}})
		c.m.subscribes.WithLabelValues("2xx").Inc()
		finishSub(op, r)

	case op.unsubscribe:
		// However the notifier answered, the subscription is over for us.
		sh.dropSub(rec, false)
		finishSub(op, r)
		return

	case r.Code == 481 && !initial && rec.attempts < 3:
		// The notifier lost the dialog: start a new subscription for the
		// time still wanted.
		c.m.subscribes.WithLabelValues("481").Inc()
		rec.attempts++
		sh.newDialog(rec)
		rec.queue = append([]*subOp{op}, rec.queue...)

	case r.Code == 423 && rec.attempts < 3:
		c.m.subscribes.WithLabelValues("423").Inc()
		if v, err := strconv.Atoi(strings.TrimSpace(header(res, "Min-Expires"))); err == nil && v > 0 {
			op.minExpires = v
		}
		rec.attempts++
		rec.queue = append([]*subOp{op}, rec.queue...)

	case retryable(r):
		c.m.subscribes.WithLabelValues("retry").Inc()
		rec.attempts++
		if op.done != nil {
			finishSub(op, r)
			op.done = nil
		}
		if !initial && rec.attempts >= 3 {
			sh.newDialog(rec) // the old dialog is probably gone
		}
		rec.queue = append([]*subOp{op}, rec.queue...)
		rec.timer.retry(time.Now().Add(c.retryDelay(rec.attempts, res)))
		return

	default:
		c.m.subscribes.WithLabelValues("failed").Inc()
		c.log.Info("subscription refused", "presentity", rec.Presentity, "watcher", rec.Watcher, "event", rec.Event, "code", r.Code, "reason", r.Reason)
		sh.dropSub(rec, false)
		finishSub(op, r)
		if op.internal || op.done == nil {
			if h := c.handler(rec.Source).SubscriptionEnded; h != nil {
				h(rec.Subscription, r)
			}
		}
		return
	}
	sh.pumpSub(rec)
}

func routeValue(h sip.Header) string {
	if rr, ok := h.(*sip.RecordRouteHeader); ok {
		return "<" + rr.Address.String() + ">"
	}
	return h.Value()
}

func finishSub(op *subOp, r Result) {
	if op.done != nil {
		op.done(r)
	}
}

// dropSub removes a subscription record; tell informs the owner.
func (sh *pshard) dropSub(rec *subRec, tell bool) {
	if rec.gone {
		return
	}
	c := sh.c
	rec.gone = true
	if sh.subs[rec.key] == rec {
		delete(sh.subs, rec.key)
	}
	delete(sh.subByID, rec.ID)
	c.dialogs.Delete(rec.CallID + ";" + rec.LocalTag)
	rec.timer.stop()
	c.m.subs.Dec()
	c.save(&Batch{DeleteSubscriptions: []string{rec.ID}})
	for _, op := range rec.queue {
		finishSub(op, Result{Reason: "subscription ended", Err: ErrNoRecord})
	}
	rec.queue = nil
	if tell {
		if h := c.handler(rec.Source).SubscriptionEnded; h != nil {
			h(rec.Subscription, Result{Reason: "terminated: " + rec.Reason})
		}
	}
}

func (sh *pshard) scheduleSub(rec *subRec) {
	at := refreshAt(time.Now(), rec.Expires)
	if !rec.Desired.IsZero() && !rec.Desired.After(at) {
		at = rec.Desired
	}
	rec.timer.set(at)
}

func (rec *subRec) fire(sh *pshard, now time.Time, retry bool) {
	if rec.gone {
		return
	}
	if rec.ending {
		sh.dropSub(rec, false)
		return
	}
	if retry {
		sh.pumpSub(rec)
		return
	}
	if rec.inflight != nil || len(rec.queue) > 0 {
		return
	}
	if !rec.Desired.IsZero() && !rec.Desired.After(now) {
		rec.queue = append(rec.queue, &subOp{unsubscribe: true, internal: true})
	} else {
		exp := Forever
		if !rec.Desired.IsZero() {
			exp = max(1, int(rec.Desired.Sub(now)/time.Second))
		}
		rec.queue = append(rec.queue, &subOp{expires: exp, internal: true})
	}
	sh.pumpSub(rec)
}

func (rec *subRec) record() *Subscription {
	s := rec.Subscription
	return &s
}
