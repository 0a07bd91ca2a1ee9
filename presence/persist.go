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
	pubs  commit.Latest[string, Publication]
	subs  commit.Latest[string, Subscription]
	auths commit.Latest[AuthorizationKey, Authorization]
}

func (m *merger) add(b *Batch) {
	for _, p := range b.PutPublications {
		m.pubs.Put(p.ID, p)
	}
	for _, k := range b.DeletePublications {
		m.pubs.Delete(k.ID)
	}
	for _, s := range b.PutSubscriptions {
		m.subs.Put(s.ID, s)
	}
	for _, id := range b.DeleteSubscriptions {
		m.subs.Delete(id)
	}
	for _, a := range b.PutAuthorizations {
		m.auths.Put(AuthorizationKey{a.Presentity, a.Watcher, a.Event}, a)
	}
	for _, k := range b.DeleteAuthorizations {
		m.auths.Delete(k)
	}
}

func (m *merger) batch() *Batch {
	b := &Batch{}
	var pubIDs []string
	b.PutPublications, pubIDs = m.pubs.Split()
	for _, id := range pubIDs {
		b.DeletePublications = append(b.DeletePublications, PublicationKey{id})
	}
	b.PutSubscriptions, b.DeleteSubscriptions = m.subs.Split()
	b.PutAuthorizations, b.DeleteAuthorizations = m.auths.Split()
	return b
}
