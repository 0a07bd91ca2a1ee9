package dialoginfo

import "strconv"

// Priority ranks a dialog state for force_single_dialog: the higher, the
// more a watcher wants to see it. From low to high: terminated, trying,
// proceeding, confirmed, early (a ringing line beats a busy one). An
// unknown state ranks 0.
func Priority(state string) int {
	switch state {
	case Terminated:
		return 1
	case Trying:
		return 2
	case Proceeding:
		return 3
	case Confirmed:
		return 4
	case Early:
		return 5
	}
	return 0
}

// MostInteresting returns the index of the dialog with the highest
// Priority; among equals the last one wins (the newest, when dialogs are
// in publication order). It returns -1 for no dialogs.
func MostInteresting(ds []Dialog) int {
	best := -1
	for i := range ds {
		if best < 0 || Priority(ds[i].State) >= Priority(ds[best].State) {
			best = i
		}
	}
	return best
}

// Party is one side of a call as a BLF publisher describes it.
type Party struct {
	URI     string // identity, "sip:alice@example.com"
	Display string
	Target  string // remote target; empty means URI, as OpenSIPS does
}

// Publication describes the one dialog a BLF publisher (pua_dialoginfo)
// puts in a PUBLISH for one party of a call.
type Publication struct {
	Entity    string // the party published for (the presentity)
	ID        string // dialog id, see BranchID
	CallID    string // written when set (include_callid)
	LocalTag  string // written when set (include_tags)
	RemoteTag string
	Direction string // Initiator for the caller, Recipient for the callee
	State     string
	Event     string // optional state event, e.g. EventCancelled
	Code      int    // optional SIP status that caused State
	// Local and Remote are written when set (include_localremote).
	Local  *Party
	Remote *Party
}

// BranchID is the dialog id of one branch of a forked call: the Call-ID,
// a dot and the branch index in hex, so each branch is a dialog of its
// own and a cancelled branch does not hide the answered one.
func BranchID(callID string, branch int) string {
	return callID + "." + strconv.FormatInt(int64(branch), 16)
}

// Build returns the partial-state, version-less document of p: a
// publisher describes one of possibly several dialogs, the presence
// server versions and aggregates them.
func Build(p Publication) *Document {
	d := Dialog{
		ID:        p.ID,
		CallID:    p.CallID,
		LocalTag:  p.LocalTag,
		RemoteTag: p.RemoteTag,
		Direction: p.Direction,
		State:     p.State,
		Event:     p.Event,
		Code:      p.Code,
		Local:     participant(p.Local),
		Remote:    participant(p.Remote),
	}
	return &Document{State: Partial, Entity: p.Entity, Dialogs: []Dialog{d}}
}

func participant(p *Party) *Participant {
	if p == nil {
		return nil
	}
	t := p.Target
	if t == "" {
		t = p.URI
	}
	return &Participant{
		Identity: &NameAddr{URI: p.URI, Display: p.Display},
		Target:   &Target{URI: t},
	}
}
