package pidf

import (
	"bytes"
	"strings"

	"github.com/presenced/presenced/internal/xmlw"
)

// Prefixes a document uses, so that Marshal declares only those.
const (
	useDM uint8 = 1 << iota
	useRPID
	useCIPID
	useAll = useDM | useRPID | useCIPID
)

// Marshal writes d as a PIDF document: the default namespace is pidf, the
// prefixes dm, rpid and c are declared once on the root when used, and the
// root's children come in the order tuples, notes, persons, devices,
// others, one per line. Empty fields are left out.
func Marshal(d *Document) []byte {
	var w xmlw.Writer
	nl := []byte{'\n'}
	use := uses(d)
	w.Header()
	w.Start("presence")
	w.Attr("xmlns", NS)
	if use&useDM != 0 {
		w.Attr("xmlns:dm", NSDataModel)
	}
	if use&useRPID != 0 {
		w.Attr("xmlns:rpid", NSRPID)
	}
	if use&useCIPID != 0 {
		w.Attr("xmlns:c", NSCIPID)
	}
	if d.Entity != "" {
		w.Attr("entity", d.Entity)
	}
	w.Raw(nl)
	for i := range d.Tuples {
		writeTuple(&w, &d.Tuples[i])
		w.Raw(nl)
	}
	for _, n := range d.Notes {
		writeNote(&w, "note", n)
		w.Raw(nl)
	}
	for i := range d.Persons {
		writePerson(&w, &d.Persons[i])
		w.Raw(nl)
	}
	for i := range d.Devices {
		writeDevice(&w, &d.Devices[i])
		w.Raw(nl)
	}
	for _, el := range d.Others {
		w.Raw(el.XML)
		w.Raw(nl)
	}
	w.End("presence")
	w.Raw(nl)
	return w.Document()
}

func writeTuple(w *xmlw.Writer, t *Tuple) {
	w.Start("tuple")
	if t.ID != "" {
		w.Attr("id", t.ID)
	}
	w.Start("status")
	if t.Basic != "" {
		w.Element("basic", t.Basic)
	}
	writeRaw(w, t.StatusExtra)
	w.End("status")
	writeRaw(w, t.Extra)
	if t.Contact != "" || t.Priority != "" {
		w.Start("contact")
		if t.Priority != "" {
			w.Attr("priority", t.Priority)
		}
		if t.Contact != "" {
			writeText(w, t.Contact)
		}
		w.End("contact")
	}
	for _, n := range t.Notes {
		writeNote(w, "note", n)
	}
	if t.Timestamp != "" {
		element(w, "timestamp", t.Timestamp)
	}
	w.End("tuple")
}

func writePerson(w *xmlw.Writer, p *Person) {
	w.Start("dm:person")
	if p.ID != "" {
		w.Attr("id", p.ID)
	}
	if len(p.Activities) > 0 && !hasElement(p.Extra, NSRPID, "activities") {
		writeNames(w, "rpid:activities", p.Activities)
	}
	if len(p.Mood) > 0 && !hasElement(p.Extra, NSRPID, "mood") {
		writeNames(w, "rpid:mood", p.Mood)
	}
	writeRaw(w, p.Extra)
	for _, n := range p.Notes {
		writeNote(w, "dm:note", n)
	}
	if p.Timestamp != "" {
		element(w, "dm:timestamp", p.Timestamp)
	}
	w.End("dm:person")
}

func writeDevice(w *xmlw.Writer, d *Device) {
	w.Start("dm:device")
	if d.ID != "" {
		w.Attr("id", d.ID)
	}
	writeRaw(w, d.Extra)
	if d.DeviceID != "" {
		element(w, "dm:deviceID", d.DeviceID)
	}
	for _, n := range d.Notes {
		writeNote(w, "dm:note", n)
	}
	if d.Timestamp != "" {
		element(w, "dm:timestamp", d.Timestamp)
	}
	w.End("dm:device")
}

func writeNote(w *xmlw.Writer, name string, n Note) {
	w.Start(name)
	if n.Lang != "" {
		w.Attr("xml:lang", n.Lang)
	}
	if n.Text != "" {
		writeText(w, n.Text)
	}
	w.End(name)
}

