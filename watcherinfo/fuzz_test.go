package watcherinfo

import (
	"bytes"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives Write: the written document parses again, to the same model
// and bytes. Seeds are in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data)
		if err != nil {
			return
		}
		out, _ := Write(doc, false)
		doc2, err := Parse(out)
		if err != nil {
			t.Fatalf("Parse(Write(doc)): %v\n%s", err, out)
		}
		out2, _ := Write(doc2, false)
		if !bytes.Equal(out, out2) {
			t.Fatalf("Write not stable:\n%s\n%s", out, out2)
		}
	})
}
