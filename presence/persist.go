package presence

import (
	"context"
	"log/slog"

	"github.com/presenced/presenced/internal/commit"
)

// newCommitter builds the group-commit writer of the presence state: the
// batches waiting are coalesced (the last change of a key wins) into one
// store transaction.
func newCommitter(st Store, limit int, log *slog.Logger) *commit.Committer[*Batch] {
	return commit.New(func(ctx context.Context, bs []*Batch) error {
		var m merger
		for _, b := range bs {
			m.add(b)
		}
		b := m.batch()
		if b.Empty() {
			return nil
		}
		return st.WritePresence(ctx, b)
	}, limit, log)
}

// merger coalesces batches: for each key the last change wins.
type merger struct {
	pubs  map[string]*Publication // nil value: delete
	subs  map[string]*Subscription
	auths map[AuthorizationKey]*Authorization
	order struct {
		pubs  []string
		subs  []string
		auths []AuthorizationKey
	}
}

func (m *merger) rows() int { return len(m.pubs) + len(m.subs) + len(m.auths) }

func (m *merger) add(b *Batch) {
	if m.pubs == nil {
		m.pubs = map[string]*Publication{}
		m.subs = map[string]*Subscription{}
		m.auths = map[AuthorizationKey]*Authorization{}
	}
	setPub := func(id string, p *Publication) {
		if _, ok := m.pubs[id]; !ok {
			m.order.pubs = append(m.order.pubs, id)
		}
		m.pubs[id] = p
	}
	setSub := func(id string, s *Subscription) {
		if _, ok := m.subs[id]; !ok {
			m.order.subs = append(m.order.subs, id)
		}
		m.subs[id] = s
	}
	setAuth := func(k AuthorizationKey, a *Authorization) {
		if _, ok := m.auths[k]; !ok {
			m.order.auths = append(m.order.auths, k)
		}
		m.auths[k] = a
	}
	for _, p := range b.PutPublications {
		setPub(p.ID, p)
	}
	for _, k := range b.DeletePublications {
		setPub(k.ID, nil)
	}
	for _, s := range b.PutSubscriptions {
		setSub(s.ID, s)
	}
	for _, id := range b.DeleteSubscriptions {
		setSub(id, nil)
	}
	for _, a := range b.PutAuthorizations {
		setAuth(AuthorizationKey{a.Presentity, a.Watcher, a.Event}, a)
	}
	for _, k := range b.DeleteAuthorizations {
		setAuth(k, nil)
	}
}

func (m *merger) batch() *Batch {
	b := &Batch{}
	for _, id := range m.order.pubs {
		if p := m.pubs[id]; p != nil {
			b.PutPublications = append(b.PutPublications, p)
		} else {
			b.DeletePublications = append(b.DeletePublications, PublicationKey{id})
		}
	}
	for _, id := range m.order.subs {
		if s := m.subs[id]; s != nil {
			b.PutSubscriptions = append(b.PutSubscriptions, s)
		} else {
			b.DeleteSubscriptions = append(b.DeleteSubscriptions, id)
		}
	}
	for _, k := range m.order.auths {
		if a := m.auths[k]; a != nil {
			b.PutAuthorizations = append(b.PutAuthorizations, a)
		} else {
			b.DeleteAuthorizations = append(b.DeleteAuthorizations, k)
		}
	}
	return b
}
