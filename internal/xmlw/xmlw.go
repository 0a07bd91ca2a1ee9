// Package xmlw writes XML documents with the namespace prefixes SIP phones
// expect (dm:, rpid:, sa: ...). encoding/xml repeats xmlns on every element
// and cannot choose prefixes, which bloats NOTIFY bodies; this writer emits
// exactly what it is told, escaping text and attribute values.
package xmlw

import (
	"bytes"
	"strconv"
	"unicode/utf8"
)

// Writer appends a document to a byte slice. The zero value is ready to
// use. Elements must be closed in order; the writer does not check
// well-formedness beyond escaping, callers do.
type Writer struct {
	buf  []byte
	open bool // a start tag is open and awaits attributes or ">"
}

// Header appends the XML declaration.
func (w *Writer) Header() {
	w.buf = append(w.buf, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"...)
}

// Start opens element name (with its prefix, e.g. "dm:person").
func (w *Writer) Start(name string) {
	w.closeStart()
	w.buf = append(w.buf, '<')
	w.buf = append(w.buf, name...)
	w.open = true
}

// Attr adds an attribute to the element just opened.
func (w *Writer) Attr(name, value string) {
	if !w.open {
		panic("xmlw: Attr outside a start tag")
	}
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '=', '"')
	w.buf = appendEscaped(w.buf, value, true)
	w.buf = append(w.buf, '"')
}

// AttrPlaceholder adds attribute name with an empty value and returns the
// offset inside the document where a value can later be inserted (used for
// per-watcher version numbers).
func (w *Writer) AttrPlaceholder(name string) int {
	if !w.open {
		panic("xmlw: AttrPlaceholder outside a start tag")
	}
	w.buf = append(w.buf, ' ')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '=', '"')
	at := len(w.buf)
	w.buf = append(w.buf, '"')
	return at
}

// AttrUint adds a numeric attribute.
func (w *Writer) AttrUint(name string, v uint64) {
	w.Attr(name, strconv.FormatUint(v, 10))
}

// Text appends escaped character data inside the current element.
func (w *Writer) Text(s string) {
	w.closeStart()
	w.buf = appendEscaped(w.buf, s, false)
}

// Raw appends s unchanged (a fragment already well formed).
func (w *Writer) Raw(s []byte) {
	w.closeStart()
	w.buf = append(w.buf, s...)
}

// End closes element name. An element with no content is written as
// <name/>.
func (w *Writer) End(name string) {
	if w.open {
		w.buf = append(w.buf, '/', '>')
		w.open = false
		return
	}
	w.buf = append(w.buf, '<', '/')
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '>')
}

// Element writes <name>text</name>.
func (w *Writer) Element(name, text string) {
	w.Start(name)
	w.Text(text)
	w.closeStart()
	w.End(name)
}

// Bytes returns the document. The Writer must not be used afterwards.
func (w *Writer) Bytes() []byte {
	w.closeStart()
	return w.buf
}

// Document returns what was written, as Bytes does, but copied into a
// buffer of its own size when growing the writer's buffer left more than a
// quarter of it unused: documents are often kept for long (a publication's
// body), and the spare room would stay with them.
func (w *Writer) Document() []byte {
	b := w.Bytes()
	if cap(b)-len(b) > len(b)/4 {
		b = bytes.Clone(b)
	}
	return b
}

// Len is the number of bytes written so far.
func (w *Writer) Len() int { return len(w.buf) }

func (w *Writer) closeStart() {
	if w.open {
		w.buf = append(w.buf, '>')
		w.open = false
	}
}

// appendEscaped escapes &, <, > and, in attributes, quotes, tabs and line
// breaks; it drops bytes that are not valid UTF-8 and characters XML 1.0
// forbids, so a hostile value cannot break the document.
func appendEscaped(b []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			i++
			continue
		}
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"' && attr:
			b = append(b, "&quot;"...)
		case r == '\'' && attr:
			b = append(b, "&apos;"...)
		case (r == '\n' || r == '\r' || r == '\t') && attr:
			b = append(b, "&#"...)
			b = strconv.AppendInt(b, int64(r), 10)
			b = append(b, ';')
		case !isXMLChar(r):
			// dropped
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}

func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		(r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) ||
		(r >= 0x10000 && r <= 0x10FFFF)
}
