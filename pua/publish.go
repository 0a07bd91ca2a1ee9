package pua

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// PublishRequest asks the pua core to publish, refresh, modify or remove
// a publication.
type PublishRequest struct {
	Presentity string // URI published for
	Event      string
	Source     Source
	OwnerID    string // tells the owner's publications of one presentity apart
	// Expires is the lifetime wanted, in seconds: 0 removes the
	// publication, Forever keeps it refreshed until removed.
	Expires     int
	ContentType string // default: the event's type
	Body        []byte // nil: refresh (or remove) the existing publication
	// ETag, when set, names the publication to update: it must be the
	// record's current entity-tag or one it had recently (the record was
	// refreshed since), else the request fails with ErrNoRecord.
	ETag string
	// New forces a new publication (a new record) even if one exists for
	// the same key; its OwnerID is generated when empty.
	New          bool
	ExtraHeaders []string // "Name: value"
}

type pubKey struct {
	presentity, event string
	source            Source
	owner             string
}

// pubRec is a publication and its request queue, owned by a shard.
type pubRec struct {
	Publication
	key      pubKey
	timer    timerRef
	inflight *pubOp
	queue    []*pubOp
	attempts int      // failed attempts of the op at the head, for backoff
	oldETags []string // recent entity-tags, newest last
	gone     bool
}

// pubOp is one PUBLISH to send.
type pubOp struct {
	remove      bool
	body        []byte // nil: refresh
	contentType string
	expires     int // seconds to ask; Forever for "until removed"
	done        func(Result)
	internal    bool // a timer refresh or removal, not the owner's
	minExpires  int  // from a 423
}

// Publish queues a publication request; done (may be nil) is called once
// with the outcome of its PUBLISH, on a shard goroutine. A request that
// fails before anything is sent calls done with Err set.
func (c *Client) Publish(r PublishRequest, done func(Result)) {
	if done == nil {
		done = func(Result) {}
	}
	ev, err := NormalizeEvent(r.Event)
	if err != nil {
		done(Result{Reason: err.Error(), Err: err})
		return
	}
	r.Event = ev
	u, err := sipaddr.Parse(r.Presentity)
	if err != nil {
		err = &badURIError{"presentity", r.Presentity, err}
		done(Result{Reason: err.Error(), Err: err})
		return
	}
	r.Presentity = u.String()
	if r.ContentType == "" && r.Body != nil {
		r.ContentType = ContentType(ev)
	}
	if r.New && r.OwnerID == "" {
		r.OwnerID = newID()
	}
	sh := c.shardOf(r.Presentity)
	sh.Do(func() { sh.publish(r, done) })
}

// PublishWait is Publish waiting for the outcome within ctx; a ctx that
// ends first gives 408.
func (c *Client) PublishWait(ctx context.Context, r PublishRequest) Result {
	ch := make(chan Result, 1)
	c.Publish(r, func(res Result) { ch <- res })
	select {
	case res := <-ch:
		return res
	case <-ctx.Done():
		return Result{Code: 408, Reason: "Request Timeout (no final response in time)", Err: ctx.Err()}
	}
}

func (sh *pshard) publish(r PublishRequest, done func(Result)) {
	c := sh.c
	key := pubKey{r.Presentity, r.Event, r.Source, r.OwnerID}
	rec := sh.pubs[key]
	if r.ETag != "" {
		rec = sh.pubByETag(r, rec)
		if rec == nil {
			done(Result{Reason: "no publication with entity-tag " + r.ETag, Err: ErrNoRecord})
			return
		}
	}
	if rec == nil {
		if r.Expires == 0 {
			done(Result{Reason: "no publication to remove", Err: ErrNoRecord})
			return
		}
		if r.Body == nil {
			done(Result{Reason: ErrNoBody.Error(), Err: ErrNoBody})
			return
		}
		rec = &pubRec{
			Publication: Publication{
				ID: newID(), Presentity: r.Presentity, Event: r.Event, Source: r.Source, OwnerID: r.OwnerID,
				ContentType: r.ContentType, Body: r.Body,
			},
			key: key,
		}
		rec.timer.init(sh, rec.fire)
		sh.pubs[key] = rec
		c.m.pubs.Inc()
	}
	if r.ExtraHeaders != nil {
		rec.ExtraHeaders = r.ExtraHeaders
	}
	if r.Expires == Forever {
		rec.Desired = time.Time{}
	} else if r.Expires > 0 {
		rec.Desired = time.Now().Add(time.Duration(r.Expires) * time.Second)
	}
	op := &pubOp{remove: r.Expires == 0, body: r.Body, contentType: r.ContentType, expires: r.Expires, done: done}
	sh.enqueuePub(rec, op)
}

// pubByETag finds the record an entity-tag names, among the records of the
// presentity, event and source.
func (sh *pshard) pubByETag(r PublishRequest, hint *pubRec) *pubRec {
	match := func(p *pubRec) bool {
		return p.ETag == r.ETag || slices.Contains(p.oldETags, r.ETag)
	}
	if hint != nil && match(hint) {
		return hint
	}
	for k, p := range sh.pubs {
		if k.presentity == r.Presentity && k.event == r.Event && k.source == r.Source && match(p) {
			return p
		}
	}
	return nil
}

