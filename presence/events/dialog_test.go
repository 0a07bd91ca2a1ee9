package events

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/presence"
)

// The -update flag rewrites golden files. It is defined here unless
// another test file of the package already did, so that the packages'
// test files can each use it.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata")
	}
}

func dwUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// dwGolden checks a NOTIFY body against testdata/<path>: the placeholder
// must sit inside version="", and the body with version 1 inserted is
// what the golden file holds.
func dwGolden(t *testing.T, path string, b presence.Body) []byte {
	t.Helper()
	if b.Data == nil {
		t.Fatalf("got no body, want %s", path)
	}
	at := b.VersionAt
	if at < 1 || at >= len(b.Data) || !bytes.HasSuffix(b.Data[:at], []byte(` version="`)) || b.Data[at] != '"' {
		t.Fatalf("got VersionAt %d in %q, want the offset inside version=\"\"", at, b.Data)
	}
	got := append(append(append([]byte{}, b.Data[:at]...), '1'), b.Data[at:]...)
	path = filepath.Join("testdata", path)
	if dwUpdate() {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", got, path, want)
	}
	return got
}

var dwEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// dwPubs loads publications from testdata/<dir>, oldest first in the
// order given.
func dwPubs(t testing.TB, presentity, event, dir string, files ...string) []*presence.Publication {
	t.Helper()
	var pubs []*presence.Publication
	for i, f := range files {
		body, err := os.ReadFile(filepath.Join("testdata", dir, f))
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, &presence.Publication{
			ID: f, Presentity: presentity, Event: event, ETag: "e" + f,
			Expires: dwEpoch.Add(time.Hour), Updated: dwEpoch.Add(time.Duration(i) * time.Second),
			ContentType: dialoginfo.ContentType, Body: body,
		})
	}
	return pubs
}

const alice = "sip:alice@example.com"

func TestDialogName(t *testing.T) {
	p := NewDialog(DialogOptions{})
	if got, want := p.Name(), "dialog"; got != want {
		t.Errorf("got name %q, want %q", got, want)
	}
	if got := p.ContentTypes(); len(got) != 1 || got[0] != "application/dialog-info+xml" {
		t.Errorf("got content types %q, want [application/dialog-info+xml]", got)
	}
}

