package dialoginfo

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/xmlr"
)

// Limits applied to every document Parse reads.
const (
	MaxSize     = 1 << 20 // bytes
	MaxDepth    = 32      // element nesting
	MaxElements = 10000   // elements in one document
)

// Parse reads a dialog-info document. Any prefix style is accepted, and a
// root without namespace is taken as dialog-info (some phones omit it).
// Dialog states and directions are checked and returned in lower case;
// elements of other namespaces are kept as Element values, unknown
// attributes of the RFC 4235 elements are dropped.
func Parse(data []byte) (*Document, error) {
	doc, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("dialoginfo: %w", err)
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
	if root.Name.Local != "dialog-info" || (root.Name.Space != Namespace && root.Name.Space != "") {
		return nil, rootError(root.Name)
	}
	p := parser{r: r, ns: root.Name.Space}
	doc, err := p.document(root)
	if err != nil {
		return nil, err
	}
	if err := r.Trailer(); err != nil {
		return nil, err
	}
	return doc, nil
}

func rootError(n xml.Name) error {
	if n.Local == "dialog-info" {
		return fmt.Errorf("root element is <dialog-info> in namespace %q, want dialog-info in %s", n.Space, Namespace)
	}
	return fmt.Errorf("root element is <%s>, want dialog-info in %s", n.Local, Namespace)
}

// parser reads the RFC 4235 structure; ns is the namespace the document
// put dialog-info in (Namespace, or "" when it declared none).
type parser struct {
	r  *xmlr.Reader
	ns string
}

func (p *parser) is(n xml.Name, local string) bool {
	return n.Local == local && n.Space == p.ns
}

func (p *parser) document(root xml.StartElement) (*Document, error) {
	doc := &Document{}
	for _, a := range root.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "version":
			v, err := strconv.ParseUint(strings.TrimSpace(a.Value), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("version %q: not a 32-bit unsigned number", a.Value)
			}
			doc.Version, doc.HasVersion = uint32(v), true
		case "state":
			switch s := strings.ToLower(strings.TrimSpace(a.Value)); s {
			case Full, Partial:
				doc.State = s
			default:
				return nil, fmt.Errorf("state %q: want full or partial", a.Value)
			}
		case "entity":
			doc.Entity = strings.TrimSpace(a.Value)
		}
	}
	err := p.r.Children(func(s xml.StartElement) error {
		if p.is(s.Name, "dialog") {
			d, err := p.dialog(s)
			if err != nil {
				return err
			}
			doc.Dialogs = append(doc.Dialogs, d)
			return nil
		}
		e, err := p.element(s)
		doc.Extensions = append(doc.Extensions, e)
		return err
	})
	if err != nil {
		return nil, err
	}
	return doc, nil
}

