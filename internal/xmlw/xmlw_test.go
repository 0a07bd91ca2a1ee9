package xmlw

import (
	"strings"
	"testing"
)

func TestWriter(t *testing.T) {
	tests := []struct {
		name string
		f    func(w *Writer)
		want string
	}{
		{"empty element", func(w *Writer) { w.Start("a"); w.End("a") }, `<a/>`},
		{"attr escaping", func(w *Writer) { w.Start("a"); w.Attr("x", `"<&>'`+"\n"); w.End("a") }, `<a x="&quot;&lt;&amp;&gt;&apos;&#10;"/>`},
		{"text escaping", func(w *Writer) { w.Element("n", "a<b & c>\"") }, `<n>a&lt;b &amp; c&gt;"</n>`},
		{"invalid utf8 and control chars dropped", func(w *Writer) { w.Element("n", "a\xffb\x01c") }, `<n>abc</n>`},
		{"nested with prefix", func(w *Writer) {
			w.Start("dm:person")
			w.Attr("id", "p1")
			w.Element("dm:note", "hi")
			w.End("dm:person")
		}, `<dm:person id="p1"><dm:note>hi</dm:note></dm:person>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w Writer
			tt.f(&w)
			if got := string(w.Bytes()); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAttrPlaceholder(t *testing.T) {
	var w Writer
	w.Start("dialog-info")
	at := w.AttrPlaceholder("version")
	w.End("dialog-info")
	b := w.Bytes()
	got := string(b[:at]) + "42" + string(b[at:])
	if want := `<dialog-info version="42"/>`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestDocumentRightSized: a document kept for long does not keep the
// writer's spare room.
func TestDocumentRightSized(t *testing.T) {
	var w Writer
	w.Start("a")
	w.Attr("x", strings.Repeat("y", 300))
	w.End("a")
	b := w.Document()
	if string(b) != `<a x="`+strings.Repeat("y", 300)+`"/>` {
		t.Fatalf("got %s", b)
	}
	if cap(b)-len(b) > len(b)/4 {
		t.Errorf("len %d cap %d: more than a quarter unused", len(b), cap(b))
	}
}