func TestDialogPrepare(t *testing.T) {
	good, err := os.ReadFile("testdata/dialog/pub-call1-confirmed.xml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		ct      string
		body    string
		wantErr string
	}{
		{"valid", "application/dialog-info+xml", string(good), ""},
		{"content type with parameter", "Application/Dialog-Info+XML; charset=utf-8", string(good), ""},
		{"wrong content type", "application/pidf+xml", string(good), `content type "application/pidf+xml"`},
		{"wrong root", "application/dialog-info+xml", `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"/>`,
			"dialoginfo: root element is <presence>, want dialog-info in urn:ietf:params:xml:ns:dialog-info"},
		{"truncated", "application/dialog-info+xml", string(good[:len(good)/2]), "document truncated"},
		{"billion laughs", "application/dialog-info+xml", `<!DOCTYPE d [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]><dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" entity="&b;"/>`, "DOCTYPE"},
		{"deep nesting", "application/dialog-info+xml", `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info">` + strings.Repeat("<a>", 64) + strings.Repeat("</a>", 64) + `</dialog-info>`, "nested deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewDialog(DialogOptions{}).Prepare(tt.ct, []byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if string(got) != tt.body {
					t.Errorf("got body %q, want it stored as published", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestDialogFull(t *testing.T) {
	tests := []struct {
		name   string
		opts   DialogOptions
		files  []string
		golden string
		states map[string]string // dialog id -> state in the result
	}{
		{"no publication", DialogOptions{}, nil, "full-0.golden", map[string]string{}},
		{"no publication, dummy dialog", DialogOptions{DummyDialog: true}, nil, "full-0-dummy.golden",
			map[string]string{"idle": "terminated"}},
		{"one publication", DialogOptions{}, []string{"pub-call1-confirmed.xml"}, "full-1.golden",
			map[string]string{"c1@pc33.0": "confirmed"}},
		{"two publications", DialogOptions{}, []string{"pub-call1-confirmed.xml", "pub-call2-early.xml"}, "full-2.golden",
			map[string]string{"c1@pc33.0": "confirmed", "c2@gw.1": "early"}},
		{"three with a forked call", DialogOptions{},
			[]string{"pub-call2-early.xml", "pub-fork-branch0-cancelled.xml", "pub-fork-branch1-confirmed.xml"}, "full-3-fork.golden",
			map[string]string{"c2@gw.1": "early", "f9@pbx.0": "terminated", "f9@pbx.1": "confirmed"}},
		{"newest publication wins for a dialog id", DialogOptions{},
			[]string{"pub-call1-confirmed.xml", "pub-call2-early.xml", "pub-call1-terminated.xml"}, "full-newest-wins.golden",
			map[string]string{"c1@pc33.0": "terminated", "c2@gw.1": "early"}},
		{"phone publishing full state", DialogOptions{}, []string{"pub-call1-confirmed.xml", "pub-phone-full.xml"}, "full-phone.golden",
			map[string]string{"c1@pc33.0": "confirmed", "ph-77": "confirmed", "ph-78": "proceeding"}},
		{"empty publication", DialogOptions{}, []string{"pub-empty.xml"}, "full-0.golden", map[string]string{}},
		{"empty publication, dummy dialog", DialogOptions{DummyDialog: true}, []string{"pub-empty.xml"}, "full-0-dummy.golden",
			map[string]string{"idle": "terminated"}},
		{"force single: early wins", DialogOptions{ForceSingleDialog: true},
			[]string{"pub-call1-confirmed.xml", "pub-call2-early.xml", "pub-fork-branch0-cancelled.xml"}, "full-single-early.golden",
			map[string]string{"c2@gw.1": "early"}},
		{"force single: confirmed beats proceeding and terminated", DialogOptions{ForceSingleDialog: true},
			[]string{"pub-fork-branch0-cancelled.xml", "pub-phone-full.xml"}, "full-single-confirmed.golden",
			map[string]string{"ph-77": "confirmed"}},
		{"force single with dummy and no publication", DialogOptions{ForceSingleDialog: true, DummyDialog: true}, nil,
			"full-0-dummy.golden", map[string]string{"idle": "terminated"}},
		{"dummy not added to a busy line", DialogOptions{DummyDialog: true}, []string{"pub-call1-confirmed.xml"}, "full-1.golden",
			map[string]string{"c1@pc33.0": "confirmed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pubs := dwPubs(t, alice, "dialog", "dialog", tt.files...)
			b := NewDialog(tt.opts).Full(alice, pubs)
			got := dwGolden(t, filepath.Join("dialog", tt.golden), b)
			doc, err := dialoginfo.Parse(got)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if doc.State != dialoginfo.Full || doc.Entity != alice {
				t.Errorf("got state %q entity %q, want full %s", doc.State, doc.Entity, alice)
			}
			states := map[string]string{}
			for _, d := range doc.Dialogs {
				states[d.ID] = d.State
			}
			if len(states) != len(tt.states) || len(doc.Dialogs) != len(tt.states) {
				t.Errorf("got dialogs %v, want %v", states, tt.states)
			}
			for id, want := range tt.states {
				if states[id] != want {
					t.Errorf("dialog %s: got state %q, want %q", id, states[id], want)
				}
			}
		})
	}
}

func TestDialogFullSkipsBrokenBody(t *testing.T) {
	pubs := dwPubs(t, alice, "dialog", "dialog", "pub-call1-confirmed.xml", "pub-call2-early.xml")
	pubs[1].Body = []byte("<dialog-info")
	b := NewDialog(DialogOptions{}).Full(alice, pubs)
	doc, err := dialoginfo.Parse(withVersion(b, "1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Dialogs) != 1 || doc.Dialogs[0].ID != "c1@pc33.0" {
		t.Errorf("got %+v, want only dialog c1@pc33.0", doc.Dialogs)
	}
}

func withVersion(b presence.Body, v string) []byte {
	return append(append(append([]byte{}, b.Data[:b.VersionAt]...), v...), b.Data[b.VersionAt:]...)
}

func TestDialogChanged(t *testing.T) {
	tests := []struct {
		name    string
		opts    DialogOptions
		live    []string // publications after the change, oldest first
		changed string
		removed bool
		wantOK  bool
		golden  string
		states  map[string]string
	}{
		{"partial publication modified", DialogOptions{},
			[]string{"pub-call2-early.xml", "pub-call1-confirmed.xml"}, "pub-call1-confirmed.xml", false,
			true, "changed-partial.golden", map[string]string{"c1@pc33.0": "confirmed"}},
		{"forked call: each branch on its own", DialogOptions{},
			[]string{"pub-fork-branch1-confirmed.xml", "pub-fork-branch0-cancelled.xml"}, "pub-fork-branch0-cancelled.xml", false,
			true, "changed-fork-branch0.golden", map[string]string{"f9@pbx.0": "terminated"}},
		{"publication removed", DialogOptions{},
			[]string{"pub-call2-early.xml"}, "pub-call1-confirmed.xml", true,
			true, "changed-removed.golden", map[string]string{"c1@pc33.0": "terminated"}},
		{"removed but dialog still published elsewhere", DialogOptions{},
			[]string{"pub-call1-confirmed.xml"}, "pub-call1-terminated.xml", true,
			true, "changed-removed-still-live.golden", map[string]string{"c1@pc33.0": "confirmed"}},
		{"removed full-state publication", DialogOptions{},
			nil, "pub-phone-full.xml", true,
			true, "changed-removed-phone.golden", map[string]string{"ph-77": "terminated", "ph-78": "terminated"}},
		{"new full-state publication: its dialogs as partial", DialogOptions{},
			[]string{"pub-phone-full.xml"}, "pub-phone-full.xml", false, true, "changed-new-full.golden", map[string]string{"ph-77": "confirmed", "ph-78": "proceeding"}},
		{"empty publication: full state instead", DialogOptions{},
			[]string{"pub-empty.xml"}, "pub-empty.xml", false, false, "", nil},
		{"force single dialog: full state instead", DialogOptions{ForceSingleDialog: true},
			[]string{"pub-call1-confirmed.xml"}, "pub-call1-confirmed.xml", false, false, "", nil},
		{"force single dialog, removed: full state instead", DialogOptions{ForceSingleDialog: true},
			nil, "pub-call1-confirmed.xml", true, false, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			live := dwPubs(t, alice, "dialog", "dialog", tt.live...)
			ch := presence.Change{Pub: dwPubs(t, alice, "dialog", "dialog", tt.changed)[0], Removed: tt.removed}
			b, ok := NewDialog(tt.opts).Changed(alice, live, ch)
			if ok != tt.wantOK {
				t.Fatalf("got ok %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			got := dwGolden(t, filepath.Join("dialog", tt.golden), b)
			doc, err := dialoginfo.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if doc.State != dialoginfo.Partial {
				t.Errorf("got state %q, want partial", doc.State)
			}
			if len(doc.Dialogs) != len(tt.states) {
				t.Errorf("got %d dialogs, want %d", len(doc.Dialogs), len(tt.states))
			}
			for _, d := range doc.Dialogs {
				if want := tt.states[d.ID]; d.State != want {
					t.Errorf("dialog %s: got state %q, want %q", d.ID, d.State, want)
				}
			}
		})
	}
}

// TestDialogConcurrent runs the package from several goroutines on shared
// publications (run with -race) and checks they are left unmodified.
func TestDialogConcurrent(t *testing.T) {
	pkgs := []presence.EventPackage{
		NewDialog(DialogOptions{}),
		NewDialog(DialogOptions{ForceSingleDialog: true, DummyDialog: true}),
		NewSLA(SLAOptions{FixRemoteTarget: true}),
	}
	pubs := dwPubs(t, alice, "dialog", "dialog", "pub-call1-confirmed.xml", "pub-call2-early.xml", "pub-phone-full.xml")
	before := make([][]byte, len(pubs))
	for i, p := range pubs {
		before[i] = append([]byte{}, p.Body...)
	}
	want := make([][]byte, len(pkgs))
	for i, pkg := range pkgs {
		want[i] = pkg.Full(alice, pubs).Data
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Go(func() {
			for n := 0; n < 20; n++ {
				for i, pkg := range pkgs {
					if got := pkg.Full(alice, pubs).Data; !bytes.Equal(got, want[i]) {
						t.Errorf("%s: got %s, want %s", pkg.Name(), got, want[i])
						return
					}
					pkg.Changed(alice, pubs, presence.Change{Pub: pubs[n%len(pubs)], Removed: n%2 == 0})
				}
			}
		})
	}
	wg.Wait()
	for i, p := range pubs {
		if !bytes.Equal(p.Body, before[i]) {
			t.Errorf("publication %s modified: got %s, want %s", p.ID, p.Body, before[i])
		}
	}
}

func BenchmarkDialogFull10(b *testing.B) {
	var pubs []*presence.Publication
	for i := 0; i < 10; i++ {
		doc := dialoginfo.Build(dialoginfo.Publication{
			Entity: alice, ID: dialoginfo.BranchID("call-"+string(rune('a'+i))+"@pbx.example.com", i%3),
			CallID: "call-" + string(rune('a'+i)) + "@pbx.example.com", LocalTag: "lt", RemoteTag: "rt",
			Direction: dialoginfo.Initiator, State: []string{dialoginfo.Early, dialoginfo.Confirmed, dialoginfo.Terminated}[i%3],
			Local:  &dialoginfo.Party{URI: alice, Display: "Alice"},
			Remote: &dialoginfo.Party{URI: "sip:bob@example.com", Display: "Bob"},
		})
		body, _ := dialoginfo.Write(doc, false)
		pubs = append(pubs, &presence.Publication{ID: string(rune('a' + i)), Presentity: alice, Event: "dialog",
			Updated: dwEpoch.Add(time.Duration(i) * time.Second), ContentType: dialoginfo.ContentType, Body: body})
	}
	pkg := NewDialog(DialogOptions{})
	b.ReportAllocs()
	for b.Loop() {
		if body := pkg.Full(alice, pubs); body.Data == nil {
			b.Fatal("no body")
		}
	}
}

// TestDialogChangedOld: a full-state body replacing an older one reports
// the dialogs it dropped as terminated, in a partial document.
func TestDialogChangedOld(t *testing.T) {
	old := dwPubs(t, alice, "dialog", "dialog", "pub-phone-full.xml")[0]
	cur := dwPubs(t, alice, "dialog", "dialog", "pub-empty.xml")[0]
	b, ok := NewDialog(DialogOptions{}).Changed(alice, []*presence.Publication{cur}, presence.Change{Pub: cur, Old: old})
	if !ok {
		t.Fatal("got ok false, want a partial document")
	}
	got := dwGolden(t, filepath.Join("dialog", "changed-dropped.golden"), b)
	doc, err := dialoginfo.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if doc.State != dialoginfo.Partial || len(doc.Dialogs) == 0 {
		t.Fatalf("got %s, want a partial document with the dropped dialogs", got)
	}
	for _, d := range doc.Dialogs {
		if d.State != dialoginfo.Terminated {
			t.Errorf("dialog %s: got %s, want terminated", d.ID, d.State)
		}
	}
}
