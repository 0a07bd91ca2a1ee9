package xmlr

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var testLimits = Limits{Size: 1 << 10, Depth: 4, Elements: 10}

// walk reads a whole document with Root, Skip and Trailer and returns the
// first error.
func walk(data string, lim Limits) error {
	r, err := NewReader([]byte(data), lim)
	if err != nil {
		return err
	}
	if _, err := r.Root(); err != nil {
		return err
	}
	if err := r.Skip(); err != nil {
		return err
	}
	return r.Trailer()
}

func TestReaderErrors(t *testing.T) {
	const billion = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<r a="&lol2;"/>`
	tests := []struct {
		name string
		in   string
		want string // the whole error; "" for none
	}{
		{"minimal", `<r/>`, ""},
		{"prolog and trailer", "<?xml version=\"1.0\"?>\n<!-- c --><?pi x?> <r/>\n<!-- c -->\n", ""},
		{"at the depth limit", `<r><a><b><c/></b></a></r>`, ""},
		{"at the element limit", `<r>` + strings.Repeat(`<a/>`, 9) + `</r>`, ""},
		{"at the size limit", `<r>` + strings.Repeat(` `, 1<<10-len(`<r></r>`)) + `</r>`, ""},
		{"empty", ``, "empty document"},
		{"only space", " \n\t", "empty document"},
		{"only declaration", `<?xml version="1.0"?>`, "empty document"},
		{"text before the root", `x<r/>`, "text before the root element"},
		{"text after the root", `<r/>x`, "text after the root element"},
		{"two roots", `<r/><r/>`, "more than one root element"},
		{"doctype", `<!DOCTYPE r><r/>`, "DOCTYPE and other directives are not allowed"},
		{"billion laughs", billion, "DOCTYPE and other directives are not allowed"},
		{"entity declaration alone", `<!ENTITY x "y"><r/>`, "DOCTYPE and other directives are not allowed"},
		{"directive inside the root", `<r><!DOCTYPE r></r>`, "DOCTYPE and other directives are not allowed"},
		{"undefined entity", `<r>&x;</r>`, "XML syntax error on line 1: invalid character entity &x;"},
		{"too deep", `<r><a><b><c><d/></c></b></a></r>`, "elements nested deeper than 4"},
		{"too many elements", `<r>` + strings.Repeat(`<a/>`, 10) + `</r>`, "more than 10 elements"},
		{"depth checked before count", `<r>` + strings.Repeat(`<a/>`, 6) + `<a><b><c><d/></c></b></a></r>`, "elements nested deeper than 4"},
		{"too large", `<r>` + strings.Repeat(` `, 1<<10) + `</r>`, "document larger than 1024 bytes"},
		{"truncated in a tag", `<r><a x=`, "document truncated"},
		{"truncated in content", `<r><a>text`, "document truncated"},
		{"truncated after the root start", `<r>`, "document truncated"},
		{"mismatched end", `<r><a></b></r>`, "XML syntax error on line 1: element <a> closed by </b>"},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC"?><r/>`,
			`xml: opening charset "EBCDIC": encoding "EBCDIC" not supported`},
		{"not xml", "\x00\x01", "XML syntax error on line 1: illegal character code U+0000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := walk(tt.in, testLimits)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("got error %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	if err := walk(`<r><a>`, testLimits); !errors.Is(err, ErrTruncated) {
		t.Errorf("got %v, want ErrTruncated", err)
	}
	if err := Truncated(io.EOF); err != ErrTruncated {
		t.Errorf("Truncated(io.EOF): got %v, want ErrTruncated", err)
	}
	other := errors.New("other")
	if err := Truncated(other); err != other {
		t.Errorf("Truncated(other): got %v, want other", err)
	}
	if err := Truncated(nil); err != nil {
		t.Errorf("Truncated(nil): got %v, want nil", err)
	}
}

