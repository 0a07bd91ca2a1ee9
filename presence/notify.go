package presence

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// maxQueue bounds the NOTIFYs waiting for one subscription. Past it the
// queue collapses into one full-state NOTIFY (keeping a final one last),
// so a slow watcher costs bounded memory and still ends with the truth.
const maxQueue = 32

// queueNotify adds a NOTIFY to a subscription's queue and sends it if none
// is in flight.
func (sh *pshard) queueNotify(sub *subState, n pendingNotify) {
	if sub.gone && !n.terminal {
		return
	}
	if len(sub.queue) >= maxQueue {
		last := pendingNotify{full: true}
		for _, q := range sub.queue {
			if q.terminal {
				last = q
			}
		}
		if n.terminal {
			last = n
		}
		last.full, last.partial, last.body = true, false, Body{}
		sub.queue = append(sub.queue[:0], last)
	} else {
		sub.queue = append(sub.queue, n)
	}
	sh.sendNext(sub)
}

// sendNext sends the next queued NOTIFY unless one is in flight or the
// subscription is held.
func (sh *pshard) sendNext(sub *subState) {
	if sub.inflight || sub.held || len(sub.queue) == 0 {
		return
	}
	s := sh.srv
	n := sub.queue[0]
	sub.queue[0] = pendingNotify{}
	sub.queue = sub.queue[1:]
	if len(sub.queue) == 0 {
		sub.queue = nil
	}

	var body Body
	switch {
	case sub.Status == StatusPending || (n.terminal && n.reason == reasonRejected):
		body = NoBody // no state for a watcher not (or no longer) allowed
	case n.full || (n.partial && sub.needFull):
		body = sh.fullBody(sub)
		n.partial = false
	default:
		body = n.body
	}
	if body.Data != nil && body.VersionAt >= 0 {
		sub.Version++
	}
	if !n.partial && body.Data != nil {
		sub.needFull = false
	}
	sub.LocalCSeq++
	req, err := sh.buildNotify(sub, n, body)
	if err != nil {
		s.log.Warn("cannot build notify", "subscription", sub.ID, "err", err)
		s.m.notifyFailed.WithLabelValues("build").Inc()
		sh.dropSubQuietly(sub)
		return
	}
	sub.inflight = true
	terminal := n.terminal
	opts := sh.sendOptions(sub, req)
	// Encoding and writing go to the senders, so a fan-out to thousands of
	// watchers leaves the shard free for the presentity's next request;
	// one NOTIFY in flight per subscription keeps each watcher's in order.
	s.sendq <- func() {
		err := s.sip.Send(req, opts, func(res *sip.Response, err error) {
			sh.Do(func() { sh.notifyDone(sub, terminal, res, err) })
		})
		if err != nil {
			sh.Do(func() { sh.notifyDone(sub, terminal, nil, err) })
		}
	}
	if !sub.gone && (sub.LocalCSeq-sub.savedCSeq >= checkpoint || sub.Version-sub.savedVersion >= checkpoint) {
		// A checkpoint, written behind (see the package doc on restartGap):
		// fewer than checkpoint NOTIFYs are ever unaccounted for.
		s.commit.Submit(&Batch{PutSubscriptions: []*Subscription{sub.record()}}, nil)
	}
}

// notifyDone handles a NOTIFY's outcome on the shard goroutine (RFC 6665
// section 4.2.2): a 481 ends the subscription, a timeout or transport
// failure ends it when the config says so, other errors end it too,
// except 5xx (the watcher may recover).
func (sh *pshard) notifyDone(sub *subState, terminal bool, res *sip.Response, err error) {
	s := sh.srv
	sub.inflight = false
	switch {
	case err == nil && res.StatusCode < 300:
		s.m.notifySent.Inc()
	case errors.Is(err, sipnet.ErrStopped):
		// Our own shutdown, not the watcher's failure: keep it.
	case err != nil:
		outcome := "transport"
		if errors.Is(err, sipnet.ErrTimeout) {
			outcome = "timeout"
		}
		s.m.notifyFailed.WithLabelValues(outcome).Inc()
		if s.cfg.EndSubscriptionOnTimeout && !terminal {
			sh.dropSubQuietly(sub)
		}
	default:
		s.m.notifyFailed.WithLabelValues(strconv.Itoa(res.StatusCode)).Inc()
		code := res.StatusCode
		end := code == 481 || (code >= 400 && code < 500) || code >= 600
		if code == 408 {
			end = s.cfg.EndSubscriptionOnTimeout
		}
		if end && !terminal {
			sh.dropSubQuietly(sub)
		}
	}
	sh.sendNext(sub)
}

