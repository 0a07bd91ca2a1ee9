package pidf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBuilders(t *testing.T) {
	tests := []struct {
		golden string
		body   []byte
	}{
		{"basic-open.xml", Basic(true, "sip:alice@example.com", "a8f3c2", "")},
		{"basic-closed-note.xml", Basic(false, "alice@example.com", "", "Offline")},
		{"closed.xml", Closed("sip:alice@example.com")},
		{"rich-away.xml", Rich(RichStatus{Entity: "pres:alice@example.com", Open: true, Activities: []string{ActivityAway}, Note: "Gone to lunch"})},
		{"rich-note-only.xml", Rich(RichStatus{Entity: "pres:alice@example.com", TupleID: "x1", Open: true, Note: "free for chat"})},
		{"rich-closed.xml", Rich(RichStatus{Entity: "pres:alice@example.com", Open: false})},
		{"rich-escaping.xml", Rich(RichStatus{Entity: `pres:"o'hara"&<co>@example.com`, PersonID: "p\n1", Open: true, Activities: []string{ActivityBusy, "in a meeting", "rpid:x"}, Note: "a < b & c > d ]]>"})},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			golden(t, tt.golden, tt.body)
			mustParse(t, tt.body) // well formed and valid for our own parser
		})
	}
}

func TestRichModel(t *testing.T) {
	d := mustParse(t, Rich(RichStatus{Entity: "pres:a@b", Open: true, Activities: []string{ActivityAway, "on the go"}, Note: "brb"}))
	want := &Document{
		Entity: "pres:a@b",
		Tuples: []Tuple{{ID: DefaultTupleID, Basic: BasicOpen}},
		Notes:  []Note{{Text: "brb"}},
		Persons: []Person{{
			ID:         DefaultPersonID,
			Activities: []string{"away", "other"},
			Notes:      []Note{{Text: "brb"}},
			Extra:      []Element{el(NSRPID, "activities", `<rpid:activities><rpid:away/><rpid:other>on the go</rpid:other></rpid:activities>`)},
		}},
	}
	if diff := cmp.Diff(want, d, cmpDoc); diff != "" {
		t.Errorf("document mismatch (-want +got):\n%s", diff)
	}
}

// TestMarshalBuilt covers documents built in code: generated activities
// and mood, prefixes declared only when used, fragments given by hand.
func TestMarshalBuilt(t *testing.T) {
	d := &Document{
		Entity: "sip:bob@example.com",
		Tuples: []Tuple{{
			ID: "t1", Basic: BasicOpen, Contact: "sip:bob@192.0.2.5", Priority: "0.9",
			Notes: []Note{{Lang: "de", Text: "Im Büro"}}, Timestamp: "2025-01-02T03:04:05Z",
			StatusExtra: []Element{el("urn:x", "flag", `<x:flag xmlns:x="urn:x"/>`)},
			Extra:       []Element{el(NSCIPID, "icon", `<c:icon>http://example.com/i.png</c:icon>`)},
		}},
		Persons: []Person{
			{ID: "p1", Activities: []string{ActivityMeeting}, Mood: []string{"happy"}, Timestamp: "2025-01-02T03:04:05Z"},
			// Extra wins over the field: the parsed element is written as read.
			{ID: "p2", Activities: []string{"ignored"}, Extra: []Element{el(NSRPID, "activities", `<rpid:activities><rpid:away/></rpid:activities>`)}},
		},
		Devices: []Device{{ID: "d1", DeviceID: "urn:uuid:1", Timestamp: "2025-01-02T03:04:05Z", Notes: []Note{{Text: "phone"}}}},
		Notes:   []Note{{Text: "root"}},
		Others:  []Element{el("urn:y", "z", `<y:z xmlns:y="urn:y"><!-- c --><![CDATA[ c:not-a-prefix ]]></y:z>`)},
	}
	golden(t, "marshal-built.xml", Marshal(d))
}

func TestMarshalPrefixes(t *testing.T) {
	tests := []struct {
		name string
		doc  *Document
		want []string // namespace declarations on the root
	}{
		{"tuple only", &Document{Tuples: []Tuple{{ID: "t", Basic: BasicOpen}}}, nil},
		{"device", &Document{Devices: []Device{{ID: "d"}}}, []string{"dm"}},
		{"person without activities", &Document{Persons: []Person{{ID: "p"}}}, []string{"dm"}},
		{"person with activities", &Document{Persons: []Person{{ID: "p", Activities: []string{"away"}}}}, []string{"dm", "rpid"}},
		{"rpid in a tuple extension", &Document{Tuples: []Tuple{{ID: "t", Extra: []Element{el(NSRPID, "class", `<rpid:class>x</rpid:class>`)}}}}, []string{"rpid"}},
		{"cipid attribute", &Document{Others: []Element{el("urn:x", "a", `<x:a xmlns:x="urn:x" c:b="1"/>`)}}, []string{"c"}},
		{"prefix only in text", &Document{Notes: []Note{{Text: "<dm:x> rpid:y c:z"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := string(Marshal(tt.doc))
			root := out[strings.Index(out, "<presence"):]
			root = root[:strings.IndexByte(root, '>')]
			var got []string
			for _, p := range []string{"dm", "rpid", "c"} {
				if strings.Contains(root, " xmlns:"+p+"=") {
					got = append(got, p)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("declared prefixes (-want +got):\n%s\n%s", diff, out)
			}
			mustParse(t, []byte(out))
		})
	}
}

func TestSummary(t *testing.T) {
	tests := []struct {
		name       string
		body       []byte
		open       bool
		activities []string
		note       string
	}{
		{"polycom", sample(t, "polycom"), true, []string{"on-the-phone"}, "On the Phone"},
		{"bria: person note when no root note", sample(t, "bria"), true, []string{"away", "meal"}, "Gone to lunch"},
		{"prefixed: root note first", sample(t, "prefixed"), false, []string{"vacation", "other"}, "Carol"},
		{"minimal", sample(t, "minimal"), false, nil, ""},
		{"tuple note last", []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="a"><status><basic>closed</basic></status></tuple><tuple id="b"><status><basic>open</basic></status><note>  </note><note> tuple note </note></tuple></presence>`), true, nil, "tuple note"},
		{"activities once", Marshal(&Document{Persons: []Person{{ID: "a", Activities: []string{"away", "busy"}}, {ID: "b", Activities: []string{"busy", "meal"}}}}), false, []string{"away", "busy", "meal"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			open, activities, note := Summary(mustParse(t, tt.body))
			if open != tt.open {
				t.Errorf("got open %v, want %v", open, tt.open)
			}
			if diff := cmp.Diff(tt.activities, activities); diff != "" {
				t.Errorf("activities (-want +got):\n%s", diff)
			}
			if note != tt.note {
				t.Errorf("got note %q, want %q", note, tt.note)
			}
		})
	}
}
