package presence

import (
	"context"
	"time"
)

// Subscription is the notifier's side of one subscription dialog
// (RFC 6665 section 4.2.2): everything needed to send the next NOTIFY,
// persisted so that a restart neither loses it nor reuses a CSeq.
type Subscription struct {
	ID           string // CallID + ";" + LocalTag + ";" + RemoteTag
	CallID       string
	LocalTag     string // our tag: the To tag of the SUBSCRIBE's 200
	RemoteTag    string // the watcher's tag: the From tag of the SUBSCRIBE
	LocalURI     string // To URI of the SUBSCRIBE (the presentity as addressed)
	RemoteURI    string // From URI of the SUBSCRIBE (the watcher's AOR)
	RemoteName   string // From display name
	Presentity   string // canonical AOR watched
	Event        string // package name, e.g. "presence", "presence.winfo"
	EventID      string // Event header id parameter, "" when absent
	RemoteTarget string // the watcher's Contact URI
	RouteSet     []string
	LocalCSeq    uint32 // CSeq of the last NOTIFY sent
	RemoteCSeq   uint32 // CSeq of the last SUBSCRIBE received
	Transport    string // "udp" or "tcp": how the SUBSCRIBE arrived
	Source       string // "ip:port" the SUBSCRIBE came from
	Created      time.Time
	Expires      time.Time
	Status       string // StatusActive, StatusPending, StatusTerminated
	Reason       string // reason when terminated or polite-blocked
	Version      uint32 // last document version sent (dialog, winfo)
}

// Authorization is the decision for one watcher of one presentity's event
// package: active (allowed), pending (waiting for a decision) or
// terminated (denied).
type Authorization struct {
	Presentity string
	Watcher    string
	Event      string
	Status     string
	Reason     string
	Updated    time.Time
}

// PublicationKey identifies a publication in the store.
type PublicationKey struct {
	ID string
}

// AuthorizationKey identifies an authorization decision in the store.
type AuthorizationKey struct {
	Presentity, Watcher, Event string
}

// State is everything the presence server keeps across restarts.
type State struct {
	Publications   []*Publication
	Subscriptions  []*Subscription
	Authorizations []*Authorization
}

// Batch is a set of changes written together, in one transaction. Within a
// batch every key appears at most once.
type Batch struct {
	PutPublications      []*Publication
	DeletePublications   []PublicationKey
	PutSubscriptions     []*Subscription
	DeleteSubscriptions  []string // Subscription.ID
	PutAuthorizations    []*Authorization
	DeleteAuthorizations []AuthorizationKey
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return len(b.PutPublications) == 0 && len(b.DeletePublications) == 0 &&
		len(b.PutSubscriptions) == 0 && len(b.DeleteSubscriptions) == 0 &&
		len(b.PutAuthorizations) == 0 && len(b.DeleteAuthorizations) == 0
}

// Store persists the presence server's state. The server calls
// WritePresence from one goroutine at a time, with batches it has already
// coalesced; it calls LoadPresence once at start.
type Store interface {
	LoadPresence(ctx context.Context) (*State, error)
	WritePresence(ctx context.Context, b *Batch) error
}
