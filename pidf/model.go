package pidf

// Namespaces.
const (
	NS          = "urn:ietf:params:xml:ns:pidf"            // RFC 3863, the default namespace
	NSDataModel = "urn:ietf:params:xml:ns:pidf:data-model" // RFC 4479, prefix dm
	NSRPID      = "urn:ietf:params:xml:ns:pidf:rpid"       // RFC 4480, prefix rpid
	NSCIPID     = "urn:ietf:params:xml:ns:pidf:cipid"      // RFC 4482, prefix c
)

// ContentType is the media type of PIDF documents.
const ContentType = "application/pidf+xml"

// Basic status values (RFC 3863 section 4.1.4).
const (
	BasicOpen   = "open"
	BasicClosed = "closed"
)

// A few RPID activities (RFC 4480 section 3.2); any name of that section
// is valid in Person.Activities.
const (
	ActivityAway       = "away"
	ActivityBusy       = "busy"
	ActivityMeal       = "meal"
	ActivityMeeting    = "meeting"
	ActivityOnThePhone = "on-the-phone"
	ActivityVacation   = "vacation"
)

// Document is a PIDF document.
type Document struct {
	Entity  string // the presentity, "sip:alice@example.com" or "pres:..."
	Tuples  []Tuple
	Persons []Person
	Devices []Device
	Notes   []Note    // <note> children of the root
	Others  []Element // other top-level elements, in document order
}

// Tuple is a PIDF <tuple> (a service in RFC 4479 terms).
type Tuple struct {
	ID        string
	Basic     string // BasicOpen, BasicClosed, or "" when <status> has no <basic>
	Contact   string
	Priority  string // priority attribute of <contact>, a decimal in [0,1], "" if absent
	Notes     []Note
	Timestamp string // as written, RFC 3339

	StatusExtra []Element // children of <status> other than <basic>
	Extra       []Element // extension children of <tuple> (dm:deviceID, rpid:class, caps ...)
}

// Person is an RFC 4479 <dm:person>.
type Person struct {
	ID string
	// Activities and Mood are the names of the RPID elements inside
	// <rpid:activities> and <rpid:mood> ("away", "on-the-phone", "happy").
	// When parsed, those elements stay in Extra as read and these fields
	// are a view; when Extra has no such element, Marshal writes one from
	// the field.
	Activities []string
	Mood       []string
	Notes      []Note // <dm:note>
	Timestamp  string // <dm:timestamp>
	Extra      []Element
}

// Device is an RFC 4479 <dm:device>.
type Device struct {
	ID        string
	DeviceID  string // <dm:deviceID>, a URN
	Notes     []Note
	Timestamp string
	Extra     []Element
}

// Note is a human readable note and its language (xml:lang, may be "").
type Note struct {
	Lang string
	Text string
}

// Element is an element kept as XML. XML is a well-formed fragment in
// which the default namespace is pidf and the prefixes dm, rpid and c are
// bound to NSDataModel, NSRPID and NSCIPID; any other namespace is declared
// inside the fragment. Space and Local name its root element.
type Element struct {
	Space string
	Local string
	XML   []byte
}