func (p *parser) dialog(start xml.StartElement) (Dialog, error) {
	var d Dialog
	for _, a := range start.Attr {
		if a.Name.Space != "" {
			continue
		}
		switch a.Name.Local {
		case "id":
			d.ID = a.Value
		case "call-id":
			d.CallID = a.Value
		case "local-tag":
			d.LocalTag = a.Value
		case "remote-tag":
			d.RemoteTag = a.Value
		case "direction":
			switch v := strings.ToLower(strings.TrimSpace(a.Value)); v {
			case Initiator, Recipient:
				d.Direction = v
			case "":
			default:
				return d, fmt.Errorf("dialog %q: direction %q: want initiator or recipient", d.ID, a.Value)
			}
		}
	}
	if d.ID == "" {
		return d, errors.New("dialog without id")
	}
	known := false // an RFC 4235 child was seen: later extensions go last
	hasState := false
	err := p.r.Children(func(s xml.StartElement) error {
		if s.Name.Space != p.ns {
			e, err := p.element(s)
			if known {
				d.Extensions = append(d.Extensions, e)
			} else {
				d.Leading = append(d.Leading, e)
			}
			return err
		}
		known = true
		var err error
		switch s.Name.Local {
		case "state":
			hasState = true
			err = p.state(s, &d)
		case "duration":
			var v uint64
			v, err = p.number(s, 31)
			d.Duration, d.HasDuration = int(v), true
		case "replaces":
			d.Replaces = &Replaces{}
			for _, a := range s.Attr {
				switch a.Name {
				case xml.Name{Local: "call-id"}:
					d.Replaces.CallID = a.Value
				case xml.Name{Local: "local-tag"}:
					d.Replaces.LocalTag = a.Value
				case xml.Name{Local: "remote-tag"}:
					d.Replaces.RemoteTag = a.Value
				}
			}
			err = p.r.Skip()
		case "referred-by":
			d.ReferredBy, err = p.nameAddr(s)
		case "route-set":
			err = p.r.Children(func(h xml.StartElement) error {
				if !p.is(h.Name, "hop") {
					return p.r.Skip()
				}
				v, err := p.r.Text()
				d.RouteSet = append(d.RouteSet, strings.TrimSpace(v))
				return err
			})
		case "local":
			d.Local, err = p.participant()
		case "remote":
			d.Remote, err = p.participant()
		default:
			var e Element
			e, err = p.element(s)
			d.Extensions = append(d.Extensions, e)
		}
		if err != nil {
			return fmt.Errorf("dialog %q: %s: %w", d.ID, s.Name.Local, err)
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	if !hasState {
		return d, fmt.Errorf("dialog %q: no state", d.ID)
	}
	return d, nil
}

func (p *parser) state(s xml.StartElement, d *Dialog) error {
	for _, a := range s.Attr {
		switch a.Name {
		case xml.Name{Local: "event"}:
			d.Event = strings.TrimSpace(a.Value)
		case xml.Name{Local: "code"}:
			c, err := strconv.Atoi(strings.TrimSpace(a.Value))
			if err != nil || c < 100 || c > 699 {
				return fmt.Errorf("code %q: want a SIP status code", a.Value)
			}
			d.Code = c
		}
	}
	v, err := p.r.Text()
	if err != nil {
		return err
	}
	switch st := strings.ToLower(strings.TrimSpace(v)); st {
	case Trying, Proceeding, Early, Confirmed, Terminated:
		d.State = st
		return nil
	}
	return fmt.Errorf("%q: want trying, proceeding, early, confirmed or terminated", v)
}

// number reads a non-negative decimal of at most bits bits.
func (p *parser) number(s xml.StartElement, bits int) (uint64, error) {
	v, err := p.r.Text()
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, bits)
	if err != nil {
		return 0, fmt.Errorf("%q: not a number", v)
	}
	return n, nil
}

func (p *parser) nameAddr(s xml.StartElement) (*NameAddr, error) {
	na := &NameAddr{}
	for _, a := range s.Attr {
		if a.Name == (xml.Name{Local: "display"}) {
			na.Display = a.Value
		}
	}
	v, err := p.r.Text()
	na.URI = strings.TrimSpace(v)
	return na, err
}

func (p *parser) participant() (*Participant, error) {
	pt := &Participant{}
	err := p.r.Children(func(s xml.StartElement) error {
		if s.Name.Space != p.ns {
			e, err := p.element(s)
			pt.Extensions = append(pt.Extensions, e)
			return err
		}
		var err error
		switch s.Name.Local {
		case "identity":
			pt.Identity, err = p.nameAddr(s)
		case "target":
			pt.Target = &Target{}
			for _, a := range s.Attr {
				if a.Name == (xml.Name{Local: "uri"}) {
					pt.Target.URI = strings.TrimSpace(a.Value)
				}
			}
			err = p.r.Children(func(ps xml.StartElement) error {
				if p.is(ps.Name, "param") {
					var prm Param
					for _, a := range ps.Attr {
						switch a.Name {
						case xml.Name{Local: "pname"}:
							prm.Name = a.Value
						case xml.Name{Local: "pval"}:
							prm.Value = a.Value
						}
					}
					pt.Target.Params = append(pt.Target.Params, prm)
				}
				return p.r.Skip()
			})
		case "session-description":
			sd := &SessionDescription{}
			for _, a := range s.Attr {
				if a.Name == (xml.Name{Local: "type"}) {
					sd.Type = a.Value
				}
			}
			sd.Body, err = p.r.Text()
			pt.SessionDescription = sd
		case "cseq":
			var v uint64
			v, err = p.number(s, 32)
			pt.CSeq, pt.HasCSeq = uint32(v), true
		default:
			var e Element
			e, err = p.element(s)
			pt.Extensions = append(pt.Extensions, e)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name.Local, err)
		}
		return nil
	})
	return pt, err
}
