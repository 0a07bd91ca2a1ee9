// Package watcherinfo reads and writes application/watcherinfo+xml
// bodies (RFC 3858), the documents of the watcher information template
// package (RFC 3857, e.g. presence.winfo): who watches a resource and in
// which state their subscriptions are.
//
// Parse reads any prefix style and refuses hostile input (DOCTYPE,
// entities, deep nesting, too many elements). Write produces watcherinfo
// as the default namespace, optionally with an empty version attribute
// whose offset is returned so that a presence server can insert a
// per-watcher version. The package has no daemon imports.
package watcherinfo

// Namespace is the watcherinfo XML namespace.
const Namespace = "urn:ietf:params:xml:ns:watcherinfo"

// ContentType is the MIME type of watcherinfo documents.
const ContentType = "application/watcherinfo+xml"

// Document states.
const (
	Full    = "full"
	Partial = "partial"
)

// Watcher status values (RFC 3857 section 3.2).
const (
	StatusPending    = "pending"
	StatusActive     = "active"
	StatusWaiting    = "waiting"
	StatusTerminated = "terminated"
)

// Watcher events: what last changed the subscription's status (RFC 3857
// section 3.3).
const (
	EventSubscribe   = "subscribe"
	EventApproved    = "approved"
	EventDeactivated = "deactivated"
	EventProbation   = "probation"
	EventRejected    = "rejected"
	EventTimeout     = "timeout"
	EventGiveup      = "giveup"
	EventNoresource  = "noresource"
)

// Document is a watcherinfo document.
type Document struct {
	Version    uint32
	HasVersion bool   // the version attribute was present
	State      string // Full or Partial; empty when the document had none
	Lists      []WatcherList
}

// WatcherList holds the watchers of one resource's event package.
type WatcherList struct {
	Resource string // the watched URI, "sip:alice@example.com"
	Package  string // the watched event package, "presence"
	Watchers []Watcher
}

// Watcher is one subscription to the resource.
type Watcher struct {
	ID     string // stable identifier of the subscription
	Status string // StatusPending, StatusActive, StatusWaiting, StatusTerminated
	Event  string // EventSubscribe ...
	// DisplayName is the watcher's display name, if known.
	DisplayName string
	// DurationSubscribed is the number of seconds the subscription has
	// existed, when HasDurationSubscribed.
	DurationSubscribed    uint32
	HasDurationSubscribed bool
	// Expiration is the number of seconds until the subscription expires,
	// when HasExpiration.
	Expiration    uint32
	HasExpiration bool
	URI           string // the watcher
}
