package dialoginfo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// ignorePrefix compares models without the prefix hints, which are only
// about how the source was written.
var ignorePrefix = cmpopts.IgnoreFields(Element{}, "Prefix")

// TestGolden parses every testdata/*.xml, writes it back and compares with
// the .golden file; the golden output must parse to the same model and be
// a fixed point of Parse and Write.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.xml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.xml")
	}
	for _, in := range files {
		name := strings.TrimSuffix(filepath.Base(in), ".xml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, at := Write(doc, false)
			if at != -1 {
				t.Errorf("got versionAt %d, want -1", at)
			}
			golden := strings.TrimSuffix(in, ".xml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Write: got\n%s\nwant\n%s", got, want)
			}
			doc2, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(Write): %v", err)
			}
			if diff := cmp.Diff(doc, doc2, ignorePrefix); diff != "" && name != "no-namespace" {
				t.Errorf("Parse(Write(doc)) differs from doc (-want +got):\n%s", diff)
			}
			again, _ := Write(doc2, false)
			if !bytes.Equal(again, got) {
				t.Errorf("Write(Parse(Write)): got\n%s\nwant\n%s", again, got)
			}
		})
	}
}

func TestParseModel(t *testing.T) {
	src, err := os.ReadFile("testdata/prefixed-all-elements.xml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want := &Document{
		Version: 4294967295, HasVersion: true, State: Full, Entity: "sip:alice@example.com",
		Dialogs: []Dialog{{
			ID: "as7d900as8", CallID: "a84b4c76e66710", LocalTag: "1928301774", RemoteTag: "456fe01",
			Direction: Initiator,
			State:     Terminated, Event: EventReplaced, Code: 487,
			Duration: 3600, HasDuration: true,
			Replaces:   &Replaces{CallID: "hh76a1", LocalTag: "0101", RemoteTag: "0202"},
			ReferredBy: &NameAddr{URI: "sip:carol@example.com", Display: "Carol & Co"},
			RouteSet:   []string{"sip:proxy1.example.com;lr", "sip:proxy2.example.com;lr"},
			Local: &Participant{
				Identity: &NameAddr{URI: "sip:alice@example.com", Display: "Alice"},
				Target: &Target{URI: "sip:alice@pc33.example.com", Params: []Param{
					{"isfocus", "true"}, {"class", "personal"},
				}},
				SessionDescription: &SessionDescription{Type: "application/sdp", Body: "v=0\no=alice 1 1 IN IP4 192.0.2.5\n"},
				CSeq:               101, HasCSeq: true,
				Extensions: []Element{{
					Space: "urn:example:vendor", Local: "device", Prefix: "v",
					Attrs: []Attr{{xmlNamespace, "lang", "en"}, {"urn:example:vendor", "kind", "desk"}},
					Text:  "SoundPoint",
				}},
			},
			Remote: &Participant{
				Identity: &NameAddr{URI: "sip:bob@example.org"},
				Target:   &Target{URI: "sip:bob@192.0.2.44"},
				CSeq:     4, HasCSeq: true,
			},
			Extensions: []Element{{
				Space: "urn:example:vendor", Local: "note", Prefix: "v",
				Children: []Element{
					{Space: "urn:example:vendor", Local: "line", Prefix: "v", Text: "1"},
					{Space: "urn:example:vendor", Local: "line", Prefix: "v", Text: "2"},
				},
			}},
		}},
		Extensions: []Element{{
			Space: "urn:example:vendor", Local: "summary", Prefix: "v",
			Attrs: []Attr{{"", "count", "1"}},
		}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseSLAExtensions(t *testing.T) {
	tests := []struct {
		file    string
		leading []Element
	}{
		{"polycom-sla-confirmed.xml", []Element{{Space: SANamespace, Local: "exclusive", Prefix: "sa", Text: "false"}}},
		{"undeclared-sa-prefix.xml", []Element{{Space: SANamespace, Local: "exclusive", Prefix: "sa", Text: "false"}}},
		{"polycom-sla-two-appearances.xml", []Element{
			{Space: SANamespace, Local: "exclusive", Prefix: "sa", Text: "true"},
			{Space: SANamespace, Local: "appearance", Prefix: "sa", Text: "1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(src)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.leading, doc.Dialogs[0].Leading); diff != "" {
				t.Errorf("Leading (-want +got):\n%s", diff)
			}
			out, _ := Write(doc, false)
			if !bytes.Contains(out, []byte(`xmlns:sa="`+SANamespace+`"`)) {
				t.Errorf("got %s, want xmlns:sa declared", out)
			}
			if want := "</sa:exclusive>"; !bytes.Contains(out, []byte(want+"<sa:appearance>")) &&
				!bytes.Contains(out, []byte(want+"<state")) {
				t.Errorf("got %s, want sa:exclusive right before state", out)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const ns = `xmlns="urn:ietf:params:xml:ns:dialog-info"`
	tests := []struct {
		name string
		in   string
		want string // substring of the error
	}{
		{"empty", "", "dialoginfo: empty document"},
		{"only declaration", `<?xml version="1.0"?>`, "dialoginfo: empty document"},
		{"wrong root", `<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`,
			"dialoginfo: root element is <presence>, want dialog-info in urn:ietf:params:xml:ns:dialog-info"},
		{"wrong namespace", `<dialog-info xmlns="urn:example"/>`, `root element is <dialog-info> in namespace "urn:example"`},
		{"truncated", `<dialog-info ` + ns + `><dialog id="1"><state>early</st`, "document truncated"},
		{"truncated after root start", `<dialog-info ` + ns + `>`, "document truncated"},
		{"doctype", `<!DOCTYPE dialog-info><dialog-info ` + ns + `/>`, "DOCTYPE"},
		{"billion laughs", `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<dialog-info ` + ns + ` entity="&lol3;"/>`, "DOCTYPE"},
		{"undefined entity", `<dialog-info ` + ns + ` entity="&lol;"/>`, "entity"},
		{"deep nesting", `<dialog-info ` + ns + `>` + strings.Repeat("<x>", 100) + strings.Repeat("</x>", 100) + `</dialog-info>`,
			"nested deeper than 32"},
		{"too many elements", `<dialog-info ` + ns + `>` + strings.Repeat("<x/>", MaxElements) + `</dialog-info>`,
			"more than 10000 elements"},
		{"too large", `<dialog-info ` + ns + `>` + strings.Repeat(" ", MaxSize) + `</dialog-info>`, "larger than"},
		{"two roots", `<dialog-info ` + ns + `/><dialog-info ` + ns + `/>`, "more than one root"},
		{"text after root", `<dialog-info ` + ns + `/>junk`, "text after the root"},
		{"text before root", `junk<dialog-info ` + ns + `/>`, "text before the root"},
		{"mismatched end", `<dialog-info ` + ns + `><dialog id="1"><state>early</dialog></dialog-info>`, "syntax error"},
		{"bad version", `<dialog-info ` + ns + ` version="-1"/>`, `version "-1"`},
		{"version overflow", `<dialog-info ` + ns + ` version="4294967296"/>`, `version "4294967296"`},
		{"bad doc state", `<dialog-info ` + ns + ` state="some"/>`, `state "some"`},
		{"dialog without id", `<dialog-info ` + ns + `><dialog><state>early</state></dialog></dialog-info>`, "dialog without id"},
		{"dialog without state", `<dialog-info ` + ns + `><dialog id="a"/></dialog-info>`, `dialog "a": no state`},
		{"bad dialog state", `<dialog-info ` + ns + `><dialog id="a"><state>ringing</state></dialog></dialog-info>`, `"ringing": want trying`},
		{"bad direction", `<dialog-info ` + ns + `><dialog id="a" direction="up"><state>early</state></dialog></dialog-info>`, `direction "up"`},
		{"bad code", `<dialog-info ` + ns + `><dialog id="a"><state code="42">early</state></dialog></dialog-info>`, `code "42"`},
		{"bad duration", `<dialog-info ` + ns + `><dialog id="a"><state>early</state><duration>x</duration></dialog></dialog-info>`, `duration: "x": not a number`},
		{"bad cseq", `<dialog-info ` + ns + `><dialog id="a"><state>early</state><local><cseq>-3</cseq></local></dialog></dialog-info>`, `cseq: "-3"`},
		{"unsupported encoding", `<?xml version="1.0" encoding="EBCDIC"?><dialog-info ` + ns + `/>`, `encoding "EBCDIC"`},
		{"not xml", "\x00\x01\x02", "syntax error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("got %+v, want error %q", doc, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %q, want it to contain %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "dialoginfo: ") {
				t.Errorf("got error %q, want prefix dialoginfo: ", err)
			}
		})
	}
}

func TestParseLatin1(t *testing.T) {
	in := []byte("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n" +
		`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" entity="sip:a@b"><dialog id="1"><state>early</state>` +
		"<local><identity display=\"J\xfcrgen\">sip:j@b</identity></local></dialog></dialog-info>")
	doc, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := doc.Dialogs[0].Local.Identity.Display, "Jürgen"; got != want {
		t.Errorf("got display %q, want %q", got, want)
	}
}

func TestWriteVersionPlaceholder(t *testing.T) {
	doc := &Document{Version: 3, HasVersion: true, State: Full, Entity: "sip:a@example.com",
		Dialogs: []Dialog{{ID: "1", State: Early}}}
	tests := []struct {
		name        string
		placeholder bool
		insert      string
		want        uint32
	}{
		{"placeholder", true, "42", 42},
		{"placeholder max", true, "4294967295", 4294967295},
		{"document version", false, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, at := Write(doc, tt.placeholder)
			if tt.placeholder {
				if at < 0 || at > len(data) {
					t.Fatalf("got versionAt %d, want an offset in [0,%d]", at, len(data))
				}
				data = append(data[:at:at], append([]byte(tt.insert), data[at:]...)...)
			} else if at != -1 {
				t.Fatalf("got versionAt %d, want -1", at)
			}
			got, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse(%s): %v", data, err)
			}
			if !got.HasVersion || got.Version != tt.want {
				t.Errorf("got version %d (present %v), want %d", got.Version, got.HasVersion, tt.want)
			}
		})
	}
	doc.HasVersion = false
	data, _ := Write(doc, false)
	if bytes.Count(data, []byte("version=\"")) != 1 {
		t.Errorf("got %s, want no version attribute", data)
	}
}

func TestWritePrefixes(t *testing.T) {
	tests := []struct {
		name string
		doc  Document
		want string
	}{
		{"source prefix kept", Document{Dialogs: []Dialog{{ID: "1", State: Early,
			Leading: []Element{{Space: "urn:x", Local: "a", Prefix: "x"}}}}},
			`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" xmlns:x="urn:x">` + "\n" +
				`<dialog id="1"><x:a/><state>early</state></dialog>` + "\n</dialog-info>"},
		{"sa wins for its namespace", Document{Dialogs: []Dialog{{ID: "1", State: Early,
			Leading: []Element{{Space: SANamespace, Local: "exclusive", Prefix: "s", Text: "true"}}}}},
			`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" xmlns:sa="urn:ietf:params:xml:ns:sa-dialog-info">` + "\n" +
				`<dialog id="1"><sa:exclusive>true</sa:exclusive><state>early</state></dialog>` + "\n</dialog-info>"},
		{"clashing prefixes", Document{Extensions: []Element{
			{Space: "urn:one", Local: "a", Prefix: "p"},
			{Space: "urn:two", Local: "b", Prefix: "p", Attrs: []Attr{{"urn:three", "c", "v"}, {xmlNamespace, "lang", "de"}}},
			{Space: "", Local: "plain", Children: []Element{{Space: Namespace, Local: "back"}}},
		}},
			`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" xmlns:p="urn:one" xmlns:ns2="urn:two" xmlns:ns3="urn:three">` + "\n" +
				`<p:a/>` + "\n" + `<ns2:b ns3:c="v" xml:lang="de"/>` + "\n" +
				`<plain xmlns=""><back xmlns="urn:ietf:params:xml:ns:dialog-info"/></plain>` + "\n</dialog-info>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, _ := Write(&tt.doc, false)
			got := strings.TrimSuffix(strings.TrimPrefix(string(data), `<?xml version="1.0" encoding="UTF-8"?>`+"\n"), "\n")
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			back, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(&tt.doc, back, ignorePrefix, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse(Write) (-want +got):\n%s", diff)
			}
		})
	}
}
