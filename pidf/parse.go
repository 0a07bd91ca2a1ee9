package pidf

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/xmlr"
	"github.com/presenced/presenced/internal/xmlw"
)

// Limits of Parse. A body past one of them is refused.
const (
	MaxSize     = 1 << 20 // bytes
	MaxDepth    = 32      // nested elements, the root counting as one
	MaxElements = 4096
	MaxAttrs    = 64 // attributes on one element, namespace declarations included
	// MaxNamespaces bounds the namespace declarations of a document
	// (resolving a name costs a walk through those in scope).
	MaxNamespaces = 256
)

const (
	nsXML   = xmlr.XMLNamespace
	nsXMLNS = "http://www.w3.org/2000/xmlns/"
	maxMsg  = 200 // bytes of input quoted in an error, so it fits a SIP reason phrase
)

// Error is a document Parse refuses. Line is where the problem was found,
// 0 when it concerns the document as a whole.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return "pidf: line " + strconv.Itoa(e.Line) + ": " + e.Msg
	}
	return "pidf: " + e.Msg
}

// Parse decodes a PIDF document. Namespaces decide, whatever the prefixes;
// elements the model has no field for are kept as Elements. The error is
// an *Error whose text says what is wrong and where.
func Parse(body []byte) (*Document, error) {
	if len(body) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("document is %d bytes, more than %d", len(body), MaxSize)}
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	p := &parser{
		d:      xml.NewDecoder(bytes.NewReader(body)),
		doc:    &Document{},
		budget: len(body) + 4096,
	}
	p.out = append(p.outBuf[:0], rootScope[:]...)
	p.d.CharsetReader = charsetReader
	if err := p.document(); err != nil {
		return nil, err
	}
	p.fixups()
	return p.doc, nil
}

// rootScope is the namespace context of every kept fragment: the one
// Marshal declares on the root.
var rootScope = [...]binding{{"", NS}, {"dm", NSDataModel}, {"rpid", NSRPID}, {"c", NSCIPID}}

type tokKind uint8

const (
	tokEOF tokKind = iota
	tokStart
	tokEnd
	tokText
)

// token is what parser.next returns: a start tag with its names resolved,
// an end tag, or text. attrs and text are valid until the next call.
type token struct {
	kind   tokKind
	space  string // element namespace
	prefix string // element prefix as written
	local  string
	attrs  []attr
	decls  []binding // start: the namespaces it declares
	text   []byte
}

type attr struct {
	space, prefix, local, value string
}

type binding struct{ prefix, uri string }

// inElem is an element open in the input.
type inElem struct {
	name xml.Name // as written
	mark int      // len(parser.ns) before its declarations
}

// outElem is an element open in the fragment being written.
type outElem struct {
	qname    string
	mark     int  // len(parser.out) before its declarations
	children bool // it has an element child
}

// Where a fragment goes once the fragment buffer is final.
const (
	fixOther uint8 = iota
	fixStatus
	fixTuple
	fixPerson
	fixDevice
)

type fixup struct {
	where      uint8
	i, j       int // index of the parent in its Document slice, of the Element in the parent's
	start, end int // the fragment in parser.w
}

type parser struct {
	d        *xml.Decoder
	doc      *Document
	ns       []binding // input namespace bindings, innermost last
	open     []inElem
	elements int
	nsDecls  int
	tokens   int
	rootDone bool
	attrs    []attr
	text     []byte

	// Fragments of all kept elements are written one after the other into
	// w, re-qualified against rootScope, and sliced out at the end.
	w      xmlw.Writer
	out    []binding
	outBuf [8]binding
	stack  []outElem
	ws     []byte // whitespace held until it is known to be content
	gen    int    // last generated prefix number in this fragment
	// declared counts the bytes of namespace declarations written into
	// fragments. A namespace declared once on the root and used in many
	// fragments is declared in each; budget caps that growth.
	declared, budget int
	apfx             []string
	fix              []fixup
}

func (p *parser) document() error {
	tok, err := p.next()
	if err != nil {
		return err
	}
	if tok.space != NS || tok.local != "presence" {
		where := "" // the namespace, when it is what is wrong
		switch {
		case tok.local != "presence":
		case tok.space == "":
			where = " in no namespace"
		default:
			where = " in " + clip(tok.space)
		}
		return &Error{Msg: fmt.Sprintf("root element is <%s>%s, want presence in %s", clip(qualify(tok.prefix, tok.local)), where, NS)}
	}
	p.doc.Entity = attrValue(tok.attrs, "", "entity")
	for {
		tok, err := p.next()
		if err != nil {
			return err
		}
		switch tok.kind {
		case tokEnd:
			return p.trailer()
		case tokStart:
			d := p.doc
			switch {
			case tok.space == NS && tok.local == "tuple":
				var t Tuple
				t, err = p.tuple(tok)
				d.Tuples = append(d.Tuples, t)
			case tok.space == NS && tok.local == "note":
				var n Note
				n, err = p.note(tok)
				d.Notes = append(d.Notes, n)
			case tok.space == NSDataModel && tok.local == "person":
				var pe Person
				pe, err = p.person(tok)
				d.Persons = append(d.Persons, pe)
			case tok.space == NSDataModel && tok.local == "device":
				var dv Device
				dv, err = p.device(tok)
				d.Devices = append(d.Devices, dv)
			default:
				var el Element
				el, err = p.capture(tok, fixOther, 0, len(d.Others), nil)
				d.Others = append(d.Others, el)
			}
			if err != nil {
				return err
			}
		}
	}
}

