// Package dialoginfo reads and writes application/dialog-info+xml bodies
// (RFC 4235, the dialog event package), including the dialog;sla bodies of
// bridged line appearances (draft-anil-sipping-bla-03), whose extension
// elements (sa:exclusive ...) are kept as they came.
//
// Parse reads any prefix style and refuses hostile input (DOCTYPE,
// entities, deep nesting, too many elements). Write produces the usual
// form, dialog-info as the default namespace, optionally with an empty
// version attribute whose offset is returned so that a presence server can
// insert a per-watcher version. The package has no daemon imports.
package dialoginfo

// Namespace is the dialog-info XML namespace.
const Namespace = "urn:ietf:params:xml:ns:dialog-info"

// SANamespace is the namespace of the shared-appearance extension elements
// BLA phones put in dialog;sla bodies; Write gives it the prefix "sa",
// which some phones match literally.
const SANamespace = "urn:ietf:params:xml:ns:sa-dialog-info"

// ContentType is the MIME type of dialog-info documents.
const ContentType = "application/dialog-info+xml"

// Document states (the state attribute of dialog-info).
const (
	Full    = "full"
	Partial = "partial"
)

// Dialog states (RFC 4235 section 3.7.1).
const (
	Trying     = "trying"
	Proceeding = "proceeding"
	Early      = "early"
	Confirmed  = "confirmed"
	Terminated = "terminated"
)

// Dialog directions.
const (
	Initiator = "initiator"
	Recipient = "recipient"
)

// State events: why a dialog reached its state (the event attribute of
// state, RFC 4235 section 4.1.2).
const (
	EventCancelled = "cancelled"
	EventRejected  = "rejected"
	EventReplaced  = "replaced"
	EventLocalBye  = "local-bye"
	EventRemoteBye = "remote-bye"
	EventError     = "error"
	EventTimeout   = "timeout"
)

// Document is a dialog-info document: the dialogs of one entity.
type Document struct {
	Version    uint32
	HasVersion bool   // the version attribute was present
	State      string // Full or Partial; empty when the document had none
	Entity     string // the URI whose dialogs these are
	Dialogs    []Dialog
	// Extensions are children of dialog-info other than dialog.
	Extensions []Element
}

// Dialog is one dialog element.
type Dialog struct {
	ID        string // unique within the document; required
	CallID    string
	LocalTag  string
	RemoteTag string
	Direction string // Initiator, Recipient or empty

	State string // Trying, Proceeding, Early, Confirmed or Terminated
	Event string // the state's event attribute (EventCancelled ...), or empty
	Code  int    // the state's code attribute (a SIP status), 0 when absent

	Duration    int  // seconds the dialog has lasted
	HasDuration bool // the duration element was present

	Replaces   *Replaces
	ReferredBy *NameAddr
	RouteSet   []string // hop URIs in order
	Local      *Participant
	Remote     *Participant

	// Leading are extension elements that came before the RFC 4235
	// children (BLA phones put sa:exclusive first); Write keeps them
	// there. Extensions are the others, written last.
	Leading    []Element
	Extensions []Element
}

// NameAddr is a URI with an optional display name (identity, referred-by).
type NameAddr struct {
	URI     string
	Display string
}

// Replaces identifies the dialog this one replaced (RFC 3891).
type Replaces struct {
	CallID    string
	LocalTag  string
	RemoteTag string
}

// Participant is the local or remote side of a dialog.
type Participant struct {
	Identity           *NameAddr
	Target             *Target
	SessionDescription *SessionDescription
	CSeq               uint32
	HasCSeq            bool // the cseq element was present
	Extensions         []Element
}

// Target is the participant's contact (remote target) with its feature
// parameters (RFC 3840).
type Target struct {
	URI    string
	Params []Param
}

// Param is one param element of a target (pname, pval).
type Param struct {
	Name  string
	Value string
}

// SessionDescription is a session-description element: the body (for
// example SDP) and its MIME type.
type SessionDescription struct {
	Type string
	Body string
}

// Element is an element this package does not model, kept so that it can
// be written back: sa:exclusive and friends from BLA phones, vendor
// extensions. Its text is the concatenation of its character data; text
// that is only white space between child elements is dropped.
type Element struct {
	Space    string // namespace URI
	Local    string
	Prefix   string // prefix in the source document, a hint for Write
	Attrs    []Attr
	Text     string
	Children []Element
}

// Attr is an attribute of an Element.
type Attr struct {
	Space string // namespace URI, empty for a plain attribute
	Local string
	Value string
}
