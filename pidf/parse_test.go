package pidf

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// el builds the Element a fragment decodes to.
func el(space, local, xml string) Element {
	return Element{Space: space, Local: local, XML: []byte(xml)}
}

var cmpDoc = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Transformer("string", func(b []byte) string { return string(b) }),
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		want *Document
	}{
		{"minimal", &Document{
			Entity: "sip:dave@example.com",
			Tuples: []Tuple{{ID: "t", Basic: "closed"}},
		}},
		{"opensips-seed", &Document{
			Entity: "system@domain",
			Tuples: []Tuple{{ID: "0x81475a0", Basic: "open"}},
			Persons: []Person{{
				ID:         "pdd748945",
				Activities: []string{"away"},
				Notes:      []Note{{Text: "CPU:16 \nMEM:476"}},
				Extra:      []Element{el(NSRPID, "activities", `<rpid:activities><rpid:away/>away</rpid:activities>`)},
			}},
		}},
		{"polycom", &Document{
			Entity: "sip:1001@pbx.example.com",
			Tuples: []Tuple{{
				ID: "t6f3a9b21", Basic: "open",
				Contact: "sip:1001@192.0.2.23:5060", Priority: "0.8",
				Timestamp: "2025-03-14T09:26:53Z",
			}},
			Persons: []Person{{
				ID:         "p6f3a9b21",
				Activities: []string{"on-the-phone"},
				Notes:      []Note{{Text: "On the Phone"}},
				Extra:      []Element{el(NSRPID, "activities", `<rpid:activities><rpid:on-the-phone/></rpid:activities>`)},
			}},
		}},
		{"bria", &Document{
			Entity: "sip:alice@example.com",
			Tuples: []Tuple{{
				ID: "sf3a8c1d0", Basic: "open",
				Contact: "sip:alice@198.51.100.7:52044;transport=tls;ob", Priority: "1",
				Notes:       []Note{{Lang: "en", Text: "Away"}},
				Timestamp:   "2025-03-14T09:30:00.123Z",
				StatusExtra: []Element{el("urn:example:counterpath-style:presence", "status-icon", `<cp:status-icon xmlns:cp="urn:example:counterpath-style:presence">away</cp:status-icon>`)},
			}},
			Persons: []Person{{
				ID:         "pf3a8c1d0",
				Activities: []string{"away", "meal"},
				Mood:       []string{"hungry"},
				Notes:      []Note{{Lang: "en", Text: "Gone to lunch"}},
				Timestamp:  "2025-03-14T09:30:00Z",
				Extra: []Element{
					el(NSRPID, "activities", `<rpid:activities rpid:until="2025-03-14T10:30:00Z"><rpid:note>back soon</rpid:note><rpid:away/><rpid:meal/></rpid:activities>`),
					el(NSRPID, "mood", `<rpid:mood><rpid:hungry/></rpid:mood>`),
					el(NSCIPID, "display-name", `<c:display-name>Alice Liddell</c:display-name>`),
				},
			}},
			Devices: []Device{{
				ID:       "d1",
				DeviceID: "urn:uuid:3f2504e0-4f89-11d3-9a0c-0305e82c3301",
				Notes:    []Note{{Text: "Desk phone"}},
			}},
		}},
		{"linphone", &Document{
			Entity: "sip:bob@example.org",
			Tuples: []Tuple{{
				ID: "qmdqnf", Basic: "open",
				Contact:   "sip:bob@203.0.113.4;transport=udp",
				Timestamp: "2025-03-14T08:00:00",
				Extra: []Element{el("urn:ietf:params:xml:ns:pidf:caps", "servcaps",
					`<ns2:servcaps xmlns:ns2="urn:ietf:params:xml:ns:pidf:caps"><ns2:audio>true</ns2:audio><ns2:video>false</ns2:video></ns2:servcaps>`)},
			}},
			Persons: []Person{{
				ID:         "bltpwm",
				Activities: []string{"busy"},
				Notes:      []Note{{Lang: "fr", Text: "En réunion"}},
				Extra:      []Element{el(NSRPID, "activities", `<rpid:activities><rpid:busy/></rpid:activities>`)},
			}},
		}},
		{"yealink", &Document{ // declared ISO-8859-1
			Entity: "sip:2002@192.0.2.1",
			Tuples: []Tuple{{ID: "t54bb0569", Basic: "open", Contact: "sip:2002@192.0.2.1"}},
			Persons: []Person{{
				ID:         "p65f3f4a1",
				Activities: []string{"busy"},
				Notes:      []Note{{Text: "Ne pas déranger"}},
				Extra:      []Element{el(NSRPID, "activities", `<rpid:activities><rpid:busy/></rpid:activities>`)},
			}},
		}},
		{"prefixed", &Document{
			Entity: "pres:carol@example.net",
			Tuples: []Tuple{{ID: "a1", Basic: "closed", Notes: []Note{{Text: "Logged off"}}}},
			Notes:  []Note{{Lang: "en", Text: "Carol"}},
			Persons: []Person{{
				ID:         "b1",
				Activities: []string{"vacation", "other"},
				Notes:      []Note{{Text: "Back on Monday"}},
				Extra:      []Element{el(NSRPID, "activities", `<rpid:activities><rpid:vacation/><rpid:other>sailing</rpid:other></rpid:activities>`)},
			}},
			Others: []Element{
				el("urn:ietf:params:xml:ns:pidf:geopriv10", "geopriv",
					`<x:geopriv xmlns:x="urn:ietf:params:xml:ns:pidf:geopriv10" xmlns:gml="http://www.opengis.net/gml"><x:location-info><gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>52.37 4.89</gml:pos></gml:Point></x:location-info></x:geopriv>`),
				el("", "unqualified", `<unqualified xmlns="" attr="1"><child>text &amp; more</child></unqualified>`),
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(sample(t, tt.name))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpDoc); diff != "" {
				t.Errorf("document mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParsePrefixStyles writes one document in several prefix styles:
// namespaces, not prefixes, must decide.
func TestParsePrefixStyles(t *testing.T) {
	const want = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b">
<tuple id="t1"><status><basic>open</basic></status><note xml:lang="en">hi</note></tuple>
<dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities><dm:note>busy</dm:note></dm:person>
</presence>
`
	tests := []struct {
		name string
		body string
	}{
		{"default namespace and dm rpid", `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b"><tuple id="t1"><status><basic>open</basic></status><note xml:lang="en">hi</note></tuple><dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities><dm:note>busy</dm:note></dm:person></presence>`},
		{"all prefixed", `<pidf:presence xmlns:pidf="urn:ietf:params:xml:ns:pidf" xmlns:pdm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b"><pidf:tuple id="t1"><pidf:status><pidf:basic>open</pidf:basic></pidf:status><pidf:note xml:lang="en">hi</pidf:note></pidf:tuple><pdm:person id="p1"><r:activities><r:busy/></r:activities><pdm:note>busy</pdm:note></pdm:person></pidf:presence>`},
		{"declarations where used", `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t1"><status><basic>open</basic></status><note xml:lang="en">hi</note></tuple><person xmlns="urn:ietf:params:xml:ns:pidf:data-model" id="p1"><activities xmlns="urn:ietf:params:xml:ns:pidf:rpid"><busy/></activities><note>busy</note></person></presence>`},
		{"prefix rebound inside", `<a:presence xmlns:a="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><a:tuple id="t1"><a:status><a:basic>open</a:basic></a:status><a:note xml:lang="en">hi</a:note></a:tuple><a:person xmlns:a="urn:ietf:params:xml:ns:pidf:data-model" id="p1"><b:activities xmlns:b="urn:ietf:params:xml:ns:pidf:rpid"><b:busy/></b:activities><a:note>busy</a:note></a:person></a:presence>`},
		{"white space and comments", "<?xml version='1.0' encoding='utf-8'?>\n<!-- c -->\n<presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='sip:a@b'>\n <tuple id='t1'>\n  <status> <basic> open </basic> </status>\n  <!-- c --><note xml:lang='en'>hi</note>\n </tuple>\n <dm:person id='p1'>\n  <rpid:activities>\n   <rpid:busy/>\n  </rpid:activities>\n  <dm:note>busy</dm:note>\n </dm:person>\n</presence>\n<!-- trailing -->\n"},
		{"byte order mark", "\xef\xbb\xbf" + `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:a@b"><tuple id="t1"><status><basic>Open</basic></status><note xml:lang="en">hi</note></tuple><dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities><dm:note>busy</dm:note></dm:person></presence>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, []byte(tt.body))
			if got := string(Marshal(d)); got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const open = `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b">`
	deep := open + strings.Repeat("<x>", MaxDepth) + strings.Repeat("</x>", MaxDepth) + "</presence>"
	var many strings.Builder
	many.WriteString(open)
	for range MaxElements {
		many.WriteString("<x/>")
	}
	many.WriteString("</presence>")
	var decls strings.Builder
	for i := range MaxNamespaces + 1 {
		fmt.Fprintf(&decls, `<x xmlns:a%d="urn:%d"/>`, i, i)
	}
	// Namespaces declared once on the root and used in many elements are
	// declared again in each kept element: past a budget, that is refused.
	var amp strings.Builder
	amp.WriteString(`<presence xmlns="urn:ietf:params:xml:ns:pidf"`)
	for i := range 50 {
		fmt.Fprintf(&amp, ` xmlns:n%d="urn:%d:%s"`, i, i, strings.Repeat("x", 200))
	}
	amp.WriteString(">")
	for range 100 {
		amp.WriteString("<x")
		for i := range 50 {
			fmt.Fprintf(&amp, ` n%d:a=""`, i)
		}
		amp.WriteString("/>")
	}
	amp.WriteString("</presence>")
	var attrs strings.Builder
	for i := range MaxAttrs + 1 {
		fmt.Fprintf(&attrs, ` a%d="1"`, i)
	}
	tests := []struct {
		name string
		body string
		want string
	}{
		{"empty", "", "pidf: no root element"},
		{"only space", " \n", "pidf: no root element"},
		{"not xml", "hello", "pidf: line 1: text outside the root element"},
		{"wrong root", `<foo/>`, "pidf: root element is <foo>, want presence in urn:ietf:params:xml:ns:pidf"},
		{"root without namespace", `<presence entity="sip:a@b"/>`, "pidf: root element is <presence> in no namespace, want presence in urn:ietf:params:xml:ns:pidf"},
		{"root in another namespace", `<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf"/>`, "pidf: root element is <presence> in urn:ietf:params:xml:ns:cpim-pidf, want presence in urn:ietf:params:xml:ns:pidf"},
		{"dialog-info", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:a@b"/>`, "pidf: root element is <dialog-info>, want presence in urn:ietf:params:xml:ns:pidf"},
		{"mismatched tags", open + "\n<tuple id=\"t\">\n</presence>", "pidf: line 3: element <tuple> closed by </presence>"},
		{"unclosed", open + "<tuple id=\"t\">", "pidf: line 1: document ends before </tuple>"},
		{"truncated tag", open + "<tuple id=", "pidf: line 1: unexpected EOF"},
		{"end tag first", "</presence>", "pidf: line 1: unexpected </presence>"},
		{"two roots", open + "</presence>" + open + "</presence>", "pidf: line 1: element <presence> after the root element"},
		{"text after root", open + "</presence>junk", "pidf: line 1: text outside the root element"},
		{"xml declaration late", open + "<?xml version='1.0'?></presence>", "pidf: line 1: xml declaration not at the start of the document"},
		{"too deep", deep, fmt.Sprintf("pidf: line 1: elements nested more than %d deep", MaxDepth)},
		{"too many elements", many.String(), fmt.Sprintf("pidf: line 1: more than %d elements", MaxElements)},
		{"too many attributes", open + "<x" + attrs.String() + "/></presence>", fmt.Sprintf("pidf: line 1: <x> has more than %d attributes", MaxAttrs)},
		{"too many namespaces", open + decls.String() + "</presence>", fmt.Sprintf("pidf: line 1: more than %d namespace declarations", MaxNamespaces)},
		{"namespace amplification", amp.String(), fmt.Sprintf("pidf: line 1: namespace declarations repeated in elements take more than %d bytes", amp.Len()+4096)},
		{"too large", open + strings.Repeat(" ", MaxSize) + "</presence>", fmt.Sprintf("pidf: document is %d bytes, more than %d", MaxSize+len(open)+len("</presence>"), MaxSize)},
		{"billion laughs", `<?xml version="1.0"?>
<!DOCTYPE presence [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><note>&lol3;</note></presence>`, "pidf: line 6: DOCTYPE not allowed (no DTD, entity declarations are refused)"},
		{"external entity", `<!DOCTYPE presence [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><presence xmlns="urn:ietf:params:xml:ns:pidf"><note>&xxe;</note></presence>`, "pidf: line 1: DOCTYPE not allowed (no DTD, entity declarations are refused)"},
		{"entity declaration alone", `<!ENTITY x "y"><presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, "pidf: line 1: <!ENTITY> declaration not allowed"},
		{"undefined entity", open + `<note>&xxe;</note></presence>`, "pidf: line 1: invalid character entity &xxe;"},
		{"undeclared prefix", open + `<dm:person id="p"/></presence>`, "pidf: line 1: prefix dm of dm:person is not declared"},
		{"undeclared attribute prefix", open + `<tuple id="t" x:y="1"/></presence>`, "pidf: line 1: prefix x of x:y is not declared"},
		{"prefix bound to nothing", open + `<a:x xmlns:a=""/></presence>`, "pidf: line 1: prefix a declared with an empty namespace"},
		{"xml prefix rebound", open + `<x xmlns:xml="urn:x"/></presence>`, "pidf: line 1: prefix xml and namespace http://www.w3.org/XML/1998/namespace go only together"},
		{"duplicate attribute", open + `<tuple id="a" id="b"/></presence>`, "pidf: line 1: attribute id repeated on <tuple>"},
		{"duplicate expanded attribute", open + `<x xmlns:a="urn:x" xmlns:b="urn:x" a:k="1" b:k="2"/></presence>`, "pidf: line 1: attribute b:k repeated on <x>"},
		{"bad basic", open + "<tuple id=\"t\"><status><basic>online</basic></status></tuple></presence>", `pidf: line 1: basic is "online", want open or closed`},
		{"element in note", open + "<note>a<b/>c</note></presence>", "pidf: line 1: element <b> not allowed in <note>"},
		{"unsupported encoding", `<?xml version="1.0" encoding="KOI8-R"?>` + open + "</presence>", `pidf: line 1: opening charset "KOI8-R": not supported, use UTF-8`},
		{"invalid utf-8", open + "<note>\xff</note></presence>", "pidf: line 1: invalid UTF-8"},
		{"xml 1.1", `<?xml version="1.1"?>` + open + "</presence>", `pidf: line 1: unsupported version "1.1"; only version 1.0 is supported`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse([]byte(tt.body))
			if err == nil {
				t.Fatalf("got document %+v, want error %q", d, tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got error %q, want %q", got, tt.want)
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("got error type %T, want *pidf.Error", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Errorf("error %q spans lines, want one line (it is a SIP reason phrase)", err)
			}
		})
	}
}

// TestParseDepthLimit checks that MaxDepth levels are accepted: the limit
// is not off by one.
func TestParseDepthLimit(t *testing.T) {
	n := MaxDepth - 1 // below the root
	body := `<presence xmlns="urn:ietf:params:xml:ns:pidf">` + strings.Repeat("<x>", n) + strings.Repeat("</x>", n) + "</presence>"
	d, err := Parse([]byte(body))
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if got, want := len(d.Others), 1; got != want {
		t.Errorf("got %d others, want %d", got, want)
	}
}

func TestParseErrorLong(t *testing.T) {
	long := strings.Repeat("a", 1000)
	_, err := Parse([]byte(`<` + long + `/>`))
	if err == nil {
		t.Fatal("got no error, want one")
	}
	if n := len(err.Error()); n > 400 {
		t.Errorf("got error of %d bytes, want it clipped", n)
	}
}

func TestMarshalGolden(t *testing.T) {
	for name, body := range sampleDocs(t) {
		t.Run(name, func(t *testing.T) {
			golden(t, "marshal-"+name+".xml", Marshal(mustParse(t, body)))
		})
	}
}

// TestRoundTrip checks that what Marshal writes parses to the same model.
func TestRoundTrip(t *testing.T) {
	for name, body := range sampleDocs(t) {
		t.Run(name, func(t *testing.T) {
			d := mustParse(t, body)
			out := Marshal(d)
			d2 := mustParse(t, out)
			if diff := cmp.Diff(d, d2, cmpDoc); diff != "" {
				t.Errorf("model changed by a round trip (-first +second):\n%s", diff)
			}
			if out2 := Marshal(d2); string(out2) != string(out) {
				t.Errorf("got\n%s\nwant\n%s", out2, out)
			}
		})
	}
}
