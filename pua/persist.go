package pua

import "time"

// save queues b for the store (write-behind).
func (c *Client) save(b *Batch) { c.commit.Submit(b, nil) }

// mergeBatches coalesces batches: for each record the last change wins.
func mergeBatches(bs []*Batch) *Batch {
	pubs := map[string]*Publication{}
	subs := map[string]*Subscription{}
	var pubOrder, subOrder []string
	for _, b := range bs {
		for _, p := range b.PutPublications {
			if _, ok := pubs[p.ID]; !ok {
				pubOrder = append(pubOrder, p.ID)
			}
			pubs[p.ID] = p
		}
		for _, id := range b.DeletePublications {
			if _, ok := pubs[id]; !ok {
				pubOrder = append(pubOrder, id)
			}
			pubs[id] = nil
		}
		for _, s := range b.PutSubscriptions {
			if _, ok := subs[s.ID]; !ok {
				subOrder = append(subOrder, s.ID)
			}
			subs[s.ID] = s
		}
		for _, id := range b.DeleteSubscriptions {
			if _, ok := subs[id]; !ok {
				subOrder = append(subOrder, id)
			}
			subs[id] = nil
		}
	}
	out := &Batch{}
	for _, id := range pubOrder {
		if p := pubs[id]; p != nil {
			out.PutPublications = append(out.PutPublications, p)
		} else {
			out.DeletePublications = append(out.DeletePublications, id)
		}
	}
	for _, id := range subOrder {
		if s := subs[id]; s != nil {
			out.PutSubscriptions = append(out.PutSubscriptions, s)
		} else {
			out.DeleteSubscriptions = append(out.DeleteSubscriptions, id)
		}
	}
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
