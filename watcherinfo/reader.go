package watcherinfo

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
	MaxElements = 20000   // elements in one document
)

// reader wraps encoding/xml's namespace-aware tokenizer with the limits.
type reader struct {
	d        *xml.Decoder
	depth    int
	elements int
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
		if err == io.EOF {
			return nil, io.EOF
		}
		if err != nil {
			return nil, syntaxError(err)
		}
		switch tok.(type) {
		case xml.StartElement:
			r.depth++
			r.elements++
			if r.depth > MaxDepth {
				return nil, fmt.Errorf("elements nested deeper than %d", MaxDepth)
			}
			if r.elements > MaxElements {
				return nil, fmt.Errorf("more than %d elements", MaxElements)
			}
			return tok, nil
		case xml.EndElement:
			r.depth--
			return tok, nil
		case xml.CharData:
			return tok, nil
		case xml.Directive:
			return nil, errors.New("DOCTYPE and other directives are not allowed")
		}
	}
}

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

func unexpectedEOF(err error) error {
	if err == io.EOF {
		return errors.New("document truncated")
	}
	return err
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

// charsetReader accepts the encodings clients declare besides UTF-8:
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
