package watcherinfo

import "github.com/presenced/presenced/internal/xmlw"

// Write serialises doc with watcherinfo as the default namespace.
//
// With versionPlaceholder the version attribute is written empty and
// versionAt is the offset in data where the decimal version is to be
// inserted; otherwise versionAt is -1 and version is written when
// doc.HasVersion. The state attribute is written when doc.State is set.
func Write(doc *Document, versionPlaceholder bool) (data []byte, versionAt int) {
	var w xmlw.Writer
	w.Header()
	w.Start("watcherinfo")
	w.Attr("xmlns", Namespace)
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
	for i := range doc.Lists {
		l := &doc.Lists[i]
		w.Raw(newline)
		w.Start("watcher-list")
		w.Attr("resource", l.Resource)
		w.Attr("package", l.Package)
		for j := range l.Watchers {
			w.Raw(newline)
			writeWatcher(&w, &l.Watchers[j])
		}
		if len(l.Watchers) > 0 {
			w.Raw(newline)
		}
		w.End("watcher-list")
	}
	if len(doc.Lists) > 0 {
		w.Raw(newline)
	}
	w.End("watcherinfo")
	w.Raw(newline)
	return w.Document(), versionAt
}

var newline = []byte{'\n'}

func writeWatcher(w *xmlw.Writer, wt *Watcher) {
	w.Start("watcher")
	w.Attr("id", wt.ID)
	w.Attr("status", wt.Status)
	w.Attr("event", wt.Event)
	if wt.DisplayName != "" {
		w.Attr("display-name", wt.DisplayName)
	}
	if wt.HasDurationSubscribed {
		w.AttrUint("duration-subscribed", uint64(wt.DurationSubscribed))
	}
	if wt.HasExpiration {
		w.AttrUint("expiration", uint64(wt.Expiration))
	}
	w.Text(wt.URI)
	w.End("watcher")
}