// TestReaderTokens checks what Token returns and skips, and that EOF
// comes only after the root.
func TestReaderTokens(t *testing.T) {
	r, err := NewReader([]byte(`<?xml version="1.0"?><!-- c --><r>a<?pi?><!-- c --><b/>c</r>`), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		tok, err := r.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			got = append(got, "<"+tok.Name.Local+">")
		case xml.EndElement:
			got = append(got, "</"+tok.Name.Local+">")
		case xml.CharData:
			got = append(got, string(tok))
		default:
			t.Errorf("got token %T, want only elements and text", tok)
		}
	}
	want := []string{"<r>", "a", "<b>", "</b>", "c", "</r>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
}

func TestChildrenTextSkip(t *testing.T) {
	const doc = `<r>
  <a>one<x>hidden<y/></x> two</a>
  <b><deep><deeper>gone</deeper></deep></b>
  <c>three</c>
  <d>f<!-- c -->o<?pi?>u<![CDATA[r<]]></d>
  <e></e>
</r>`
	r, err := NewReader([]byte(doc), Limits{Size: 1 << 10, Depth: 8, Elements: 100})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Root(); err != nil {
		t.Fatal(err)
	}
	var got []string
	err = r.Children(func(s xml.StartElement) error {
		if s.Name.Local == "b" {
			got = append(got, "b skipped")
			return r.Skip()
		}
		v, err := r.Text()
		got = append(got, s.Name.Local+"="+v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Trailer(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a=one two", "b skipped", "c=three", "d=four<", "e="}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("children (-want +got):\n%s", diff)
	}
}

func TestChildrenError(t *testing.T) {
	r, err := NewReader([]byte(`<r><a/><b/></r>`), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Root(); err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	n := 0
	err = r.Children(func(xml.StartElement) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("got %v after %d children, want stop after 1", err, n)
	}
}

func TestPrefixOf(t *testing.T) {
	const doc = `<r xmlns="urn:r" xmlns:a="urn:a">` +
		`<x xmlns:b="urn:a" xmlns:c="urn:c"><y xmlns="urn:c"/></x>` +
		`<z/></r>`
	r, err := NewReader([]byte(doc), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	type lookup struct {
		uri      string
		prefix   string
		declared bool
	}
	// After each start element, by local name.
	checks := map[string][]lookup{
		"r": {{"urn:r", "", true}, {"urn:a", "a", true}, {"urn:c", "", false}, {"a", "", false}},
		"x": {{"urn:a", "b", true}, {"urn:c", "c", true}, {"urn:r", "", true}},
		"y": {{"urn:c", "", true}, {"urn:a", "b", true}},
		"z": {{"urn:a", "a", true}, {"urn:c", "", false}},
	}
	for {
		tok, err := r.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, c := range checks[s.Name.Local] {
			p, d := r.PrefixOf(c.uri)
			if p != c.prefix || d != c.declared {
				t.Errorf("in <%s>: PrefixOf(%q): got %q, %v, want %q, %v", s.Name.Local, c.uri, p, d, c.prefix, c.declared)
			}
		}
	}
	if p, d := r.PrefixOf("urn:a"); p != "" || d {
		t.Errorf("after the root: PrefixOf(urn:a): got %q, %v, want nothing in scope", p, d)
	}
}

func TestDeclaration(t *testing.T) {
	tests := []struct {
		name   string
		attr   xml.Name
		prefix string
		ok     bool
	}{
		{"default namespace", xml.Name{Local: "xmlns"}, "", true},
		{"prefix", xml.Name{Space: "xmlns", Local: "dm"}, "dm", true},
		{"plain attribute", xml.Name{Local: "id"}, "", false},
		{"prefixed attribute", xml.Name{Space: "urn:x", Local: "xmlns"}, "", false},
		{"xml:lang", xml.Name{Space: "xml", Local: "lang"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := Declaration(xml.Attr{Name: tt.attr, Value: "urn:v"})
			if p != tt.prefix || ok != tt.ok {
				t.Errorf("got %q, %v, want %q, %v", p, ok, tt.prefix, tt.ok)
			}
		})
	}
}
