package events

import (
	"fmt"
	"mime"
	"strings"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/presence"
)

// DialogOptions configures the dialog event package (RFC 4235).
type DialogOptions struct {
	// ForceSingleDialog puts only the most interesting dialog in a
	// NOTIFY (dialoginfo.MostInteresting) and always sends full state,
	// for phones that cannot take several dialogs (OpenSIPS
	// force_single_dialog).
	ForceSingleDialog bool
	// DummyDialog sends one idle (terminated) dialog instead of an empty
	// dialog-info document, for phones that need at least one dialog
	// (Kamailio force_dummy_dialog: Yealink, Bria, Astra).
	DummyDialog bool
}

// dummyDialogID is the id of the idle dialog DummyDialog sends.
const dummyDialogID = "idle"

// dialogPkg is the dialog event package. It keeps no state: every call
// parses the publications it is given.
type dialogPkg struct {
	opts DialogOptions
}

var _ presence.EventPackage = (*dialogPkg)(nil)

// NewDialog returns the dialog event package: it aggregates the
// dialog-info publications of a presentity (one per call branch from a
// BLF publisher, or whole documents from phones) into one document.
func NewDialog(opts DialogOptions) presence.EventPackage {
	return &dialogPkg{opts: opts}
}

func (p *dialogPkg) Name() string { return "dialog" }

func (p *dialogPkg) ContentTypes() []string { return []string{dialoginfo.ContentType} }

// Prepare checks that body is a dialog-info document and stores it as
// published.
func (p *dialogPkg) Prepare(contentType string, body []byte) ([]byte, error) {
	if err := dialogCheckType(contentType); err != nil {
		return nil, err
	}
	if _, err := dialoginfo.Parse(body); err != nil {
		return nil, err
	}
	return body, nil
}

// Full merges the dialogs of all publications, the newest publication
// winning for a dialog id; branches of a forked call have ids of their
// own and are all kept.
func (p *dialogPkg) Full(presentity string, pubs []*presence.Publication) presence.Body {
	ds := dialogMerge(pubs)
	if p.opts.ForceSingleDialog && len(ds) > 1 {
		i := dialoginfo.MostInteresting(ds)
		ds = ds[i : i+1]
	}
	if len(ds) == 0 && p.opts.DummyDialog {
		ds = []dialoginfo.Dialog{{ID: dummyDialogID, Direction: dialoginfo.Recipient, State: dialoginfo.Terminated}}
	}
	return dialogBody(presentity, dialoginfo.Full, ds)
}

// Changed returns the partial document of one publication: its dialogs,
// or when it was removed the same dialogs as terminated. Watchers get the
// full state instead when ForceSingleDialog is set, and when a partial
// document could not express the change: a publication whose own
// document is full state may have dropped dialogs since its previous
// version, which only full state removes.
func (p *dialogPkg) Changed(presentity string, pubs []*presence.Publication, ch presence.Change) (presence.Body, bool) {
	if p.opts.ForceSingleDialog {
		return presence.NoBody, false
	}
	return dialogChanged(presentity, pubs, ch)
}

