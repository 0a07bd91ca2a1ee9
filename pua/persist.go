package pua

import (
	"time"

	"github.com/presenced/presenced/internal/commit"
)

// save queues b for the store (write-behind).
func (c *Client) save(b *Batch) { c.commit.Submit(b, nil) }

// mergeBatches coalesces batches: for each record the last change wins.
func mergeBatches(bs []*Batch) *Batch {
	var pubs commit.Latest[string, Publication]
	var subs commit.Latest[string, Subscription]
	for _, b := range bs {
		for _, p := range b.PutPublications {
			pubs.Put(p.ID, p)
		}
		for _, id := range b.DeletePublications {
			pubs.Delete(id)
		}
		for _, s := range b.PutSubscriptions {
			subs.Put(s.ID, s)
		}
		for _, id := range b.DeleteSubscriptions {
			subs.Delete(id)
		}
	}
	out := &Batch{}
	out.PutPublications, out.DeletePublications = pubs.Split()
	out.PutSubscriptions, out.DeleteSubscriptions = subs.Split()
	return out
}

// restore puts the stored records back in their shards and schedules
// them: due ones at once (a refresh of a lapsed publication gets 412 and
// is re-published; a lapsed dialog gets 481 and is re-created).
func (c *Client) restore(pubs []*Publication, subs []*Subscription) {
	now := time.Now()
	for _, p := range pubs {
		sh := c.shardOf(p.Presentity)
		p := *p
		sh.Do(func() {
			rec := &pubRec{Publication: p, key: pubKey{p.Presentity, p.Event, p.Source, p.OwnerID}}
			rec.timer.init(sh, rec.fire)
			if old := sh.pubs[rec.key]; old != nil {
				return
			}
			sh.pubs[rec.key] = rec
			c.m.pubs.Inc()
			at := now
			if rec.Expires.After(now) {
				at = refreshAt(now, rec.Expires)
			}
			if !rec.Desired.IsZero() && rec.Desired.Before(at) {
				at = rec.Desired
			}
			rec.timer.set(at)
		})
	}
	for _, s := range subs {
		sh := c.shardOf(s.Presentity)
		s := *s
		sh.Do(func() {
			rec := &subRec{Subscription: s, key: subKey{s.Presentity, s.Watcher, s.Event, s.Source, s.OwnerID}}
			rec.timer.init(sh, rec.fire)
			if old := sh.subs[rec.key]; old != nil {
				return
			}
			sh.subs[rec.key] = rec
			sh.subByID[rec.ID] = rec
			c.dialogs.Put(rec.CallID+";"+rec.LocalTag, dialogRef{rec.Presentity, rec.ID})
			c.m.subs.Inc()
			at := now
			if rec.Expires.After(now) {
				at = refreshAt(now, rec.Expires)
			}
			if !rec.Desired.IsZero() && rec.Desired.Before(at) {
				at = rec.Desired
			}
			rec.timer.set(at)
		})
	}
}
