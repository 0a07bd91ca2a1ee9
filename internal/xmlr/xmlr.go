// Package xmlr reads XML bodies from untrusted peers (PIDF, dialog-info,
// watcherinfo) with encoding/xml, within limits the caller sets: input
// size, element nesting, element count. DOCTYPE and every other directive
// are refused, so no entity is ever declared or expanded (billion laughs,
// external entities); a cut-off document is reported as truncated; text
// and a second element outside the root are refused. Besides UTF-8 a
// document may declare US-ASCII or ISO-8859-1 (XML 1.0 section 4.3.3),
// the encodings phones use.
//
// A Reader returns the decoder's tokens as they are (no copy, no new
// interface value) and remembers the namespace declarations in scope, so
// a codec that keeps unknown elements can give them back their prefixes.
// The package has no state; a Reader is for one goroutine.
package xmlr

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// XMLNamespace is the namespace bound to the prefix xml (xml:lang).
const XMLNamespace = "http://www.w3.org/XML/1998/namespace"

// Limits bound what a Reader accepts. Each codec passes its own.
type Limits struct {
	Size     int // bytes of input
	Depth    int // element nesting, the root counting as one
	Elements int // elements in the document
}

// ErrTruncated is the error for a document that ends inside an element.
var ErrTruncated = errors.New("document truncated")

// decl is a namespace declaration in scope.
type decl struct {
	prefix string
	uri    string
	depth  int
}

// Reader is encoding/xml's namespace-aware tokenizer with the limits
// applied. It keeps the namespace declarations in scope for PrefixOf.
type Reader struct {
	d        *xml.Decoder
	in       bytes.Reader
	lim      Limits
	depth    int
	elements int
	decls    []decl
	declBuf  [2]decl // room for the usual root declarations
}

// NewReader returns a Reader of data, or an error when data is longer
// than lim.Size.
func NewReader(data []byte, lim Limits) (*Reader, error) {
	if len(data) > lim.Size {
		return nil, fmt.Errorf("document larger than %d bytes", lim.Size)
	}
	r := &Reader{lim: lim}
	r.decls = r.declBuf[:0]
	r.in.Reset(data)
	r.d = xml.NewDecoder(&r.in)
	r.d.Strict = true
	r.d.CharsetReader = CharsetReader
	return r, nil
}

// Token returns the next start element, end element or character data,
// skipping comments and processing instructions. A directive (DOCTYPE,
// hence entity declarations) is an error, and so is passing a limit.
// io.EOF is returned only at the end of the input, after the root; a
// document cut inside an element gives ErrTruncated. The token is the
// decoder's: its data is valid until the next call.
func (r *Reader) Token() (xml.Token, error) {
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
			if r.depth > r.lim.Depth {
				return nil, fmt.Errorf("elements nested deeper than %d", r.lim.Depth)
			}
			if r.elements > r.lim.Elements {
				return nil, fmt.Errorf("more than %d elements", r.lim.Elements)
			}
			for _, a := range t.Attr {
				if prefix, ok := Declaration(a); ok {
					r.decls = append(r.decls, decl{prefix, a.Value, r.depth})
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
		return ErrTruncated
	}
	var se *xml.SyntaxError
	if errors.As(err, &se) && strings.Contains(se.Msg, "unexpected EOF") {
		return ErrTruncated
	}
	return err
}

// Truncated returns ErrTruncated for io.EOF and err otherwise. Callers
// reading inside an element use it on Token's error: there the end of
// the input means the document was cut.
func Truncated(err error) error {
	if err == io.EOF {
		return ErrTruncated
	}
	return err
}

// Root reads up to the start of the root element and returns it. Only
// white space, comments and processing instructions may come before it.
func (r *Reader) Root() (xml.StartElement, error) {
	for {
		t, err := r.Token()
		if err == io.EOF {
			return xml.StartElement{}, errors.New("empty document")
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return xml.StartElement{}, errors.New("text before the root element")
			}
		}
	}
}

// Trailer reads what follows the end of the root element, up to the end
// of the input: only white space, comments and processing instructions
// may.
func (r *Reader) Trailer() error {
	for {
		t, err := r.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := t.(type) {
		case xml.StartElement:
			return errors.New("more than one root element")
		case xml.CharData:
			if len(bytes.TrimSpace(t)) > 0 {
				return errors.New("text after the root element")
			}
		}
	}
}

// Children calls f for each child element of the element whose start
// was just read, up to its end; f must consume the child up to its end
// (Skip, Text, or Children again). Text between children is ignored.
func (r *Reader) Children(f func(xml.StartElement) error) error {
	for {
		t, err := r.Token()
		if err != nil {
			return Truncated(err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			if err := f(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// Skip consumes the rest of the element whose start was just read.
func (r *Reader) Skip() error {
	for n := 1; n > 0; {
		t, err := r.Token()
		if err != nil {
			return Truncated(err)
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

// Text returns the character data of the element whose start was just
// read, skipping any child elements, up to its end.
func (r *Reader) Text() (string, error) {
	// Text is most often one piece: it is then copied once, as a string.
	var (
		one    string
		pieces int
		all    []byte // from the second piece on
	)
	for {
		t, err := r.Token()
		if err != nil {
			return "", Truncated(err)
		}
		switch t := t.(type) {
		case xml.CharData:
			switch pieces++; pieces {
			case 1:
				one = string(t)
			case 2:
				all = append([]byte(one), t...)
			default:
				all = append(all, t...)
			}
		case xml.StartElement:
			if err := r.Skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			if pieces > 1 {
				return string(all), nil
			}
			return one, nil
		}
	}
}

// PrefixOf returns the prefix bound to uri in the current scope, the
// innermost declaration first ("" for a default namespace); declared
// reports whether uri is bound at all. A name whose prefix was never
// declared comes from encoding/xml with the prefix as its namespace, for
// which declared is false.
func (r *Reader) PrefixOf(uri string) (prefix string, declared bool) {
	for i := len(r.decls) - 1; i >= 0; i-- {
		if r.decls[i].uri == uri {
			return r.decls[i].prefix, true
		}
	}
	return "", false
}

// Declaration reports whether a is a namespace declaration (xmlns or
// xmlns:prefix) and of which prefix ("" for the default namespace). It
// works on the attributes of Token and of xml.Decoder.RawToken alike.
func Declaration(a xml.Attr) (prefix string, ok bool) {
	switch {
	case a.Name.Space == "xmlns":
		return a.Name.Local, true
	case a.Name.Space == "" && a.Name.Local == "xmlns":
		return "", true
	}
	return "", false
}
