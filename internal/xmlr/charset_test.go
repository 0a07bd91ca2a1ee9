package xmlr

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestCharsetReader(t *testing.T) {
	tests := []struct {
		label   string
		latin1  bool
		wantErr string
	}{
		{label: "US-ASCII"},
		{label: "ascii"},
		{label: "utf8"},
		{label: "ISO-8859-1", latin1: true},
		{label: "iso8859-1", latin1: true},
		{label: "Latin1", latin1: true},
		{label: "latin-1", latin1: true},
		{label: "iso_8859-1", wantErr: `encoding "iso_8859-1" not supported`},
		{label: "KOI8-R", wantErr: `encoding "KOI8-R" not supported`},
	}
	for _, tt := range tests {
		t.Run(tt.label, func(t *testing.T) {
			r, err := CharsetReader(tt.label, strings.NewReader("J\xfcrgen"))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			want := "J\xfcrgen"
			if tt.latin1 {
				want = "Jürgen"
			}
			if string(b) != want {
				t.Errorf("got %q, want %q", b, want)
			}
		})
	}
}

func TestLatin1(t *testing.T) {
	var in, want bytes.Buffer
	for range 3 { // longer than the reader's buffer
		for c := range 256 {
			in.WriteByte(byte(c))
			want.WriteRune(rune(c))
		}
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":      func(r io.Reader) io.Reader { return r },
		"one byte":   iotest.OneByteReader,
		"half reads": iotest.HalfReader,
		"data EOF":   iotest.DataErrReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := io.ReadAll(wrap(Latin1(bytes.NewReader(in.Bytes()))))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("got %q, want %q", got, want.Bytes())
			}
		})
	}
}

func TestLatin1Document(t *testing.T) {
	doc := "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<r n=\"J\xfcrgen\">Gr\xfc\xdfe</r>"
	r, err := NewReader([]byte(doc), testLimits)
	if err != nil {
		t.Fatal(err)
	}
	root, err := r.Root()
	if err != nil {
		t.Fatal(err)
	}
	if got := root.Attr[0].Value; got != "Jürgen" {
		t.Errorf("got attribute %q, want Jürgen", got)
	}
	if got, err := r.Text(); got != "Grüße" || err != nil {
		t.Errorf("got text %q, %v, want Grüße", got, err)
	}
}