func (sh *pshard) enqueuePub(rec *pubRec, op *pubOp) {
	if len(rec.queue) > 0 && !op.remove {
		// Coalesce: a newer body replaces a queued one; a queued removal
		// stays before it.
		last := rec.queue[len(rec.queue)-1]
		if !last.remove && last.done == nil && op.done == nil && (op.body != nil || last.body == nil) {
			rec.queue[len(rec.queue)-1] = op
			sh.pumpPub(rec)
			return
		}
	}
	rec.queue = append(rec.queue, op)
	sh.pumpPub(rec)
}

// pumpPub sends the next queued PUBLISH of rec unless one is in flight or
// a retry is waiting.
func (sh *pshard) pumpPub(rec *pubRec) {
	if rec.inflight != nil || len(rec.queue) == 0 || rec.timer.retrying {
		return
	}
	op := rec.queue[0]
	rec.queue = rec.queue[1:]
	if len(rec.queue) == 0 {
		rec.queue = nil
	}
	rec.inflight = op
	c := sh.c
	req := c.buildPublish(rec, op)
	err := c.sip.Send(req, c.serverOptions(), func(res *sip.Response, err error) {
		sh.Do(func() { sh.publishReply(rec, op, res, err) })
	})
	if err != nil {
		sh.publishReply(rec, op, nil, err)
	}
}

// requested is the Expires a PUBLISH or SUBSCRIBE asks for.
func (c *Client) requested(expires int, desired time.Time, minExpires int) int {
	var n int
	switch {
	case expires == 0:
		return 0
	case desired.IsZero():
		n = c.cfg.DefaultExpires
	default:
		n = int((time.Until(desired) + time.Second - 1) / time.Second)
	}
	return max(n, c.cfg.MinExpires, minExpires, 1)
}

func (c *Client) buildPublish(rec *pubRec, op *pubOp) *sip.Request {
	u, _ := sipaddr.Parse(rec.Presentity)
	req := sip.NewRequest(sip.PUBLISH, u)
	if c.proxy != "" {
		req.AppendHeader(sip.NewHeader("Route", c.proxy))
	}
	from := &sip.FromHeader{Address: u, Params: sip.NewParams()}
	from.Params.Add("tag", newTag())
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: u, Params: sip.NewParams()})
	cid := sip.CallIDHeader(newID())
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.PUBLISH})
	req.AppendHeader(sip.NewHeader("Event", rec.Event))
	exp := 0
	if !op.remove {
		exp = c.requested(op.expires, rec.Desired, op.minExpires)
	}
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(exp)))
	if rec.ETag != "" {
		req.AppendHeader(sip.NewHeader("SIP-If-Match", rec.ETag))
	}
	appendExtra(req, rec.ExtraHeaders)
	body := op.body
	if body == nil && rec.ETag == "" && !op.remove {
		// No entity-tag to refresh (after a 412): publish the cached body.
		body = rec.Body
	}
	if body != nil {
		ct := op.contentType
		if ct == "" {
			ct = rec.ContentType
		}
		req.AppendHeader(sip.NewHeader("Content-Type", ct))
		req.SetBody(body)
	}
	return req
}

