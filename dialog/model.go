package dialog

import "time"

// State is the state of one branch of an INVITE dialog, as RFC 4235
// names them.
type State string

// The states, in the order a branch can go through them.
const (
	Trying     State = "trying"     // INVITE forwarded on the branch; nothing or a 100 back
	Proceeding State = "proceeding" // a 101-179 provisional
	Early      State = "early"      // a 180-199 provisional (ringing)
	Confirmed  State = "confirmed"  // a 2xx
	Terminated State = "terminated" // failed, cancelled, ended by BYE or by its lifetime
)

// Reasons a branch ended (RFC 4235 section 4.1.2 event attribute values,
// plus our own for lifetimes and errors).
const (
	ReasonCancelled = "cancelled" // CANCELled before an answer
	ReasonRejected  = "rejected"  // a final error response
	ReasonReplaced  = "replaced"  // another branch answered
	ReasonLocalBye  = "local-bye" // BYE from the caller
	ReasonRemoteBye = "remote-bye"
	ReasonTimeout   = "timeout" // no answer in time, or the maximum lifetime passed
	ReasonError     = "error"   // transport failure
)

// Party is one side of a call.
type Party struct {
	URI     string // identity: the From URI for the caller, the callee's AOR (To display name, Request-URI before lookup) for the callee
	Display string
	Target  string // contact: the INVITE's Contact for the caller, the branch's Contact (or its target) for the callee
}

// Dialog is one branch of an INVITE through the proxy: a forked call has
// one per branch, each with its own ID, so a cancelled branch never hides
// the answered one.
type Dialog struct {
	ID        string // Call-ID + "." + branch index in hex
	CallID    string
	Branch    int
	CallerTag string // From tag
	CalleeTag string // To tag of this branch's responses, "" before one
	Caller    Party
	Callee    Party
	State     State
	Reason    string // why it terminated
	Code      int    // final status of a failed branch
	Created   time.Time
	Confirmed time.Time // zero until confirmed
	Expires   time.Time // end of its maximum lifetime
}

// EventKind says what an event reports.
type EventKind int

// The kinds of events.
const (
	// StateChanged: the branch moved to Dialog.State (from Prev).
	StateChanged EventKind = iota + 1
	// Refreshed: a re-INVITE (or UPDATE) within a confirmed dialog was
	// answered 2xx; the state stays confirmed.
	Refreshed
)

// Event is a change of one branch. Events of one call are delivered in
// order, on one goroutine; a Terminated is the last event of its branch.
type Event struct {
	Kind   EventKind
	Dialog Dialog
	Prev   State
}

// Tracker is the part of dialog tracking other modules subscribe to.
type Tracker interface {
	// Subscribe registers f for every event; call it before Start. f
	// runs on the tracker's goroutines and must not block.
	Subscribe(f func(Event))
}
