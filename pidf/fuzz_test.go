package pidf

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics, that its errors are *Error
// on one line, and that whatever it accepts survives Marshal: the output
// parses to the same model and is written identically again. The seed
// corpus in testdata/fuzz/FuzzParse holds documents in the styles of
// common phones and clients and hostile ones.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := Parse(body)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("got error type %T, want *pidf.Error", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q spans lines", err)
			}
			return
		}
		Summary(d)
		out := Marshal(d)
		d2, err := Parse(out)
		if err != nil {
			// Declarations moved from the root onto fragments can push a
			// document accepted near a limit past it.
			if len(out) > MaxSize || strings.Contains(err.Error(), "attributes") {
				return
			}
			t.Fatalf("Parse(Marshal(d)): %v\n%s", err, out)
		}
		if diff := cmp.Diff(d, d2, cmpDoc); diff != "" {
			t.Fatalf("round trip changed the model (-first +second):\n%s\n%s", diff, out)
		}
		if out2 := Marshal(d2); !bytes.Equal(out, out2) {
			t.Fatalf("second Marshal differs:\n%s\n%s", out, out2)
		}
		merged := Merge("sip:fuzz@example.com", []*Document{d, d2, d})
		if _, err := Parse(merged); err != nil && len(merged) <= MaxSize && !strings.Contains(err.Error(), "elements") {
			t.Fatalf("Parse(Merge): %v\n%s", err, merged)
		}
	})
}
