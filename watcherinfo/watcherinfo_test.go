package watcherinfo

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

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
			if diff := cmp.Diff(doc, doc2); diff != "" {
				t.Errorf("Parse(Write(doc)) differs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseModel(t *testing.T) {
	src, err := os.ReadFile("testdata/prefixed-extensions.xml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	want := &Document{Version: 7, HasVersion: true, State: Full, Lists: []WatcherList{
		{Resource: "sip:alice@example.com", Package: "presence", Watchers: []Watcher{
			{ID: "w1", Status: StatusWaiting, Event: EventGiveup, URI: "sip:dave@example.org"},
		}},
		{Resource: "sip:alice@example.com", Package: "dialog", Watchers: []Watcher{
			{ID: "w2", Status: StatusActive, Event: EventSubscribe, Expiration: 60, HasExpiration: true, URI: "sip:erin@example.org"},
		}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	const ns = `xmlns="urn:ietf:params:xml:ns:watcherinfo"`
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "watcherinfo: empty document"},
		{"wrong root", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"/>`,
			"watcherinfo: root element is <dialog-info>, want watcherinfo in urn:ietf:params:xml:ns:watcherinfo"},
		{"wrong namespace", `<watcherinfo xmlns="urn:x"/>`, `in namespace "urn:x"`},
		{"truncated", `<watcherinfo ` + ns + `><watcher-list resource="sip:a@b" package="presence"><watcher status="active"`, "document truncated"},
		{"doctype", `<!DOCTYPE watcherinfo><watcherinfo ` + ns + `/>`, "DOCTYPE"},
		{"billion laughs", `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><watcherinfo ` + ns + `><watcher-list resource="&b;"/></watcherinfo>`, "DOCTYPE"},
		{"deep nesting", `<watcherinfo ` + ns + `>` + strings.Repeat("<x>", 40) + strings.Repeat("</x>", 40) + `</watcherinfo>`, "nested deeper than 32"},
		{"too many elements", `<watcherinfo ` + ns + `>` + strings.Repeat("<x/>", MaxElements) + `</watcherinfo>`, "more than 20000 elements"},
		{"two roots", `<watcherinfo ` + ns + `/><watcherinfo ` + ns + `/>`, "more than one root"},
		{"bad version", `<watcherinfo ` + ns + ` version="x"/>`, `version "x"`},
		{"bad state", `<watcherinfo ` + ns + ` state="half"/>`, `state "half"`},
		{"bad status", `<watcherinfo ` + ns + `><watcher-list><watcher id="1" status="happy" event="subscribe">sip:a@b</watcher></watcher-list></watcherinfo>`, `status "happy"`},
		{"bad expiration", `<watcherinfo ` + ns + `><watcher-list><watcher id="1" status="active" expiration="-1">sip:a@b</watcher></watcher-list></watcherinfo>`, `expiration "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.in))
			if err == nil {
				t.Fatalf("got %+v, want error %q", doc, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "watcherinfo: ") {
				t.Errorf("got error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestWriteVersionPlaceholder(t *testing.T) {
	doc := &Document{Version: 9, HasVersion: true, State: Partial, Lists: []WatcherList{{
		Resource: "sip:a@example.com", Package: "presence",
		Watchers: []Watcher{{ID: "1", Status: StatusActive, Event: EventApproved, URI: "sip:b@example.com"}},
	}}}
	data, at := Write(doc, true)
	data = append(data[:at:at], append([]byte("12"), data[at:]...)...)
	got, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s): %v", data, err)
	}
	if !got.HasVersion || got.Version != 12 {
		t.Errorf("got version %d, want 12", got.Version)
	}
	if _, at := Write(doc, false); at != -1 {
		t.Errorf("got versionAt %d, want -1", at)
	}
}
