package pidf

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/xmlr"
)

// next returns the next start tag, end tag or text inside the root, and
// EOF after it. It enforces the limits, resolves namespaces and checks
// that tags match.
func (p *parser) next() (token, error) {
	for {
		t, err := p.d.RawToken()
		p.tokens++
		if err != nil {
			if err != io.EOF {
				return token{}, p.decodeError(err)
			}
			if len(p.open) > 0 {
				return token{}, p.errorf("document ends before </%s>", clip(name(p.open[len(p.open)-1].name)))
			}
			if !p.rootDone {
				return token{}, &Error{Msg: "no root element"}
			}
			return token{kind: tokEOF}, nil
		}
		switch t := t.(type) {
		case xml.StartElement:
			return p.start(t)
		case xml.EndElement:
			return p.end(t)
		case xml.CharData:
			if len(p.open) > 0 {
				return token{kind: tokText, text: t}, nil
			}
			if !isSpace(t) {
				return token{}, p.errorf("text outside the root element")
			}
		case xml.ProcInst:
			if strings.EqualFold(t.Target, "xml") && p.tokens > 1 {
				return token{}, p.errorf("xml declaration not at the start of the document")
			}
		case xml.Directive:
			if bytes.HasPrefix(t, []byte("DOCTYPE")) {
				return token{}, p.errorf("DOCTYPE not allowed (no DTD, entity declarations are refused)")
			}
			return token{}, p.errorf("<!%s> declaration not allowed", clip(string(firstWord(t))))
		}
	}
}

func (p *parser) start(t xml.StartElement) (token, error) {
	n := name(t.Name)
	if p.rootDone {
		return token{}, p.errorf("element <%s> after the root element", clip(n))
	}
	if p.elements++; p.elements > MaxElements {
		return token{}, p.errorf("more than %d elements", MaxElements)
	}
	if len(p.open) >= MaxDepth {
		return token{}, p.errorf("elements nested more than %d deep", MaxDepth)
	}
	if len(t.Attr) > MaxAttrs {
		return token{}, p.errorf("<%s> has more than %d attributes", clip(n), MaxAttrs)
	}
	mark := len(p.ns)
	p.open = append(p.open, inElem{name: t.Name, mark: mark})
	for _, a := range t.Attr {
		if prefix, ok := xmlr.Declaration(a); ok {
			if p.nsDecls++; p.nsDecls > MaxNamespaces {
				return token{}, p.errorf("more than %d namespace declarations", MaxNamespaces)
			}
			if err := p.declare(prefix, a.Value, mark); err != nil {
				return token{}, err
			}
		}
	}
	space, err := p.resolve(t.Name, false)
	if err != nil {
		return token{}, err
	}
	attrs := p.attrs[:0]
	for _, a := range t.Attr {
		if _, ok := xmlr.Declaration(a); ok {
			continue
		}
		as, err := p.resolve(a.Name, true)
		if err != nil {
			return token{}, err
		}
		for _, b := range attrs {
			if b.space == as && b.local == a.Name.Local {
				return token{}, p.errorf("attribute %s repeated on <%s>", clip(name(a.Name)), clip(n))
			}
		}
		attrs = append(attrs, attr{space: as, prefix: a.Name.Space, local: a.Name.Local, value: a.Value})
	}
	p.attrs = attrs
	return token{kind: tokStart, space: space, prefix: t.Name.Space, local: t.Name.Local, attrs: attrs, decls: p.ns[mark:]}, nil
}

func (p *parser) end(t xml.EndElement) (token, error) {
	if len(p.open) == 0 {
		return token{}, p.errorf("unexpected </%s>", clip(name(t.Name)))
	}
	top := p.open[len(p.open)-1]
	if top.name != t.Name {
		return token{}, p.errorf("element <%s> closed by </%s>", clip(name(top.name)), clip(name(t.Name)))
	}
	p.open = p.open[:len(p.open)-1]
	p.ns = p.ns[:top.mark]
	if len(p.open) == 0 {
		p.rootDone = true
	}
	return token{kind: tokEnd}, nil
}

func (p *parser) declare(prefix, uri string, mark int) error {
	switch {
	case prefix == "xmlns" || uri == nsXMLNS:
		return p.errorf("namespace declaration xmlns:%s=%q not allowed", clip(prefix), clip(uri))
	case (prefix == "xml") != (uri == nsXML):
		return p.errorf("prefix xml and namespace %s go only together", nsXML)
	case prefix != "" && uri == "":
		return p.errorf("prefix %s declared with an empty namespace", clip(prefix))
	case strings.Contains(prefix, ":"):
		return p.errorf("invalid prefix %s", clip(prefix))
	}
	for _, b := range p.ns[mark:] {
		if b.prefix == prefix {
			return p.errorf("namespace of prefix %q declared twice on one element", clip(prefix))
		}
	}
	p.ns = append(p.ns, binding{prefix, uri})
	return nil
}

// resolve returns the namespace of a name as written in the input.
func (p *parser) resolve(n xml.Name, isAttr bool) (string, error) {
	if strings.Contains(n.Local, ":") {
		return "", p.errorf("invalid name %s", clip(name(n)))
	}
	switch n.Space {
	case "":
		if isAttr {
			return "", nil
		}
	case "xml":
		return nsXML, nil
	case "xmlns":
		return "", p.errorf("invalid name %s", clip(name(n)))
	}
	for k := len(p.ns) - 1; k >= 0; k-- {
		if p.ns[k].prefix == n.Space {
			return p.ns[k].uri, nil
		}
	}
	if n.Space == "" {
		return "", nil
	}
	return "", p.errorf("prefix %s of %s is not declared", clip(n.Space), clip(name(n)))
}

func (p *parser) errorf(format string, args ...any) error {
	line, _ := p.d.InputPos()
	return &Error{Line: line, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) decodeError(err error) error {
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return &Error{Line: se.Line, Msg: clip(se.Msg)}
	}
	line, _ := p.d.InputPos()
	return &Error{Line: line, Msg: clip(strings.TrimPrefix(err.Error(), "xml: "))}
}

// charsetReader lets documents declare the encodings phones use besides
// UTF-8. Its labels are pidf's own; the conversion is xmlr's.
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso_8859-1", "latin1", "l1":
		return xmlr.Latin1(input), nil
	}
	return nil, errors.New("not supported, use UTF-8")
}

func firstWord(b []byte) []byte {
	if i := bytes.IndexAny(b, " \t\r\n"); i >= 0 {
		return b[:i]
	}
	return b
}

// clip shortens s for an error message and replaces control characters,
// so that the message fits on one line.
func clip(s string) string {
	if len(s) > maxMsg {
		i := maxMsg
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
