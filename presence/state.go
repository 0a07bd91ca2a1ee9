package presence

import (
	"slices"
	"time"

	"github.com/presenced/presenced/internal/shard"
)

// presentity is the state of one presentity, owned by its shard.
type presentity struct {
	uri    string
	events []*eventState              // one per package in use, "presence.winfo" included (few: a slice)
	auth   map[authKey]*Authorization // decisions for confirm-policy watchers
}

type authKey struct{ watcher, event string }

// eventState is one event package of one presentity: its publications,
// oldest first by Updated, and its subscriptions.
type eventState struct {
	name string
	pkg  EventPackage // nil for presence.winfo
	pubs []*pubState
	subs subSet
}

// subSet is the subscriptions of one event package of one presentity, by
// ID. Most presentities have a single watcher per package, so one is held
// without a map (a map is a few hundred bytes even with one entry).
type subSet struct {
	one  *subState
	many map[string]*subState // once a second watcher came; then one is nil
}

func (s *subSet) get(id string) *subState {
	if s.many != nil {
		return s.many[id]
	}
	if s.one != nil && s.one.ID == id {
		return s.one
	}
	return nil
}

func (s *subSet) put(sub *subState) {
	if s.many == nil && (s.one == nil || s.one.ID == sub.ID) {
		s.one = sub
		return
	}
	if s.many == nil {
		s.many = map[string]*subState{s.one.ID: s.one}
		s.one = nil
	}
	s.many[sub.ID] = sub
}

func (s *subSet) del(id string) {
	if s.many != nil {
		delete(s.many, id)
	} else if s.one != nil && s.one.ID == id {
		s.one = nil
	}
}

func (s *subSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	if s.one != nil {
		return 1
	}
	return 0
}

// all ranges over the subscriptions; the body may delete any of them.
func (s *subSet) all(yield func(*subState) bool) {
	if s.many != nil {
		for _, sub := range s.many {
			if !yield(sub) {
				return
			}
		}
		return
	}
	if s.one != nil {
		yield(s.one)
	}
}

type pubState struct {
	Publication
	timer shard.Timer
}

// subState is a subscription and its NOTIFY queue. At most one NOTIFY is
// in flight per subscription; later ones wait in queue, so a watcher gets
// its NOTIFYs in order and a final "terminated" is always last.
type subState struct {
	Subscription
	timer    shard.Timer
	pres     *presentity
	queue    []pendingNotify
	inflight bool
	gone     bool // removed: no new NOTIFY is queued, the queue drains
	needFull bool // the next body must be full state (first NOTIFY, after restart or overflow)
	held     bool // NOTIFYs wait until the SUBSCRIBE's answer is sent

	// the CSeq and version in the last record handed to the store
	savedCSeq, savedVersion uint32
	created                 time.Time
}

// pendingNotify is a NOTIFY waiting to be sent.
type pendingNotify struct {
	body     Body
	full     bool   // build the full state when sending instead of body
	partial  bool   // body is a partial-state document
	terminal bool   // Subscription-State terminated
	reason   string // termination reason
}

func (sh *pshard) presentity(uri string, create bool) *presentity {
	p := sh.pres[uri]
	if p == nil && create {
		p = &presentity{uri: uri}
		sh.pres[uri] = p
	}
	return p
}

func (sh *pshard) eventState(p *presentity, name string, create bool) *eventState {
	es := p.event(name)
	if es == nil && create {
		es = &eventState{name: name, pkg: sh.srv.pkgs[name]}
		p.events = append(p.events, es)
	}
	return es
}

// event is the state of one event package, nil when not in use.
func (p *presentity) event(name string) *eventState {
	for _, es := range p.events {
		if es.name == name {
			return es
		}
	}
	return nil
}

// gc drops the presentity once nothing is left of it.
func (sh *pshard) gc(p *presentity) {
	p.events = slices.DeleteFunc(p.events, func(es *eventState) bool { return len(es.pubs) == 0 && es.subs.len() == 0 })
	if len(p.events) == 0 && len(p.auth) == 0 {
		delete(sh.pres, p.uri)
	}
}

// publications returns the live publications oldest first.
func (es *eventState) publications() []*Publication {
	out := make([]*Publication, len(es.pubs))
	for i, p := range es.pubs {
		out[i] = &p.Publication
	}
	return out
}

func (es *eventState) pubByETag(etag string) *pubState {
	for _, p := range es.pubs {
		if p.ETag == etag {
			return p
		}
	}
	return nil
}

func (es *eventState) removePub(ps *pubState) {
	if i := slices.Index(es.pubs, ps); i >= 0 {
		es.pubs = slices.Delete(es.pubs, i, i+1)
	}
}

// touchPub moves ps to the end (newest) after its body changed.
func (es *eventState) touchPub(ps *pubState) {
	es.removePub(ps)
	es.pubs = append(es.pubs, ps)
}

// restore distributes stored state over the shards before they start.
// Publications and subscriptions that lapsed while the server was down are
// dropped from the store.
func (s *Server) restore(st *State, now time.Time) *Batch {
	var drop, raised Batch
	for _, a := range st.Authorizations {
		sh := s.shardOf(a.Presentity)
		p := sh.presentity(a.Presentity, true)
		if p.auth == nil {
			p.auth = map[authKey]*Authorization{}
		}
		a := *a
		p.auth[authKey{a.Watcher, a.Event}] = &a
	}
	for _, pub := range st.Publications {
		if !pub.Expires.After(now) || s.pkgs[pub.Event] == nil {
			drop.DeletePublications = append(drop.DeletePublications, PublicationKey{pub.ID})
			continue
		}
		sh := s.shardOf(pub.Presentity)
		p := sh.presentity(pub.Presentity, true)
		es := sh.eventState(p, pub.Event, true)
		ps := &pubState{Publication: *pub}
		ps.timer.Fire = func(now time.Time) { sh.pubExpired(p, es, ps, now) }
		es.pubs = append(es.pubs, ps)
		sh.Schedule(&ps.timer, ps.Expires)
		s.m.publications.Inc()
	}
	for _, sh := range s.shards {
		for _, p := range sh.pres {
			for _, es := range p.events {
				slices.SortStableFunc(es.pubs, func(a, b *pubState) int { return a.Updated.Compare(b.Updated) })
			}
		}
	}
	for _, sub := range st.Subscriptions {
		if !sub.Expires.After(now) || (s.pkgs[sub.Event] == nil && !s.isWinfo(sub.Event)) {
			drop.DeleteSubscriptions = append(drop.DeleteSubscriptions, sub.ID)
			continue
		}
		sh := s.shardOf(sub.Presentity)
		p := sh.presentity(sub.Presentity, true)
		es := sh.eventState(p, sub.Event, true)
		ss := &subState{Subscription: *sub, pres: p, needFull: true, created: sub.Created}
		ss.RouteSet = slices.Clone(sub.RouteSet)
		ss.LocalCSeq += restartGap
		ss.Version += restartGap
		// The raised values are written before the server answers anything,
		// so a second crash cannot bring the old ones back.
		raised.PutSubscriptions = append(raised.PutSubscriptions, ss.record())
		ss.timer.Fire = func(now time.Time) { sh.subExpired(ss, now) }
		es.subs.put(ss)
		s.subs.Put(ss.ID, ss.Presentity)
		sh.Schedule(&ss.timer, ss.Expires)
		s.m.subscriptions.Inc()
	}
	if !drop.Empty() {
		s.commit.Submit(&drop, nil)
	}
	return &raised
}

func (s *Server) isWinfo(event string) bool {
	return s.winfo != nil && event == s.winfo.Name()
}
