package watcherinfo

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/xmlr"
)

// Limits applied to every document Parse reads.
const (
	MaxSize     = 1 << 20 // bytes
	MaxDepth    = 32      // element nesting
	MaxElements = 20000   // elements in one document
)

// Parse reads a watcherinfo document. Any prefix style is accepted, and a
// root without namespace is taken as watcherinfo. Statuses are checked
// and returned in lower case; unknown elements and attributes are
// skipped.
func Parse(data []byte) (*Document, error) {
	doc, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("watcherinfo: %w", err)
	}
	return doc, nil
}

func parse(data []byte) (*Document, error) {
	r, err := xmlr.NewReader(data, xmlr.Limits{Size: MaxSize, Depth: MaxDepth, Elements: MaxElements})
	if err != nil {
		return nil, err
	}
	root, err := r.Root()
	if err != nil {
		return nil, err
	}
	n := root.Name
	if n.Local != "watcherinfo" {
		return nil, fmt.Errorf("root element is <%s>, want watcherinfo in %s", n.Local, Namespace)
	}
	if n.Space != Namespace && n.Space != "" {
		return nil, fmt.Errorf("root element is <watcherinfo> in namespace %q, want watcherinfo in %s", n.Space, Namespace)
	}
	p := parser{r: r, ns: n.Space}
	doc, err := p.document(root)
	if err != nil {
		return nil, err
	}
	if err := r.Trailer(); err != nil {
		return nil, err
	}
	return doc, nil
}

type parser struct {
	r  *xmlr.Reader
	ns string // the namespace of the root: Namespace or ""
}

// children calls f for each child element of the element just opened in
// the watcherinfo namespace and skips the others; f must consume the
// child up to its end.
func (p *parser) children(f func(xml.StartElement) error) error {
	return p.r.Children(func(s xml.StartElement) error {
		if s.Name.Space != p.ns {
			return p.r.Skip()
		}
		return f(s)
	})
}

func (p *parser) document(root xml.StartElement) (*Document, error) {
	doc := &Document{}
	for _, a := range root.Attr {
		switch a.Name {
		case xml.Name{Local: "version"}:
			v, err := strconv.ParseUint(strings.TrimSpace(a.Value), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("version %q: not a 32-bit unsigned number", a.Value)
			}
			doc.Version, doc.HasVersion = uint32(v), true
		case xml.Name{Local: "state"}:
			switch s := strings.ToLower(strings.TrimSpace(a.Value)); s {
			case Full, Partial:
				doc.State = s
			default:
				return nil, fmt.Errorf("state %q: want full or partial", a.Value)
			}
		}
	}
	err := p.children(func(s xml.StartElement) error {
		if s.Name.Local != "watcher-list" {
			return p.r.Skip()
		}
		var l WatcherList
		for _, a := range s.Attr {
			switch a.Name {
			case xml.Name{Local: "resource"}:
				l.Resource = strings.TrimSpace(a.Value)
			case xml.Name{Local: "package"}:
				l.Package = strings.TrimSpace(a.Value)
			}
		}
		err := p.children(func(s xml.StartElement) error {
			if s.Name.Local != "watcher" {
				return p.r.Skip()
			}
			w, err := p.watcher(s)
			l.Watchers = append(l.Watchers, w)
			return err
		})
		doc.Lists = append(doc.Lists, l)
		if err != nil {
			return fmt.Errorf("watcher-list %q: %w", l.Resource, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return doc, nil
}

func (p *parser) watcher(s xml.StartElement) (Watcher, error) {
	var w Watcher
	for _, a := range s.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "id":
			w.ID = a.Value
		case "status":
			w.Status = strings.ToLower(strings.TrimSpace(a.Value))
		case "event":
			w.Event = strings.ToLower(strings.TrimSpace(a.Value))
		case "display-name":
			w.DisplayName = a.Value
		case "duration-subscribed", "expiration":
			v, err := strconv.ParseUint(strings.TrimSpace(a.Value), 10, 32)
			if err != nil {
				return w, fmt.Errorf("watcher %q: %s %q: not a number", w.ID, a.Name.Local, a.Value)
			}
			if a.Name.Local == "expiration" {
				w.Expiration, w.HasExpiration = uint32(v), true
			} else {
				w.DurationSubscribed, w.HasDurationSubscribed = uint32(v), true
			}
		}
	}
	switch w.Status {
	case StatusPending, StatusActive, StatusWaiting, StatusTerminated:
	default:
		return w, fmt.Errorf("watcher %q: status %q: want pending, active, waiting or terminated", w.ID, w.Status)
	}
	uri, err := p.r.Text()
	w.URI = strings.TrimSpace(uri)
	return w, err
}