// dropSubQuietly ends a subscription the watcher no longer answers: no
// final NOTIFY, removed from the store.
func (sh *pshard) dropSubQuietly(sub *subState) {
	if sub.gone {
		sub.queue = nil
		return
	}
	sh.srv.commit.Submit(&Batch{DeleteSubscriptions: []string{sub.ID}}, nil)
	sh.dropSub(sub, false, reasonNoResource)
}

// fullBody builds the full-state document a subscription sees now.
func (sh *pshard) fullBody(sub *subState) Body {
	s := sh.srv
	p := sub.pres
	if s.isWinfo(sub.Event) {
		return s.winfo.Full(p.uri, "presence", sh.watcherStates(p, "presence"))
	}
	pkg := s.pkgs[sub.Event]
	if pkg == nil {
		return NoBody
	}
	if sub.Reason == reasonPoliteBlock {
		return pkg.Full(p.uri, nil)
	}
	var pubs []*Publication
	if es := p.event(sub.Event); es != nil {
		pubs = es.publications()
	}
	return pkg.Full(p.uri, pubs)
}

// notifyChange tells the active watchers of an event package that one
// publication changed, with the package's partial document when it has
// one, else the full state. The publishing phone itself is skipped when
// the publication names its sender (dialog;sla).
func (sh *pshard) notifyChange(p *presentity, es *eventState, ch Change) {
	if es.name == "dialog" && sh.srv.cfg.MixDialogPresence {
		sh.notifyMixed(p)
	}
	if es.subs.len() == 0 || es.pkg == nil {
		return
	}
	pubs := es.publications()
	body, partial := es.pkg.Changed(p.uri, pubs, ch)
	if !partial {
		body = es.pkg.Full(p.uri, pubs)
	}
	for sub := range es.subs.all {
		if sub.Status != StatusActive || sub.Reason == reasonPoliteBlock {
			continue
		}
		if ch.Pub.Sender != "" && sub.isSender(ch.Pub.Sender) {
			continue
		}
		sh.queueNotify(sub, pendingNotify{body: body, partial: partial})
	}
}

// isSender reports whether the watcher is the phone named in a
// publication's sender header: the same contact (user, host and port) as
// the watcher's Contact. Phones of one line share their AOR, so the
// contact is what tells them apart.
func (sub *subState) isSender(sender string) bool {
	want, err := sipaddr.Parse(sender)
	if err != nil {
		return false
	}
	got, err := sipaddr.Parse(sub.RemoteTarget)
	if err != nil {
		return false
	}
	port := func(p int) int {
		if p == 0 {
			return 5060
		}
		return p
	}
	return got.User == want.User && strings.EqualFold(got.Host, want.Host) && port(got.Port) == port(want.Port)
}

// watcherStates lists the watchers of a presentity's event package for
// watcherinfo.
func (sh *pshard) watcherStates(p *presentity, event string) []WatcherState {
	es := p.event(event)
	if es == nil {
		return nil
	}
	t := now()
	out := make([]WatcherState, 0, es.subs.len())
	for sub := range es.subs.all {
		ev := "subscribe"
		if sub.Status == StatusActive && sub.Reason == "" && !sub.Created.IsZero() {
			ev = "approved"
		}
		out = append(out, sub.watcherState(ev, t))
	}
	return out
}

func (sub *subState) watcherState(event string, t time.Time) WatcherState {
	w := WatcherState{
		ID:                 sub.LocalTag,
		URI:                sub.RemoteURI,
		DisplayName:        sub.RemoteName,
		Status:             sub.Status,
		Event:              event,
		DurationSubscribed: int(t.Sub(sub.Created) / time.Second),
	}
	if sub.Status != StatusTerminated {
		w.ExpiresIn = max(0, int(sub.Expires.Sub(t)/time.Second))
	}
	return w
}

// notifyWatcherInfo sends the presentity's presence.winfo subscribers a
// partial document about one watcher that appeared, changed or left.
func (sh *pshard) notifyWatcherInfo(p *presentity, sub *subState, event string) {
	s := sh.srv
	if s.winfo == nil || sub.Event != "presence" {
		return
	}
	es := p.event(s.winfo.Name())
	if es == nil || es.subs.len() == 0 {
		return
	}
	body := s.winfo.Partial(p.uri, sub.Event, []WatcherState{sub.watcherState(event, now())})
	for w := range es.subs.all {
		if w.Status != StatusActive {
			continue
		}
		sh.queueNotify(w, pendingNotify{body: body, partial: true})
	}
}

// sendOptions chooses how to reach a watcher. A watcher that subscribed
// over TCP with no route set and no transport in its Contact is reached
// over its own connection (the source address), as phones behind NAT
// expect; otherwise the Contact and route set decide.
func (sh *pshard) sendOptions(sub *subState, req *sip.Request) sipnet.SendOptions {
	var o sipnet.SendOptions
	// With no route set the Request-URI is the Contact.
	if sub.Transport == "tcp" && len(sub.RouteSet) == 0 {
		if _, ok := req.Recipient.UriParams.Get("transport"); !ok {
			o.Transport = "tcp"
			if ap, err := parseAddrPort(sub.Source); err == nil {
				o.Destination = ap
			}
		}
	}
	return o
}

