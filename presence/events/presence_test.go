package events

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/presence"
)

// The -update flag rewrites golden files; whichever test file of the
// package comes first defines it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata")
	}
}

const presAlice = "sip:alice@example.com"

var presEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func presUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// presGolden compares a presence NOTIFY body with
// testdata/presence/<name>, or rewrites it with -update.
func presGolden(t *testing.T, name string, b presence.Body) {
	t.Helper()
	if b.VersionAt != -1 {
		t.Errorf("got VersionAt %d, want -1 (PIDF has no version)", b.VersionAt)
	}
	path := filepath.Join("testdata", "presence", name)
	if presUpdate() {
		if err := os.WriteFile(path, b.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Data, want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", b.Data, path, want)
	}
}

// presPubs loads publications from testdata/presence, oldest first in the
// order given.
func presPubs(t testing.TB, files ...string) []*presence.Publication {
	t.Helper()
	pubs := make([]*presence.Publication, 0, len(files))
	for i, f := range files {
		body, err := os.ReadFile(filepath.Join("testdata", "presence", f))
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, &presence.Publication{
			ID: f, Presentity: presAlice, Event: "presence", ETag: "e" + f,
			Expires: presEpoch.Add(time.Hour), Updated: presEpoch.Add(time.Duration(i) * time.Second),
			ContentType: pidf.ContentType, Body: body,
		})
	}
	return pubs
}

func TestPresenceName(t *testing.T) {
	p := NewPresence(PresenceOptions{})
	if got := p.Name(); got != "presence" {
		t.Errorf("got name %q, want presence", got)
	}
	if diff := cmp.Diff([]string{"application/pidf+xml"}, p.ContentTypes()); diff != "" {
		t.Errorf("content types (-want +got):\n%s", diff)
	}
}

func TestPresencePrepare(t *testing.T) {
	const open = `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:alice@example.com">`
	valid := []byte(open + `<tuple id="t"><status><basic>open</basic></status></tuple></presence>`)
	tests := []struct {
		name        string
		contentType string
		body        string
		want        string // error text, "" for none
	}{
		{"valid", "application/pidf+xml", string(valid), ""},
		{"content type with charset, any case", "Application/PIDF+XML; charset=UTF-8", string(valid), ""},
		{"wrong content type", "application/xpidf+xml", string(valid), `content type "application/xpidf+xml": want application/pidf+xml`},
		{"empty content type", "", string(valid), `content type "": want application/pidf+xml`},
		{"empty body", "application/pidf+xml", "", "pidf: no root element"},
		{"malformed", "application/pidf+xml", open + "\n<tuple id=\"t\"><status></tuple>", "pidf: line 2: element <status> closed by </tuple>"},
		{"wrong root", "application/pidf+xml", `<foo/>`, "pidf: root element is <foo>, want presence in urn:ietf:params:xml:ns:pidf"},
		{"dialog-info body", "application/pidf+xml", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:a@b"/>`,
			"pidf: root element is <dialog-info>, want presence in urn:ietf:params:xml:ns:pidf"},
		{"deep nesting", "application/pidf+xml", open + strings.Repeat("<x>", 40) + strings.Repeat("</x>", 40) + "</presence>",
			fmt.Sprintf("pidf: line 1: elements nested more than %d deep", pidf.MaxDepth)},
		{"billion laughs", "application/pidf+xml", `<!DOCTYPE presence [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>` + open + `<note>&b;</note></presence>`,
			"pidf: line 1: DOCTYPE not allowed (no DTD, entity declarations are refused)"},
		{"external entity", "application/pidf+xml", `<!DOCTYPE presence [<!ENTITY x SYSTEM "file:///etc/passwd">]>` + open + `<note>&x;</note></presence>`,
			"pidf: line 1: DOCTYPE not allowed (no DTD, entity declarations are refused)"},
		{"undefined entity", "application/pidf+xml", open + `<note>&x;</note></presence>`, "pidf: line 1: invalid character entity &x;"},
		{"bad basic", "application/pidf+xml", open + `<tuple id="t"><status><basic>busy</basic></status></tuple></presence>`, `pidf: line 1: basic is "busy", want open or closed`},
	}
	p := NewPresence(PresenceOptions{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Prepare(tt.contentType, []byte(tt.body))
			if tt.want != "" {
				if err == nil || err.Error() != tt.want {
					t.Fatalf("got error %v, want %q", err, tt.want)
				}
				if got != nil {
					t.Errorf("got body %q with the error, want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if string(got) != tt.body {
				t.Errorf("got body %q, want it unchanged %q", got, tt.body)
			}
		})
	}
}

type presIDs struct {
	tuples, persons, devices []string
	notes                    []string
}

func presIDsOf(t *testing.T, data []byte) presIDs {
	t.Helper()
	d, err := pidf.Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, data)
	}
	if d.Entity != presAlice {
		t.Errorf("got entity %q, want %s", d.Entity, presAlice)
	}
	var ids presIDs
	for _, x := range d.Tuples {
		ids.tuples = append(ids.tuples, x.ID+":"+x.Basic)
	}
	for _, x := range d.Persons {
		ids.persons = append(ids.persons, fmt.Sprint(x.ID, x.Activities, x.Mood))
	}
	for _, x := range d.Devices {
		ids.devices = append(ids.devices, x.ID+":"+x.Notes[0].Text)
	}
	for _, x := range d.Notes {
		ids.notes = append(ids.notes, x.Text)
	}
	return ids
}

