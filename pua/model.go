package pua

import (
	"context"
	"errors"
	"time"
)

// Source names the module that owns a record, so several modules can
// publish for the same presentity and event without clobbering each other.
type Source string

// The sources of the pua modules.
const (
	SourceUsrloc     Source = "usrloc"
	SourceMI         Source = "mi"
	SourceXMPP       Source = "xmpp"
	SourceBLA        Source = "bla"
	SourceDialogInfo Source = "dialoginfo"
)

// Forever, as an Expires, keeps a record refreshed until it is removed.
const Forever = -1

// Publication is an outgoing publication (RFC 3903 section 4): what was
// published, under which entity-tag, until when.
type Publication struct {
	ID           string // stable record id
	Presentity   string // Request-URI, From and To of the PUBLISH
	Event        string
	Source       Source
	OwnerID      string // id the owner chose to tell its publications apart
	ETag         string // entity-tag of the last 2xx; "" before the first
	ContentType  string
	Body         []byte    // the last body sent: re-published after a 412
	ExtraHeaders []string  // "Name: value", repeated on every request
	Expires      time.Time // granted by the presence server
	Desired      time.Time // until when the owner wants it; zero: until removed
}

// Subscription is an outgoing subscription (RFC 6665 section 4.1) and its
// dialog.
type Subscription struct {
	ID           string
	Presentity   string // Request-URI of the initial SUBSCRIBE
	To           string // To URI; the presentity when empty
	Watcher      string // From URI
	Event        string
	Source       Source
	OwnerID      string
	Contact      string // our Contact
	Destination  string // "ip:port" requests go to instead of the presence server or remote target; "" for none
	CallID       string
	LocalTag     string
	RemoteTag    string
	RouteSet     []string
	RemoteTarget string
	LocalCSeq    uint32
	RemoteCSeq   uint32
	ExtraHeaders []string
	Expires      time.Time // granted
	Desired      time.Time // zero: until removed
	State        string    // pending, active, terminated ("" before the first answer)
	Reason       string    // termination reason
	// The last NOTIFY received.
	NotifyAt          time.Time
	NotifyContentType string
	NotifyBody        []byte
}

// Batch is a set of changes written together, in one transaction.
type Batch struct {
	PutPublications     []*Publication
	DeletePublications  []string // Publication.ID
	PutSubscriptions    []*Subscription
	DeleteSubscriptions []string // Subscription.ID
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool {
	return len(b.PutPublications) == 0 && len(b.DeletePublications) == 0 &&
		len(b.PutSubscriptions) == 0 && len(b.DeleteSubscriptions) == 0
}

// Store persists the pua records. WritePUA is called from one goroutine at
// a time with batches already coalesced; LoadPUA once at start.
type Store interface {
	LoadPUA(ctx context.Context) ([]*Publication, []*Subscription, error)
	WritePUA(ctx context.Context, b *Batch) error
}

// Result is the outcome of a publish or subscribe request: the final SIP
// response, or why there was none.
type Result struct {
	Code    int    // final status; 408 for a local timeout; 0 when nothing was sent
	Reason  string // reason phrase, or the local error
	ETag    string `json:",omitempty"` // the entity-tag now held (publications)
	Expires int    // seconds granted
	Err     error  `json:"-"`
}

// OK reports a 2xx.
func (r Result) OK() bool { return r.Code >= 200 && r.Code < 300 }

// Errors of requests that send nothing.
var (
	ErrNoRecord     = errors.New("no such record")
	ErrNoBody       = errors.New("an initial publication needs a body")
	ErrUnknownEvent = errors.New("unknown event package")
	ErrStopped      = errors.New("pua stopped")
)