// trailer reads what follows the root element: only comments, processing
// instructions and white space may.
func (p *parser) trailer() error {
	for {
		tok, err := p.next()
		if err != nil || tok.kind == tokEOF {
			return err
		}
	}
}

func (p *parser) tuple(start token) (Tuple, error) {
	ti := len(p.doc.Tuples)
	t := Tuple{ID: attrValue(start.attrs, "", "id")}
	for {
		tok, err := p.next()
		if err != nil {
			return t, err
		}
		if tok.kind == tokEnd {
			return t, nil
		}
		if tok.kind != tokStart {
			continue
		}
		switch {
		case tok.space == NS && tok.local == "status":
			err = p.status(&t, ti)
		case tok.space == NS && tok.local == "contact":
			t.Priority = strings.TrimSpace(attrValue(tok.attrs, "", "priority"))
			t.Contact, err = p.leaf(tok, true)
		case tok.space == NS && tok.local == "note":
			var n Note
			n, err = p.note(tok)
			t.Notes = append(t.Notes, n)
		case tok.space == NS && tok.local == "timestamp":
			t.Timestamp, err = p.leaf(tok, true)
		default:
			var el Element
			el, err = p.capture(tok, fixTuple, ti, len(t.Extra), nil)
			t.Extra = append(t.Extra, el)
		}
		if err != nil {
			return t, err
		}
	}
}

func (p *parser) status(t *Tuple, ti int) error {
	for {
		tok, err := p.next()
		if err != nil {
			return err
		}
		if tok.kind == tokEnd {
			return nil
		}
		if tok.kind != tokStart {
			continue
		}
		if tok.space == NS && tok.local == "basic" {
			v, err := p.leaf(tok, true)
			if err != nil {
				return err
			}
			switch {
			case strings.EqualFold(v, BasicOpen):
				t.Basic = BasicOpen
			case strings.EqualFold(v, BasicClosed):
				t.Basic = BasicClosed
			default:
				return p.errorf("basic is %q, want open or closed", clip(v))
			}
			continue
		}
		el, err := p.capture(tok, fixStatus, ti, len(t.StatusExtra), nil)
		if err != nil {
			return err
		}
		t.StatusExtra = append(t.StatusExtra, el)
	}
}

func (p *parser) person(start token) (Person, error) {
	pi := len(p.doc.Persons)
	pe := Person{ID: attrValue(start.attrs, "", "id")}
	for {
		tok, err := p.next()
		if err != nil {
			return pe, err
		}
		if tok.kind == tokEnd {
			return pe, nil
		}
		if tok.kind != tokStart {
			continue
		}
		var names *[]string
		switch {
		case tok.space == NSDataModel && tok.local == "note":
			var n Note
			n, err = p.note(tok)
			pe.Notes = append(pe.Notes, n)
			if err != nil {
				return pe, err
			}
			continue
		case tok.space == NSDataModel && tok.local == "timestamp":
			if pe.Timestamp, err = p.leaf(tok, true); err != nil {
				return pe, err
			}
			continue
		case tok.space == NSRPID && tok.local == "activities":
			names = &pe.Activities
		case tok.space == NSRPID && tok.local == "mood":
			names = &pe.Mood
		}
		el, err := p.capture(tok, fixPerson, pi, len(pe.Extra), names)
		if err != nil {
			return pe, err
		}
		pe.Extra = append(pe.Extra, el)
	}
}

func (p *parser) device(start token) (Device, error) {
	di := len(p.doc.Devices)
	dv := Device{ID: attrValue(start.attrs, "", "id")}
	for {
		tok, err := p.next()
		if err != nil {
			return dv, err
		}
		if tok.kind == tokEnd {
			return dv, nil
		}
		if tok.kind != tokStart {
			continue
		}
		switch {
		case tok.space == NSDataModel && tok.local == "deviceID":
			dv.DeviceID, err = p.leaf(tok, true)
		case tok.space == NSDataModel && tok.local == "note":
			var n Note
			n, err = p.note(tok)
			dv.Notes = append(dv.Notes, n)
		case tok.space == NSDataModel && tok.local == "timestamp":
			dv.Timestamp, err = p.leaf(tok, true)
		default:
			var el Element
			el, err = p.capture(tok, fixDevice, di, len(dv.Extra), nil)
			dv.Extra = append(dv.Extra, el)
		}
		if err != nil {
			return dv, err
		}
	}
}

func (p *parser) note(start token) (Note, error) {
	lang := attrValue(start.attrs, nsXML, "lang")
	text, err := p.leaf(start, false)
	return Note{Lang: lang, Text: text}, err
}

// leaf reads the text of an element that may hold only text.
func (p *parser) leaf(start token, trim bool) (string, error) {
	p.text = p.text[:0]
	for {
		tok, err := p.next()
		if err != nil {
			return "", err
		}
		switch tok.kind {
		case tokText:
			p.text = append(p.text, tok.text...)
		case tokStart:
			return "", p.errorf("element <%s> not allowed in <%s>", clip(qualify(tok.prefix, tok.local)), clip(qualify(start.prefix, start.local)))
		case tokEnd:
			if trim {
				return string(bytes.TrimSpace(p.text)), nil
			}
			return string(p.text), nil
		}
	}
}

func attrValue(attrs []attr, space, local string) string {
	for _, a := range attrs {
		if a.space == space && a.local == local {
			return a.value
		}
	}
	return ""
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func qualify(prefix, local string) string {
	if prefix == "" {
		return local
	}
	return prefix + ":" + local
}

func name(n xml.Name) string { return qualify(n.Space, n.Local) }
