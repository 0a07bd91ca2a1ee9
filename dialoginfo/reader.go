package dialoginfo

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Limits applied to every document Parse reads.
const (
	MaxSize     = 1 << 20 // bytes
	MaxDepth    = 32      // element nesting
	MaxElements = 10000   // elements in one document
)

const xmlNamespace = "http://www.w3.org/XML/1998/namespace"

// nsDecl is a namespace declaration in scope.
type nsDecl struct {
	prefix string
	uri    string
	depth  int
}

// reader wraps encoding/xml's namespace-aware tokenizer with the limits
// and keeps the prefix declarations in scope, so extension elements
// remember the prefix they had.
type reader struct {
	d        *xml.Decoder
	depth    int
	elements int
	decls    []nsDecl
}

func newReader(data []byte) *reader {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	d.CharsetReader = charsetReader
	return &reader{d: d}
}

// token returns the next start element, end element or character data,
// skipping comments and processing instructions. A directive (DOCTYPE,
// hence entity declarations) is an error. io.EOF is returned only at the
// end of the input.
func (r *reader) token() (xml.Token, error) {
	for {
		tok, err := r.d.Token()
		if err != nil {
			if err == io.EOF {
				return nil, io.EOF
			}
			return nil, syntaxError(err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			r.depth++
			r.elements++
			if r.depth > MaxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", MaxDepth)
			}
			if r.elements > MaxElements {
				return nil, fmt.Errorf("more than %d elements", MaxElements)
			}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "xmlns":
					r.decls = append(r.decls, nsDecl{a.Name.Local, a.Value, r.depth})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					r.decls = append(r.decls, nsDecl{"", a.Value, r.depth})
				}
			}
			return tok, nil
		case xml.EndElement:
			for len(r.decls) > 0 && r.decls[len(r.decls)-1].depth >= r.depth {
				r.decls = r.decls[:len(r.decls)-1]
			}
			r.depth--
			return tok, nil
		case xml.CharData:
			return tok, nil
		case xml.Directive:
			return nil, errors.New("DOCTYPE and other directives are not allowed")
		}
	}
}

// syntaxError rewords the decoder's errors; a truncated document is the
// common case and gets a plain message.
func syntaxError(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("document truncated")
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) && strings.Contains(se.Msg, "unexpected EOF") {
		return errors.New("document truncated")
	}
	return err
}

// prefixOf returns the prefix bound to uri in the current scope. An
// element whose prefix was never declared keeps the prefix as its
// namespace (encoding/xml's behaviour); declared reports whether uri is
// a declared namespace at all.
func (r *reader) prefixOf(uri string) (prefix string, declared bool) {
	for i := len(r.decls) - 1; i >= 0; i-- {
		if r.decls[i].uri == uri {
			return r.decls[i].prefix, true
		}
	}
	return "", false
}

// skip consumes the rest of the element whose start was just read.
func (r *reader) skip() error {
	for n := 1; n > 0; {
		t, err := r.token()
		if err != nil {
			return unexpectedEOF(err)
		}
		switch t.(type) {
		case xml.StartElement:
			n++
		case xml.EndElement:
			n--
		}
	}
	return nil
}

// text returns the character data of the element whose start was just
// read, skipping any child elements, up to its end.
func (r *reader) text() (string, error) {
	var s []byte
	for {
		t, err := r.token()
		if err != nil {
			return "", unexpectedEOF(err)
		}
		switch t := t.(type) {
		case xml.CharData:
			s = append(s, t...)
		case xml.StartElement:
			if err := r.skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return string(s), nil
		}
	}
}

// element reads the element that start opened into an Element.
func (r *reader) element(start xml.StartElement) (Element, error) {
	e := Element{Space: start.Name.Space, Local: start.Name.Local}
	e.Space, e.Prefix = r.resolve(start.Name.Space)
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		space := a.Name.Space
		if space != "" && space != xmlNamespace {
			space, _ = r.resolve(space)
		}
		e.Attrs = append(e.Attrs, Attr{Space: space, Local: a.Name.Local, Value: a.Value})
	}
	var text []byte
	for {
		t, err := r.token()
		if err != nil {
			return e, unexpectedEOF(err)
		}
		switch t := t.(type) {
		case xml.CharData:
			text = append(text, t...)
		case xml.StartElement:
			c, err := r.element(t)
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
func (r *reader) resolve(space string) (uri, prefix string) {
	if space == "" {
		return "", ""
	}
	if p, ok := r.prefixOf(space); ok {
		return space, p
	}
	if space == "sa" {
		return SANamespace, "sa"
	}
	return space, space
}

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return errors.New("document truncated")
	}
	return err
}

// charsetReader accepts the encodings phones declare besides UTF-8:
// US-ASCII as is, ISO-8859-1 converted.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii", "utf8":
		return in, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		return &latin1Reader{r: in}, nil
	}
	return nil, fmt.Errorf("encoding %q not supported", label)
}

// latin1Reader converts ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r   io.Reader
	buf [256]byte
	out []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	if len(l.out) == 0 {
		n, err := l.r.Read(l.buf[:])
		if n == 0 {
			return 0, err
		}
		for _, b := range l.buf[:n] {
			l.out = utf8.AppendRune(l.out, rune(b))
		}
	}
	n := copy(p, l.out)
	l.out = l.out[n:]
	return n, nil
}
