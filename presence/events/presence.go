package events

import (
	"fmt"
	"mime"
	"slices"
	"strings"

	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/presence"
)

// PresenceOptions configures the presence event package (RFC 3856, PIDF
// bodies).
type PresenceOptions struct {
	// OfflineBody sends the watchers of a presentity with no publication a
	// generated PIDF document with basic closed (pidf.Closed) instead of a
	// NOTIFY without body (OpenSIPS generate_offline_body).
	OfflineBody bool
	// DialogState, when set, mixes the presentity's calls into its
	// presence (OpenSIPS mix_dialog_presence, reference section 7.6). It
	// returns PresenceDialogConfirmed while a call is up,
	// PresenceDialogEarly while one is being set up ("trying" and
	// "proceeding" count as early), "" otherwise. Full calls it once per
	// document, from several goroutines at once.
	DialogState func(presentity string) (state string)
}

// Dialog states PresenceOptions.DialogState reports.
const (
	PresenceDialogEarly     = "early"
	PresenceDialogConfirmed = "confirmed"
)

// Ids and notes of the document mixed in from dialog state, as OpenSIPS
// names them.
const (
	presenceMixTupleID  = "tuple_mixingid"
	presenceMixPersonID = "pers_mixingid"
	presenceNoteCall    = "On the phone"
	presenceNoteRinging = "Proceeding"
)

// presencePkg is the presence event package. It keeps no state: every call
// parses the publications it is given.
type presencePkg struct {
	opts PresenceOptions
}

var _ presence.EventPackage = (*presencePkg)(nil)

// NewPresence returns the presence event package: it checks PIDF
// publications and merges those of a presentity into the document its
// watchers get (pidf.Merge: newest publication first, newest wins per
// tuple, person and device id).
func NewPresence(opts PresenceOptions) presence.EventPackage {
	return &presencePkg{opts: opts}
}

func (p *presencePkg) Name() string { return "presence" }

func (p *presencePkg) ContentTypes() []string { return []string{pidf.ContentType} }

// Prepare checks that body is a PIDF document within the codec's limits;
// the error, from pidf.Parse, says what is wrong. The body is stored as
// published.
func (p *presencePkg) Prepare(contentType string, body []byte) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.EqualFold(mt, pidf.ContentType) {
		return nil, fmt.Errorf("content type %q: want %s", contentType, pidf.ContentType)
	}
	if _, err := pidf.Parse(body); err != nil {
		return nil, err
	}
	return body, nil
}

// Full merges all publications into one document whose entity is the
// presentity; a body that no longer parses is left out. When DialogState
// reports a call, a generated tuple and person (rpid:on-the-phone) are
// merged in as the newest publication. With nothing to merge, the result
// is the offline document with OfflineBody, else no body.
func (p *presencePkg) Full(presentity string, pubs []*presence.Publication) presence.Body {
	docs := make([]*pidf.Document, 0, len(pubs)+1)
	for _, pub := range presenceOldestFirst(pubs) {
		if d, err := pidf.Parse(pub.Body); err == nil {
			docs = append(docs, d)
		}
	}
	if p.opts.DialogState != nil {
		if d := presenceFromDialog(p.opts.DialogState(presentity)); d != nil {
			docs = append(docs, d)
		}
	}
	if len(docs) == 0 {
		if p.opts.OfflineBody {
			return presence.Body{Data: pidf.Closed(presentity), VersionAt: -1}
		}
		return presence.NoBody
	}
	return presence.Body{Data: pidf.Merge(presentity, docs), VersionAt: -1}
}

// Changed always defers to Full: presence watchers get full state
// (RFC 3856 has no partial PIDF; RFC 5263 is not supported).
func (p *presencePkg) Changed(string, []*presence.Publication, presence.Change) (presence.Body, bool) {
	return presence.NoBody, false
}

// presenceOldestFirst returns pubs ordered by Updated, oldest first. The
// presence core gives them in that order; a copy is sorted otherwise, the
// given slice is never reordered.
func presenceOldestFirst(pubs []*presence.Publication) []*presence.Publication {
	byUpdated := func(a, b *presence.Publication) int { return a.Updated.Compare(b.Updated) }
	if slices.IsSortedFunc(pubs, byUpdated) {
		return pubs
	}
	sorted := slices.Clone(pubs)
	slices.SortStableFunc(sorted, byUpdated)
	return sorted
}

// presenceFromDialog builds the document mix_dialog_presence adds for a
// call: an open tuple, a root note, and a person on the phone.
func presenceFromDialog(state string) *pidf.Document {
	var note string
	switch state {
	case PresenceDialogConfirmed:
		note = presenceNoteCall
	case PresenceDialogEarly, "trying", "proceeding":
		note = presenceNoteRinging
	default:
		return nil
	}
	notes := []pidf.Note{{Text: note}}
	return &pidf.Document{
		Tuples: []pidf.Tuple{{ID: presenceMixTupleID, Basic: pidf.BasicOpen}},
		Notes:  notes,
		Persons: []pidf.Person{{
			ID:         presenceMixPersonID,
			Activities: []string{pidf.ActivityOnThePhone},
			Notes:      notes,
		}},
	}
}
