package dialoginfo

import (
	"bytes"
	"encoding/xml"

	"github.com/presenced/presenced/internal/xmlr"
)

const xmlNamespace = xmlr.XMLNamespace

// element reads the element that start opened into an Element, keeping
// the prefixes its names had.
func (p *parser) element(start xml.StartElement) (Element, error) {
	e := Element{Space: start.Name.Space, Local: start.Name.Local}
	e.Space, e.Prefix = p.resolve(start.Name.Space)
	for _, a := range start.Attr {
		if _, ok := xmlr.Declaration(a); ok {
			continue
		}
		space := a.Name.Space
		if space != "" && space != xmlNamespace {
			space, _ = p.resolve(space)
		}
		e.Attrs = append(e.Attrs, Attr{Space: space, Local: a.Name.Local, Value: a.Value})
	}
	var text []byte
	for {
		t, err := p.r.Token()
		if err != nil {
			return e, xmlr.Truncated(err)
		}
		switch t := t.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.StartElement:
			c, err := p.element(t)
			if err != nil {
				return e, err
			}
			e.Children = append(e.Children, c)
		case xml.EndElement:
			if len(e.Children) > 0 && len(bytes.TrimSpace(text)) == 0 {
				text = nil
			}
			e.Text = string(text)
			return e, nil
		}
	}
}

// resolve returns the namespace and prefix hint of a name whose space
// encoding/xml reported. A prefix that was never declared comes back as
// the space itself: "sa" is taken to mean SANamespace (phones forget the
// declaration), any other is kept as a namespace of that name.
func (p *parser) resolve(space string) (uri, prefix string) {
	if space == "" {
		return "", ""
	}
	if pf, ok := p.r.PrefixOf(space); ok {
		return space, pf
	}
	if space == "sa" {
		return SANamespace, "sa"
	}
	return space, space
}