// writeNames writes an RPID container (activities, mood) with one empty
// element per name; a name that is not an XML name goes into <rpid:other>.
func writeNames(w *xmlw.Writer, container string, names []string) {
	w.Start(container)
	for _, n := range names {
		if isNCName(n) {
			el := "rpid:" + n
			w.Start(el)
			w.End(el)
		} else {
			w.Start("rpid:other")
			writeText(w, n)
			w.End("rpid:other")
		}
	}
	w.End(container)
}

func element(w *xmlw.Writer, name, text string) {
	w.Start(name)
	writeText(w, text)
	w.End(name)
}

// writeText writes character data, carriage returns as &#13; so that they
// survive reading (XML turns a literal one into a line feed).
func writeText(w *xmlw.Writer, s string) {
	for {
		i := strings.IndexByte(s, '\r')
		if i < 0 {
			break
		}
		if i > 0 {
			w.Text(s[:i])
		}
		w.Raw([]byte("&#13;"))
		s = s[i+1:]
	}
	if s != "" {
		w.Text(s)
	}
}

func writeRaw(w *xmlw.Writer, els []Element) {
	for _, el := range els {
		w.Raw(el.XML)
	}
}

func hasElement(els []Element, space, local string) bool {
	for _, el := range els {
		if el.Space == space && el.Local == local {
			return true
		}
	}
	return false
}

func uses(d *Document) uint8 {
	var u uint8
	if len(d.Persons)+len(d.Devices) > 0 {
		u |= useDM
	}
	for i := range d.Tuples {
		u |= usesIn(d.Tuples[i].StatusExtra) | usesIn(d.Tuples[i].Extra)
	}
	for i := range d.Persons {
		p := &d.Persons[i]
		if len(p.Activities) > 0 && !hasElement(p.Extra, NSRPID, "activities") ||
			len(p.Mood) > 0 && !hasElement(p.Extra, NSRPID, "mood") {
			u |= useRPID
		}
		u |= usesIn(p.Extra)
	}
	for i := range d.Devices {
		u |= usesIn(d.Devices[i].Extra)
	}
	return u | usesIn(d.Others)
}

func usesIn(els []Element) uint8 {
	var u uint8
	for _, el := range els {
		if u == useAll {
			break
		}
		u |= prefixesIn(el.XML)
	}
	return u
}

// prefixesIn reports which of dm:, rpid: and c: the element and attribute
// names of a well-formed fragment use.
func prefixesIn(b []byte) uint8 {
	var u uint8
	for {
		i := bytes.IndexByte(b, '<')
		if i < 0 || i+1 >= len(b) {
			return u
		}
		b = b[i+1:]
		switch b[0] {
		case '/': // an end tag repeats its start tag's name
			continue
		case '!', '?':
			end := []byte("-->")
			if b[0] == '?' {
				end = []byte("?>")
			} else if bytes.HasPrefix(b, []byte("![CDATA[")) {
				end = []byte("]]>")
			}
			j := bytes.Index(b, end)
			if j < 0 {
				return u
			}
			b = b[j+len(end):]
			continue
		}
		var ok bool
		if b, ok = scanTag(b, &u); !ok {
			return u
		}
	}
}

// scanTag reads the names of a start tag up to its '>' and returns the
// rest of b.
func scanTag(b []byte, u *uint8) ([]byte, bool) {
	for k := 0; k < len(b); {
		switch c := b[k]; {
		case c == '>':
			return b[k+1:], true
		case c == '"' || c == '\'':
			j := bytes.IndexByte(b[k+1:], c)
			if j < 0 {
				return nil, false
			}
			k += j + 2
		case isTagDelim(c):
			k++
		default:
			n := k
			for n < len(b) && !isTagDelim(b[n]) {
				n++
			}
			switch name := b[k:n]; {
			case bytes.HasPrefix(name, []byte("dm:")):
				*u |= useDM
			case bytes.HasPrefix(name, []byte("rpid:")):
				*u |= useRPID
			case bytes.HasPrefix(name, []byte("c:")):
				*u |= useCIPID
			}
			k = n
		}
	}
	return nil, false
}

func isTagDelim(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '=' || c == '/' || c == '>'
}

// isNCName reports whether s can be written as a local element name; only
// ASCII names are, which all RPID names are.
func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && (c == '-' || c == '.' || '0' <= c && c <= '9'):
		default:
			return false
		}
	}
	return true
}