// dialogChanged builds the partial document for ch, shared by dialog and
// dialog;sla.
func dialogChanged(presentity string, pubs []*presence.Publication, ch presence.Change) (presence.Body, bool) {
	if ch.Pub == nil {
		return presence.NoBody, false
	}
	doc, err := parsedDialogs(ch.Pub)
	if err != nil {
		return presence.NoBody, false
	}
	if !ch.Removed {
		if doc.State == dialoginfo.Partial {
			if len(doc.Dialogs) == 0 {
				return presence.NoBody, false
			}
			return dialogBody(presentity, dialoginfo.Partial, dialogDedup(doc.Dialogs)), true
		}
		// A full-state body replaced an older one: its dialogs, plus the
		// dialogs of the old body it no longer holds, as terminated (unless
		// another live publication still holds them).
		if ch.Old == nil {
			if len(doc.Dialogs) == 0 {
				return presence.NoBody, false
			}
			return dialogBody(presentity, dialoginfo.Partial, dialogDedup(doc.Dialogs)), true
		}
		old, err := parsedDialogs(ch.Old)
		if err != nil {
			return presence.NoBody, false
		}
		ds := dialogDedup(doc.Dialogs)
		live := dialogMerge(pubs)
		for _, od := range dialogDedup(old.Dialogs) {
			if dialogIndex(ds, od.ID) >= 0 {
				continue
			}
			if j := dialogIndex(live, od.ID); j >= 0 {
				ds = append(ds, live[j])
				continue
			}
			if od.State != dialoginfo.Terminated {
				od.State = dialoginfo.Terminated
				od.Event, od.Code = "", 0
			}
			ds = append(ds, od)
		}
		if len(ds) == 0 {
			return presence.NoBody, false
		}
		return dialogBody(presentity, dialoginfo.Partial, ds), true
	}
	if len(doc.Dialogs) == 0 {
		return presence.NoBody, false
	}
	// Removed: its dialogs end, unless a live publication still holds
	// the same dialog id, whose state then stands.
	live := dialogMerge(pubs)
	ds := dialogDedup(doc.Dialogs)
	for i := range ds {
		if j := dialogIndex(live, ds[i].ID); j >= 0 {
			ds[i] = live[j]
			continue
		}
		if ds[i].State != dialoginfo.Terminated {
			ds[i].State = dialoginfo.Terminated
			ds[i].Event, ds[i].Code = "", 0
		}
	}
	return dialogBody(presentity, dialoginfo.Partial, ds), true
}

// dialogMerge returns the dialogs of pubs (oldest first), one per id: the
// one from the newest publication, and within a document the last. The
// result is in order of the publications. Bodies that do not parse (they
// passed Prepare, so only a changed parser could reject them) are
// skipped.
func dialogMerge(pubs []*presence.Publication) []dialoginfo.Dialog {
	var out []dialoginfo.Dialog
	var seen map[string]struct{}
	for i := len(pubs) - 1; i >= 0; i-- {
		doc, err := parsedDialogs(pubs[i])
		if err != nil {
			continue
		}
		for j := len(doc.Dialogs) - 1; j >= 0; j-- {
			d := &doc.Dialogs[j]
			if seen == nil {
				seen = make(map[string]struct{})
			}
			if _, dup := seen[d.ID]; dup {
				continue
			}
			seen[d.ID] = struct{}{}
			out = append(out, *d)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// parsedDialogs is the publication's dialog-info document, parsed once per
// body (presence.Publication.Parsed); callers copy what they change.
func parsedDialogs(p *presence.Publication) (*dialoginfo.Document, error) {
	v, err := p.Parsed(parseDialogInfo)
	if err != nil {
		return nil, err
	}
	return v.(*dialoginfo.Document), nil
}

func parseDialogInfo(b []byte) (any, error) { return dialoginfo.Parse(b) }

// dialogDedup keeps the last dialog of each id, in document order.
func dialogDedup(ds []dialoginfo.Dialog) []dialoginfo.Dialog {
	out := make([]dialoginfo.Dialog, 0, len(ds))
	for i := range ds {
		if k := dialogIndex(ds[i+1:], ds[i].ID); k < 0 {
			out = append(out, ds[i])
		}
	}
	return out
}

func dialogIndex(ds []dialoginfo.Dialog, id string) int {
	for i := range ds {
		if ds[i].ID == id {
			return i
		}
	}
	return -1
}

// dialogBody writes the document of presentity with a version
// placeholder.
func dialogBody(presentity, state string, ds []dialoginfo.Dialog) presence.Body {
	doc := dialoginfo.Document{State: state, Entity: presentity, Dialogs: ds}
	data, at := dialoginfo.Write(&doc, true)
	return presence.Body{Data: data, VersionAt: at}
}

// dialogCheckType accepts application/dialog-info+xml with or without
// parameters, in any case.
func dialogCheckType(contentType string) error {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || !strings.EqualFold(mt, dialoginfo.ContentType) {
		return fmt.Errorf("content type %q: want %s", contentType, dialoginfo.ContentType)
	}
	return nil
}
