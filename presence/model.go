package presence

import "time"

// Publication is one piece of event state published for a presentity
// (RFC 3903 section 2): what a PUBLISH created and its refreshes kept alive.
type Publication struct {
	ID          string    // stable identity of the publication; the ETag changes, the ID does not
	Presentity  string    // canonical AOR, "sip:alice@example.com"
	Event       string    // event package name, "presence", "dialog", "dialog;sla"
	ETag        string    // entity tag the publisher refreshes with
	Expires     time.Time // when it lapses unless refreshed
	Updated     time.Time // when its body was last set; merges order by it
	ContentType string
	Body        []byte
	Sender      string // for dialog;sla: the phone named in the sender header

	parsed parsedBody // what an event package made of Body (see Parsed); not stored
}

type parsedBody struct {
	body []byte // the Body it was made of
	v    any
}

// Parsed returns what parse makes of the publication's body, calling parse
// once per body: the result is kept with the publication (in memory only)
// and used again until Body is replaced by another slice. Event packages
// use it so that merging a presentity's publications on every change does
// not parse them all again. The result is shared: callers must not modify
// it. Like the rest of the publication, it belongs to the presentity's
// shard goroutine.
func (p *Publication) Parsed(parse func([]byte) (any, error)) (any, error) {
	c := &p.parsed
	if c.v != nil && len(c.body) == len(p.Body) && (len(p.Body) == 0 || &c.body[0] == &p.Body[0]) {
		return c.v, nil
	}
	v, err := parse(p.Body)
	if err != nil {
		return nil, err
	}
	p.parsed = parsedBody{body: p.Body, v: v}
	return v, nil
}

// stored is the publication as handed to the store: without its parsed
// body, which the store has no use for.
func (p Publication) stored() Publication {
	p.parsed = parsedBody{}
	return p
}

// Body is a NOTIFY body an event package built. Data nil means a NOTIFY
// without body. When VersionAt is not negative, the watcher's version number
// (decimal) is inserted at that byte offset of Data before sending, so one
// document serves every watcher (RFC 4235 and RFC 3858 version attributes).
type Body struct {
	Data      []byte
	VersionAt int
}

// NoBody is the Body of a NOTIFY without body.
var NoBody = Body{VersionAt: -1}

// Change describes what happened to one publication when watchers are told
// about it.
type Change struct {
	Pub     *Publication // the publication that was created, modified or removed
	Old     *Publication // for a modification: the publication before it; nil otherwise
	Removed bool         // true when it was removed (PUBLISH Expires 0) or expired
}

// EventPackage is a publication-based event package: presence, dialog,
// dialog;sla. Implementations are in presence/events; they must be safe for
// concurrent use (shards call them in parallel for different presentities)
// and must not keep or modify the publications they are given.
type EventPackage interface {
	// Name is the Event header token, e.g. "presence" or "dialog;sla".
	Name() string
	// ContentTypes lists the body types a PUBLISH may carry; the first is
	// the Content-Type of the NOTIFY bodies the package builds.
	ContentTypes() []string
	// Prepare checks a PUBLISH body and returns the body to store (it may
	// normalise it). An error means 400, its text is the reason given.
	Prepare(contentType string, body []byte) ([]byte, error)
	// Full builds the full-state document for a presentity from its live
	// publications, oldest first (by Updated). With no publication it
	// returns the package's idle document, or NoBody.
	Full(presentity string, pubs []*Publication) Body
	// Changed builds the NOTIFY body sent to watchers after ch. pubs are the
	// live publications after the change (a removed one is not among them).
	// ok false means the watchers get Full instead.
	Changed(presentity string, pubs []*Publication, ch Change) (b Body, ok bool)
}

// Watcher status values (RFC 3857 section 3.2, RFC 6665 Subscription-State).
const (
	StatusActive     = "active"
	StatusPending    = "pending"
	StatusWaiting    = "waiting"
	StatusTerminated = "terminated"
)

// WatcherState is one watcher of a presentity's event package as the
// watcherinfo package (RFC 3857/3858) reports it.
type WatcherState struct {
	ID                 string // stable id of the subscription
	URI                string // the watcher, e.g. "sip:bob@example.com"
	DisplayName        string
	Status             string // StatusActive, StatusPending, StatusWaiting, StatusTerminated
	Event              string // subscribe, approved, deactivated, probation, rejected, timeout, giveup, noresource
	DurationSubscribed int    // seconds since the subscription was created
	ExpiresIn          int    // seconds until it expires; 0 when terminated
}

// WatcherInfoPackage builds presence.winfo documents (RFC 3858).
type WatcherInfoPackage interface {
	// Name is the Event token, "presence.winfo".
	Name() string
	// ContentType is "application/watcherinfo+xml".
	ContentType() string
	// Full is the full-state document: every watcher of the presentity's
	// package watched (e.g. "presence").
	Full(presentity, watched string, ws []WatcherState) Body
	// Partial reports only the watchers that changed.
	Partial(presentity, watched string, ws []WatcherState) Body
}
