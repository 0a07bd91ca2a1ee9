package dialoginfo

import (
	"bytes"
	"testing"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives Write: the written document parses again, writes to the same
// bytes, and takes a version at the placeholder. The seeds are in
// testdata/fuzz/FuzzParse: the testdata documents (Polycom dialog;sla
// bodies with sa: elements, Yealink, Snom, Asterisk, OpenSIPS
// pua_dialoginfo) and hostile ones.
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
		ph, at := Write(doc, true)
		withVersion := append(ph[:at:at], append([]byte("7"), ph[at:]...)...)
		doc3, err := Parse(withVersion)
		if err != nil {
			t.Fatalf("Parse(versioned): %v\n%s", err, withVersion)
		}
		if doc3.Version != 7 || !doc3.HasVersion {
			t.Fatalf("got version %d, want 7", doc3.Version)
		}
	})
}