func TestPresenceFull(t *testing.T) {
	tests := []struct {
		name   string
		opts   PresenceOptions
		files  []string
		golden string // "" for no body
		want   presIDs
	}{
		{"no publication, no offline body", PresenceOptions{}, nil, "", presIDs{}},
		{"no publication, offline body", PresenceOptions{OfflineBody: true}, nil, "full-0-offline.xml",
			presIDs{tuples: []string{"offline:closed"}}},
		{"one publication", PresenceOptions{OfflineBody: true}, []string{"pub-polycom.xml"}, "full-1.xml", presIDs{
			tuples: []string{"t1:open"}, persons: []string{"p1[on-the-phone] []"},
			devices: []string{"d1:desk phone, old"}, notes: []string{"Busy"},
		}},
		{"two publications", PresenceOptions{}, []string{"pub-usrloc.xml", "pub-polycom.xml"}, "full-2.xml", presIDs{
			tuples: []string{"t1:open", "ul-5b1e7c:open"}, persons: []string{"p1[on-the-phone] []"},
			devices: []string{"d1:desk phone, old"}, notes: []string{"Busy"},
		}},
		{"three publications, newest wins per id", PresenceOptions{}, []string{"pub-usrloc.xml", "pub-polycom.xml", "pub-bria.xml"}, "full-3.xml", presIDs{
			tuples:  []string{"t1:closed", "ul-5b1e7c:open"},
			persons: []string{"p1[away] []", "p2[] [happy]"},
			devices: []string{"d1:desk phone, new"},
			notes:   []string{"Busy", "Back at 3"},
		}},
		{"broken publication left out", PresenceOptions{}, []string{"pub-usrloc.xml", "pub-broken.xml"}, "full-broken.xml", presIDs{
			tuples: []string{"ul-5b1e7c:open"},
		}},
		{"only a broken publication, offline body", PresenceOptions{OfflineBody: true}, []string{"pub-broken.xml"}, "full-0-offline.xml",
			presIDs{tuples: []string{"offline:closed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewPresence(tt.opts).Full(presAlice, presPubs(t, tt.files...))
			if tt.golden == "" {
				if b.Data != nil || b.VersionAt != -1 {
					t.Fatalf("got body %+v, want presence.NoBody", b)
				}
				return
			}
			presGolden(t, tt.golden, b)
			if diff := cmp.Diff(tt.want, presIDsOf(t, b.Data), cmp.AllowUnexported(presIDs{})); diff != "" {
				t.Errorf("merged document (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPresenceFullOrder gives the publications out of order: the newest
// by Updated must still win, and the given slice must not be reordered.
func TestPresenceFullOrder(t *testing.T) {
	pubs := presPubs(t, "pub-usrloc.xml", "pub-polycom.xml", "pub-bria.xml")
	shuffled := []*presence.Publication{pubs[2], pubs[0], pubs[1]}
	got := NewPresence(PresenceOptions{}).Full(presAlice, shuffled)
	want := NewPresence(PresenceOptions{}).Full(presAlice, pubs)
	if !bytes.Equal(got.Data, want.Data) {
		t.Errorf("got\n%s\nwant\n%s", got.Data, want.Data)
	}
	if shuffled[0] != pubs[2] || shuffled[1] != pubs[0] || shuffled[2] != pubs[1] {
		t.Error("Full reordered the slice it was given")
	}
}

func TestPresenceMixDialog(t *testing.T) {
	tests := []struct {
		name   string
		state  string
		files  []string
		golden string
		want   presIDs
	}{
		{"no call, no publication", "", nil, "", presIDs{}},
		{"call up, no publication", PresenceDialogConfirmed, nil, "full-mix-confirmed-0.xml", presIDs{
			tuples: []string{"tuple_mixingid:open"}, persons: []string{"pers_mixingid[on-the-phone] []"}, notes: []string{"On the phone"},
		}},
		{"ringing, one publication", PresenceDialogEarly, []string{"pub-usrloc.xml"}, "full-mix-early-1.xml", presIDs{
			tuples: []string{"tuple_mixingid:open", "ul-5b1e7c:open"}, persons: []string{"pers_mixingid[on-the-phone] []"}, notes: []string{"Proceeding"},
		}},
		{"trying counts as early", "trying", []string{"pub-usrloc.xml"}, "full-mix-early-1.xml", presIDs{
			tuples: []string{"tuple_mixingid:open", "ul-5b1e7c:open"}, persons: []string{"pers_mixingid[on-the-phone] []"}, notes: []string{"Proceeding"},
		}},
		{"terminated is no call", "terminated", []string{"pub-usrloc.xml"}, "full-mix-none-1.xml", presIDs{
			tuples: []string{"ul-5b1e7c:open"},
		}},
		{"call up, three publications", PresenceDialogConfirmed, []string{"pub-usrloc.xml", "pub-polycom.xml", "pub-bria.xml"}, "full-mix-confirmed-3.xml", presIDs{
			tuples:  []string{"tuple_mixingid:open", "t1:closed", "ul-5b1e7c:open"},
			persons: []string{"pers_mixingid[on-the-phone] []", "p1[away] []", "p2[] [happy]"},
			devices: []string{"d1:desk phone, new"},
			notes:   []string{"On the phone", "Busy", "Back at 3"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []string
			p := NewPresence(PresenceOptions{DialogState: func(presentity string) string {
				asked = append(asked, presentity)
				return tt.state
			}})
			b := p.Full(presAlice, presPubs(t, tt.files...))
			if diff := cmp.Diff([]string{presAlice}, asked); diff != "" {
				t.Errorf("DialogState calls (-want +got):\n%s", diff)
			}
			if tt.golden == "" {
				if b.Data != nil {
					t.Fatalf("got body %s, want none", b.Data)
				}
				return
			}
			presGolden(t, tt.golden, b)
			if diff := cmp.Diff(tt.want, presIDsOf(t, b.Data), cmp.AllowUnexported(presIDs{})); diff != "" {
				t.Errorf("merged document (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPresenceChanged(t *testing.T) {
	pubs := presPubs(t, "pub-usrloc.xml", "pub-polycom.xml")
	p := NewPresence(PresenceOptions{OfflineBody: true})
	for _, removed := range []bool{false, true} {
		b, ok := p.Changed(presAlice, pubs[:1], presence.Change{Pub: pubs[1], Removed: removed})
		if ok {
			t.Errorf("removed %v: got ok true with %s, want false (watchers get full state)", removed, b.Data)
		}
	}
}

// TestPresenceConcurrent runs the package from several goroutines on
// shared publications (run with -race) and checks they are left
// unmodified.
func TestPresenceConcurrent(t *testing.T) {
	pubs := presPubs(t, "pub-usrloc.xml", "pub-polycom.xml", "pub-bria.xml")
	before := make([][]byte, len(pubs))
	for i, p := range pubs {
		before[i] = bytes.Clone(p.Body)
	}
	p := NewPresence(PresenceOptions{OfflineBody: true, DialogState: func(string) string { return PresenceDialogConfirmed }})
	want := p.Full(presAlice, pubs).Data
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				if got := p.Full(presAlice, pubs).Data; !bytes.Equal(got, want) {
					t.Errorf("got %s, want %s", got, want)
					return
				}
				if _, err := p.Prepare(pidf.ContentType, pubs[2].Body); err != nil {
					t.Errorf("Prepare: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, pub := range pubs {
		if !bytes.Equal(pub.Body, before[i]) {
			t.Errorf("publication %s modified: got %s, want %s", pub.ID, pub.Body, before[i])
		}
	}
}

// BenchmarkPresenceFull10 merges ten publications of one presentity, in
// the styles of the sample phones, into one NOTIFY body.
func BenchmarkPresenceFull10(b *testing.B) {
	samples := presPubs(b, "pub-usrloc.xml", "pub-polycom.xml", "pub-bria.xml")
	pubs := make([]*presence.Publication, 10)
	for i := range pubs {
		pub := *samples[i%len(samples)]
		// Distinct ids so that nothing is deduplicated away.
		pub.Body = bytes.ReplaceAll(pub.Body, []byte(`id="`), fmt.Appendf(nil, `id="n%d-`, i))
		pub.Updated = presEpoch.Add(time.Duration(i) * time.Second)
		pubs[i] = &pub
	}
	p := NewPresence(PresenceOptions{OfflineBody: true})
	b.ReportAllocs()
	for b.Loop() {
		if body := p.Full(presAlice, pubs); body.Data == nil {
			b.Fatal("no body")
		}
	}
}
