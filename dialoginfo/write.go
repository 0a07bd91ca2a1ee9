package dialoginfo

import (
	"strconv"

	"github.com/presenced/presenced/internal/xmlw"
)

// Write serialises doc with dialog-info as the default namespace and the
// namespaces of its extension elements declared on the root, each with
// the prefix it had where possible ("sa" for SANamespace).
//
// With versionPlaceholder the version attribute is written empty and
// versionAt is the offset in data where the decimal version is to be
// inserted; otherwise versionAt is -1 and version is written when
// doc.HasVersion. The state attribute is written when doc.State is set.
func Write(doc *Document, versionPlaceholder bool) (data []byte, versionAt int) {
	var w xmlw.Writer
	pf := collectPrefixes(doc)
	w.Header()
	w.Start("dialog-info")
	w.Attr("xmlns", Namespace)
	for _, b := range pf {
		w.Attr("xmlns:"+b.prefix, b.uri)
	}
	versionAt = -1
	switch {
	case versionPlaceholder:
		versionAt = w.AttrPlaceholder("version")
	case doc.HasVersion:
		w.AttrUint("version", uint64(doc.Version))
	}
	if doc.State != "" {
		w.Attr("state", doc.State)
	}
	if doc.Entity != "" {
		w.Attr("entity", doc.Entity)
	}
	for i := range doc.Dialogs {
		w.Raw(newline)
		writeDialog(&w, &doc.Dialogs[i], pf)
	}
	for i := range doc.Extensions {
		w.Raw(newline)
		writeElement(&w, &doc.Extensions[i], pf, Namespace)
	}
	if len(doc.Dialogs)+len(doc.Extensions) > 0 {
		w.Raw(newline)
	}
	w.End("dialog-info")
	w.Raw(newline)
	return w.Document(), versionAt
}

var newline = []byte{'\n'}

func writeDialog(w *xmlw.Writer, d *Dialog, pf prefixes) {
	w.Start("dialog")
	w.Attr("id", d.ID)
	if d.CallID != "" {
		w.Attr("call-id", d.CallID)
	}
	if d.LocalTag != "" {
		w.Attr("local-tag", d.LocalTag)
	}
	if d.RemoteTag != "" {
		w.Attr("remote-tag", d.RemoteTag)
	}
	if d.Direction != "" {
		w.Attr("direction", d.Direction)
	}
	for i := range d.Leading {
		writeElement(w, &d.Leading[i], pf, Namespace)
	}
	w.Start("state")
	if d.Event != "" {
		w.Attr("event", d.Event)
	}
	if d.Code != 0 {
		w.Attr("code", strconv.Itoa(d.Code))
	}
	w.Text(d.State)
	w.End("state")
	if d.HasDuration {
		w.Element("duration", strconv.Itoa(d.Duration))
	}
	if r := d.Replaces; r != nil {
		w.Start("replaces")
		w.Attr("call-id", r.CallID)
		w.Attr("local-tag", r.LocalTag)
		w.Attr("remote-tag", r.RemoteTag)
		w.End("replaces")
	}
	if d.ReferredBy != nil {
		writeNameAddr(w, "referred-by", d.ReferredBy)
	}
	if len(d.RouteSet) > 0 {
		w.Start("route-set")
		for _, h := range d.RouteSet {
			w.Element("hop", h)
		}
		w.End("route-set")
	}
	if d.Local != nil {
		writeParticipant(w, "local", d.Local, pf)
	}
	if d.Remote != nil {
		writeParticipant(w, "remote", d.Remote, pf)
	}
	for i := range d.Extensions {
		writeElement(w, &d.Extensions[i], pf, Namespace)
	}
	w.End("dialog")
}

func writeNameAddr(w *xmlw.Writer, name string, na *NameAddr) {
	w.Start(name)
	if na.Display != "" {
		w.Attr("display", na.Display)
	}
	if na.URI != "" {
		w.Text(na.URI)
	}
	w.End(name)
}

