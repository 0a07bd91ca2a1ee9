package events

import (
	"fmt"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/presence"
)

// SLAOptions configures the dialog;sla event package
// (draft-anil-sipping-bla-03, bridged line appearance).
type SLAOptions struct {
	// FixRemoteTarget replaces each dialog's <remote><target uri> with
	// the remote identity, so that a phone picking up a held call on the
	// shared line goes through the proxy instead of to the far end's
	// contact, which Polycom phones put there (OpenSIPS
	// bla_fix_remote_target).
	FixRemoteTarget bool
}

// slaPkg is the dialog;sla event package: pua_bla publishes each phone's
// dialog NOTIFY body for the shared line, the package merges them for the
// other phones. The presence core leaves out the phone that published.
type slaPkg struct {
	opts SLAOptions
}

var _ presence.EventPackage = (*slaPkg)(nil)

// NewSLA returns the dialog;sla event package.
func NewSLA(opts SLAOptions) presence.EventPackage {
	return &slaPkg{opts: opts}
}

func (p *slaPkg) Name() string { return "dialog;sla" }

func (p *slaPkg) ContentTypes() []string { return []string{dialoginfo.ContentType} }

// Prepare checks that body is a dialog-info document holding only dialog
// elements (as pua_bla does on the NOTIFY it publishes) and, with
// FixRemoteTarget, rewrites the remote targets. Extension elements (sa:
// and others) are kept.
func (p *slaPkg) Prepare(contentType string, body []byte) ([]byte, error) {
	if err := dialogCheckType(contentType); err != nil {
		return nil, err
	}
	doc, err := dialoginfo.Parse(body)
	if err != nil {
		return nil, err
	}
	if len(doc.Extensions) > 0 {
		e := doc.Extensions[0]
		return nil, fmt.Errorf("dialog;sla: dialog-info holds <%s>, want only dialog elements", e.Local)
	}
	if !p.opts.FixRemoteTarget || !slaFixRemoteTargets(doc) {
		return body, nil
	}
	data, _ := dialoginfo.Write(doc, false)
	return data, nil
}

// slaFixRemoteTargets sets every remote target URI to the remote
// identity URI and reports whether anything changed.
func slaFixRemoteTargets(doc *dialoginfo.Document) bool {
	changed := false
	for i := range doc.Dialogs {
		r := doc.Dialogs[i].Remote
		if r == nil || r.Target == nil || r.Identity == nil || r.Identity.URI == "" {
			continue
		}
		if r.Target.URI != r.Identity.URI {
			r.Target.URI = r.Identity.URI
			changed = true
		}
	}
	return changed
}

// Full merges the dialogs of all the line's publications, the newest
// winning for a dialog id. With none, the line is idle: an empty
// full-state document.
func (p *slaPkg) Full(presentity string, pubs []*presence.Publication) presence.Body {
	return dialogBody(presentity, dialoginfo.Full, dialogMerge(pubs))
}

// Changed is as for the dialog package: a phone's partial document, or
// its dialogs as terminated when its publication was removed or expired
// (OpenSIPS generate_offline_body). Phones publish full-state documents,
// which may have dropped dialogs, so a modification gets the full state.
func (p *slaPkg) Changed(presentity string, pubs []*presence.Publication, ch presence.Change) (presence.Body, bool) {
	return dialogChanged(presentity, pubs, ch)
}
