package xmlr

import (
	"io"
	"strings"
	"testing"
)

// BenchmarkReader reads a dialog-info sized document token by token.
func BenchmarkReader(b *testing.B) {
	doc := []byte(`<?xml version="1.0"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" xmlns:sa="urn:ietf:params:xml:ns:sa-dialog-info" version="1" state="full" entity="sip:line@example.com">` +
		strings.Repeat(`
<dialog id="a" call-id="c" local-tag="l" remote-tag="r" direction="initiator"><sa:exclusive>false</sa:exclusive><state>confirmed</state>
<local><identity display="Alice">sip:alice@example.com</identity><target uri="sip:alice@192.0.2.1"/></local></dialog>`, 4) +
		"\n</dialog-info>\n")
	lim := Limits{Size: 1 << 20, Depth: 32, Elements: 10000}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := NewReader(doc, lim)
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, err := r.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