// buildNotify builds the NOTIFY in the subscription dialog (RFC 6665
// 4.2.2, RFC 3261 12.2.1.1): remote target, route set, tags, our CSeq,
// Contact, Event, Subscription-State and the body.
func (sh *pshard) buildNotify(sub *subState, n pendingNotify, body Body) (*sip.Request, error) {
	s := sh.srv
	target, local, remote, err := sub.parseURIs()
	if err != nil {
		return nil, err
	}
	ruri := target
	routes := sub.RouteSet
	if len(routes) > 0 && !strings.Contains(routes[0], ";lr") {
		// Strict routing (RFC 3261 12.2.1.1): the first route becomes the
		// Request-URI and the remote target goes last.
		var first sip.Uri
		if u, err := sipaddr.Parse(routes[0]); err == nil {
			first = u
			ruri = first
			routes = append(append([]string(nil), routes[1:]...), "<"+target.String()+">")
		}
	}
	req := sip.NewRequest(sip.NOTIFY, ruri)
	for _, r := range routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	from := &sip.FromHeader{Address: local, Params: sip.NewParams()}
	from.Params.Add("tag", sub.LocalTag)
	to := &sip.ToHeader{DisplayName: sub.RemoteName, Address: remote, Params: sip.NewParams()}
	to.Params.Add("tag", sub.RemoteTag)
	callID := sip.CallIDHeader(sub.CallID)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: sub.LocalCSeq, MethodName: sip.NOTIFY})
	req.AppendHeader(&sip.ContactHeader{Address: s.sip.ContactURI(sub.Transport, s.cfg.ContactUser)})
	req.AppendHeader(sip.NewHeader("Event", formatEvent(sub.Event, sub.EventID)))
	req.AppendHeader(sip.NewHeader("Subscription-State", sub.subscriptionState(n)))
	if body.Data != nil {
		data := body.Data
		if body.VersionAt >= 0 && body.VersionAt <= len(data) {
			v := strconv.FormatUint(uint64(sub.Version), 10)
			d := make([]byte, 0, len(data)+len(v))
			d = append(d, data[:body.VersionAt]...)
			d = append(d, v...)
			d = append(d, data[body.VersionAt:]...)
			data = d
		}
		req.AppendHeader(sip.NewHeader("Content-Type", s.contentTypeOf(sub.Event)))
		req.SetBody(data)
	} else {
		req.SetBody(nil)
	}
	return req, nil
}

// subscriptionState is the Subscription-State value of the next NOTIFY.
func (sub *subState) subscriptionState(n pendingNotify) string {
	if n.terminal || sub.Status == StatusTerminated {
		reason := n.reason
		if reason == "" {
			reason = sub.Reason
		}
		if reason == "" || reason == reasonPoliteBlock {
			reason = reasonTimeout
		}
		return "terminated;reason=" + reason
	}
	left := int((time.Until(sub.Expires) + time.Second - 1) / time.Second)
	return sub.Status + ";expires=" + strconv.Itoa(max(left, 0))
}

// parseURIs parses the stored URIs the NOTIFY needs. They are parsed
// for each NOTIFY rather than kept: parsed, they would triple the memory
// of a subscription at rest, which is what most subscriptions are.
func (sub *subState) parseURIs() (target, local, remote sip.Uri, err error) {
	if target, err = sipaddr.Parse(sub.RemoteTarget); err != nil {
		return target, local, remote, errors.New("remote target " + strconv.Quote(sub.RemoteTarget) + ": " + err.Error())
	}
	if local, err = sipaddr.Parse(sub.LocalURI); err != nil {
		return target, local, remote, errors.New("local uri " + strconv.Quote(sub.LocalURI) + ": " + err.Error())
	}
	if remote, err = sipaddr.Parse(sub.RemoteURI); err != nil {
		return target, local, remote, errors.New("remote uri " + strconv.Quote(sub.RemoteURI) + ": " + err.Error())
	}
	return target, local, remote, nil
}

// notifyMixed tells the presentity's presence watchers that the state
// derived from its dialogs may have changed (mix_dialog_presence).
func (sh *pshard) notifyMixed(p *presentity) {
	es := p.event("presence")
	if es == nil || es.pkg == nil || es.subs.len() == 0 {
		return
	}
	body := es.pkg.Full(p.uri, es.publications())
	for sub := range es.subs.all {
		if sub.Status != StatusActive || sub.Reason == reasonPoliteBlock {
			continue
		}
		sh.queueNotify(sub, pendingNotify{body: body})
	}
}
