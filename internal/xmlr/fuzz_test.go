package xmlr

import (
	"bytes"
	"encoding/xml"
	"io"
	"testing"
)

// FuzzReader checks that a Reader never panics, never lets a document
// past its limits, and that what it accepts is what encoding/xml alone
// reads, without directives: the same elements in the same order. The
// seeds are in testdata/fuzz/FuzzReader: ordinary documents and hostile
// ones (entities, depth, truncation, encodings).
func FuzzReader(f *testing.F) {
	lim := Limits{Size: 1 << 12, Depth: 8, Elements: 64}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := NewReader(data, lim)
		if err != nil {
			if len(data) <= lim.Size {
				t.Fatalf("NewReader(%d bytes): %v", len(data), err)
			}
			return
		}
		var names []string
		depth := 0
		for {
			tok, err := r.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				depth++
				names = append(names, tok.Name.Space+" "+tok.Name.Local)
				if depth > lim.Depth || len(names) > lim.Elements {
					t.Fatalf("element %d at depth %d passed the limits", len(names), depth)
				}
				for _, a := range tok.Attr {
					if p, ok := Declaration(a); ok {
						if _, declared := r.PrefixOf(a.Value); !declared {
							t.Fatalf("xmlns:%s=%q not in scope after its element's start", p, a.Value)
						}
					}
				}
			case xml.EndElement:
				depth--
			}
		}
		if depth != 0 {
			t.Fatalf("EOF at depth %d", depth)
		}
		d := xml.NewDecoder(bytes.NewReader(data))
		d.CharsetReader = CharsetReader
		var want []string
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("encoding/xml refuses what Reader read: %v", err)
			}
			switch tok := tok.(type) {
			case xml.StartElement:
				want = append(want, tok.Name.Space+" "+tok.Name.Local)
			case xml.Directive:
				t.Fatalf("Reader read past directive %q", tok)
			}
		}
		if len(want) != len(names) {
			t.Fatalf("got %d elements, encoding/xml reads %d", len(names), len(want))
		}
		for i := range want {
			if names[i] != want[i] {
				t.Fatalf("element %d: got %q, encoding/xml reads %q", i, names[i], want[i])
			}
		}
	})
}