func appendExtra(req *sip.Request, extra []string) {
	for _, h := range extra {
		name, value, ok := strings.Cut(h, ":")
		if ok {
			req.AppendHeader(sip.NewHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
		}
	}
}

// publishReply applies the final response (or failure) of a PUBLISH.
func (sh *pshard) publishReply(rec *pubRec, op *pubOp, res *sip.Response, err error) {
	c := sh.c
	rec.inflight = nil
	if rec.gone {
		return
	}
	r := resultOf(res, err)
	switch {
	case r.OK():
		rec.attempts = 0
		c.m.publishes.WithLabelValues("2xx").Inc()
		if op.remove {
			sh.dropPub(rec, false)
			finish(op, r)
			return
		}
		if etag := header(res, "SIP-ETag"); etag != "" {
			if rec.ETag != "" && rec.ETag != etag {
				rec.oldETags = append(rec.oldETags, rec.ETag)
				if len(rec.oldETags) > 4 {
					rec.oldETags = rec.oldETags[1:]
				}
			}
			rec.ETag = etag
		}
		granted := c.requested(op.expires, rec.Desired, op.minExpires)
		if v, err := strconv.Atoi(strings.TrimSpace(header(res, "Expires"))); err == nil && v >= 0 {
			granted = v
		}
		if granted == 0 {
			sh.dropPub(rec, true)
			finish(op, r)
			return
		}
		if op.body != nil {
			rec.Body, rec.ContentType = op.body, op.contentType
		}
		rec.Expires = time.Now().Add(time.Duration(granted) * time.Second)
		r.ETag, r.Expires = rec.ETag, granted
		sh.schedulePub(rec)
		c.save(&Batch{PutPublications: []*Publication{rec.record()}})
		finish(op, r)

	case r.Code == 412 && rec.ETag != "" && !op.remove && op.minExpires >= 0 && rec.attempts < 3:
		// The server lost our publication: publish the body again as a new
		// initial publication, at once.
		c.m.publishes.WithLabelValues("412").Inc()
		rec.ETag = ""
		rec.attempts++
		if op.body == nil {
			op.body, op.contentType = rec.Body, rec.ContentType
		}
		rec.queue = append([]*pubOp{op}, rec.queue...)

	case r.Code == 412 && op.remove:
		// Nothing left on the server to remove.
		sh.dropPub(rec, false)
		finish(op, r)
		return

	case r.Code == 423 && !op.remove && rec.attempts < 3:
		c.m.publishes.WithLabelValues("423").Inc()
		if v, err := strconv.Atoi(strings.TrimSpace(header(res, "Min-Expires"))); err == nil && v > 0 {
			op.minExpires = v
		}
		rec.attempts++
		rec.queue = append([]*pubOp{op}, rec.queue...)

	case retryable(r) && (!op.remove || rec.attempts < 5):
		c.m.publishes.WithLabelValues("retry").Inc()
		rec.attempts++
		if op.done != nil {
			// The owner hears the first outcome; the record retries on.
			finish(op, r)
			op.done = nil
		}
		rec.queue = append([]*pubOp{op}, rec.queue...)
		rec.timer.retry(time.Now().Add(c.retryDelay(rec.attempts, res)))
		return

	default:
		c.m.publishes.WithLabelValues("failed").Inc()
		c.log.Info("publication refused", "presentity", rec.Presentity, "event", rec.Event, "source", rec.Source, "code", r.Code, "reason", r.Reason)
		sh.dropPub(rec, false)
		finish(op, r)
		if op.internal && !op.remove {
			// A refresh the owner did not ask for: tell it the publication ended.
			if h := c.handler(rec.Source).PublicationEnded; h != nil {
				h(rec.Publication, r)
			}
		}
		return
	}
	sh.pumpPub(rec)
}

// retryable reports the failures that keep a record and retry: no
// response, a 408, or a 5xx.
func retryable(r Result) bool {
	return r.Code == 408 || r.Code == 0 || (r.Code >= 500 && r.Code < 600)
}

func finish(op *pubOp, r Result) {
	if op.done != nil {
		op.done(r)
	}
}

// dropPub removes a publication record; tell informs the owner.
func (sh *pshard) dropPub(rec *pubRec, tell bool) {
	if rec.gone {
		return
	}
	rec.gone = true
	delete(sh.pubs, rec.key)
	rec.timer.stop()
	sh.c.m.pubs.Dec()
	sh.c.save(&Batch{DeletePublications: []string{rec.ID}})
	for _, op := range rec.queue {
		finish(op, Result{Reason: "publication ended", Err: ErrNoRecord})
	}
	rec.queue = nil
	if tell {
		if h := sh.c.handler(rec.Source).PublicationEnded; h != nil {
			h(rec.Publication, Result{Code: 0, Reason: "publication ended"})
		}
	}
}

// schedulePub sets the record's timer: a refresh before the granted
// expiry, or the removal at the desired expiry when that comes first.
func (sh *pshard) schedulePub(rec *pubRec) {
	at := refreshAt(time.Now(), rec.Expires)
	if !rec.Desired.IsZero() && !rec.Desired.After(at) {
		at = rec.Desired
	}
	rec.timer.set(at)
}

// fire runs when the record's timer is due: a retry, a refresh, or the
// end of its desired lifetime.
func (rec *pubRec) fire(sh *pshard, now time.Time, retry bool) {
	if rec.gone {
		return
	}
	if retry {
		sh.pumpPub(rec)
		return
	}
	if rec.inflight != nil || len(rec.queue) > 0 {
		return // the reply reschedules
	}
	if !rec.Desired.IsZero() && !rec.Desired.After(now) {
		sh.enqueuePub(rec, &pubOp{remove: true, internal: true})
		return
	}
	sh.enqueuePub(rec, &pubOp{expires: rec.remaining(now), internal: true})
}

// remaining is the lifetime still wanted, Forever for "until removed".
func (rec *pubRec) remaining(now time.Time) int {
	if rec.Desired.IsZero() {
		return Forever
	}
	return max(1, int(rec.Desired.Sub(now)/time.Second))
}

func (rec *pubRec) record() *Publication {
	p := rec.Publication
	return &p
}

// resultOf turns a response or an error into a Result.
func resultOf(res *sip.Response, err error) Result {
	if err != nil {
		if errorsIsTimeout(err) {
			return Result{Code: 408, Reason: "Request Timeout (no response)", Err: err}
		}
		return Result{Code: 0, Reason: err.Error(), Err: err}
	}
	return Result{Code: res.StatusCode, Reason: res.Reason}
}

func errorsIsTimeout(err error) bool {
	return err == sipnet.ErrTimeout || strings.Contains(err.Error(), sipnet.ErrTimeout.Error())
}

type badURIError struct {
	what, value string
	err         error
}

func (e *badURIError) Error() string {
	return e.what + " " + strconv.Quote(e.value) + ": " + e.err.Error()
}
