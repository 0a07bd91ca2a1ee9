package pidf

import "strings"

// Default ids of the documents built here.
const (
	DefaultTupleID  = "tuple"
	DefaultPersonID = "person"
	OfflineTupleID  = "offline"
)

// Basic returns the simplest document: one tuple with basic open or closed
// and, when note is not empty, a root note (the note watchers and the XMPP
// gateway read first). This is what pua_usrloc publishes for a registered
// contact. An empty tupleID is DefaultTupleID; a publisher should keep one
// stable id per publication.
func Basic(open bool, entity, tupleID, note string) []byte {
	if tupleID == "" {
		tupleID = DefaultTupleID
	}
	d := Document{Entity: entity, Tuples: []Tuple{{ID: tupleID, Basic: basicOf(open)}}}
	if note != "" {
		d.Notes = []Note{{Text: note}}
	}
	return Marshal(&d)
}

// Closed returns the offline document of a presentity with no publication
// left: one tuple, id OfflineTupleID, basic closed.
func Closed(entity string) []byte {
	return Basic(false, entity, OfflineTupleID, "")
}

// RichStatus is the presence of a user as an XMPP client states it:
// available or not, what they are doing, a note.
type RichStatus struct {
	Entity     string
	TupleID    string   // default DefaultTupleID
	PersonID   string   // default DefaultPersonID
	Open       bool     // basic open; false for XMPP "unavailable"
	Activities []string // RPID activity names, e.g. ActivityAway, ActivityBusy
	Note       string
}

// Rich returns an RPID document: a tuple with basic open or closed, the
// note at the root, and when there are activities a dm:person with
// rpid:activities and the note again as dm:note (clients read one or the
// other).
func Rich(s RichStatus) []byte {
	if s.TupleID == "" {
		s.TupleID = DefaultTupleID
	}
	if s.PersonID == "" {
		s.PersonID = DefaultPersonID
	}
	d := Document{Entity: s.Entity, Tuples: []Tuple{{ID: s.TupleID, Basic: basicOf(s.Open)}}}
	var note []Note
	if s.Note != "" {
		note = []Note{{Text: s.Note}}
		d.Notes = note
	}
	if len(s.Activities) > 0 {
		d.Persons = []Person{{ID: s.PersonID, Activities: s.Activities, Notes: note}}
	}
	return Marshal(&d)
}

// Summary reduces a document to what the XMPP gateway maps: open is true
// when any tuple is open; activities are the persons' RPID activities, each
// once, in document order; note is the first non-empty note, looked for at
// the root, then in persons, then in tuples, with surrounding space
// trimmed.
func Summary(d *Document) (open bool, activities []string, note string) {
	for i := range d.Tuples {
		if d.Tuples[i].Basic == BasicOpen {
			open = true
			break
		}
	}
	for i := range d.Persons {
		for _, a := range d.Persons[i].Activities {
			if !contains(activities, a) {
				activities = append(activities, a)
			}
		}
	}
	note = firstNote(d.Notes)
	for i := 0; note == "" && i < len(d.Persons); i++ {
		note = firstNote(d.Persons[i].Notes)
	}
	for i := 0; note == "" && i < len(d.Tuples); i++ {
		note = firstNote(d.Tuples[i].Notes)
	}
	return open, activities, note
}

func firstNote(notes []Note) string {
	for _, n := range notes {
		if t := strings.TrimSpace(n.Text); t != "" {
			return t
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func basicOf(open bool) string {
	if open {
		return BasicOpen
	}
	return BasicClosed
}