func writeParticipant(w *xmlw.Writer, name string, p *Participant, pf prefixes) {
	w.Start(name)
	if p.Identity != nil {
		writeNameAddr(w, "identity", p.Identity)
	}
	if t := p.Target; t != nil {
		w.Start("target")
		w.Attr("uri", t.URI)
		for _, prm := range t.Params {
			w.Start("param")
			w.Attr("pname", prm.Name)
			w.Attr("pval", prm.Value)
			w.End("param")
		}
		w.End("target")
	}
	if sd := p.SessionDescription; sd != nil {
		w.Start("session-description")
		if sd.Type != "" {
			w.Attr("type", sd.Type)
		}
		w.Text(sd.Body)
		w.End("session-description")
	}
	if p.HasCSeq {
		w.Element("cseq", strconv.FormatUint(uint64(p.CSeq), 10))
	}
	for i := range p.Extensions {
		writeElement(w, &p.Extensions[i], pf, Namespace)
	}
	w.End(name)
}

// writeElement writes an extension element; def is the default namespace
// in scope. Elements of the default namespace, or of none, are written
// without prefix, redeclaring the default namespace when it changes.
func writeElement(w *xmlw.Writer, e *Element, pf prefixes, def string) {
	name := e.Local
	redeclare := false
	if e.Space == Namespace || e.Space == "" {
		redeclare = e.Space != def
		def = e.Space
	} else {
		name = pf.lookup(e.Space) + ":" + e.Local
	}
	w.Start(name)
	if redeclare {
		w.Attr("xmlns", def)
	}
	for _, a := range e.Attrs {
		switch a.Space {
		case "":
			w.Attr(a.Local, a.Value)
		case xmlNamespace:
			w.Attr("xml:"+a.Local, a.Value)
		default:
			w.Attr(pf.lookup(a.Space)+":"+a.Local, a.Value)
		}
	}
	if e.Text != "" {
		w.Text(e.Text)
	}
	for i := range e.Children {
		writeElement(w, &e.Children[i], pf, def)
	}
	w.End(name)
}

// binding is a namespace declared on the root.
type binding struct {
	prefix string
	uri    string
}

type prefixes []binding

func (pf prefixes) lookup(uri string) string {
	for _, b := range pf {
		if b.uri == uri {
			return b.prefix
		}
	}
	return "" // not reached: collectPrefixes saw every namespace
}

func (pf prefixes) taken(prefix string) bool {
	for _, b := range pf {
		if b.prefix == prefix {
			return true
		}
	}
	return false
}

// collectPrefixes chooses a prefix for every namespace the extension
// elements of doc use: the source prefix if free, "sa" for SANamespace,
// else ns1, ns2 ...
func collectPrefixes(doc *Document) prefixes {
	var pf prefixes
	add := func(uri, hint string, attr bool) {
		if uri == "" || uri == xmlNamespace || (uri == Namespace && !attr) {
			return
		}
		if pf.lookup(uri) != "" {
			return
		}
		if uri == SANamespace && !pf.taken("sa") {
			hint = "sa"
		}
		if hint == "" || hint == "xml" || hint == "xmlns" || pf.taken(hint) {
			for n := len(pf) + 1; ; n++ {
				hint = "ns" + strconv.Itoa(n)
				if !pf.taken(hint) {
					break
				}
			}
		}
		pf = append(pf, binding{hint, uri})
	}
	var walk func(es []Element)
	walk = func(es []Element) {
		for i := range es {
			e := &es[i]
			add(e.Space, e.Prefix, false)
			for _, a := range e.Attrs {
				add(a.Space, "", true)
			}
			walk(e.Children)
		}
	}
	walk(doc.Extensions)
	for i := range doc.Dialogs {
		d := &doc.Dialogs[i]
		walk(d.Leading)
		walk(d.Extensions)
		if d.Local != nil {
			walk(d.Local.Extensions)
		}
		if d.Remote != nil {
			walk(d.Remote.Extensions)
		}
	}
	return pf
}
