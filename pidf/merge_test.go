package pidf

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mergeInputs(t testing.TB) []*Document {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "merge", "*.xml"))
	if err != nil || len(files) != 3 {
		t.Fatalf("got merge inputs %v (%v), want 3", files, err)
	}
	docs := make([]*Document, len(files))
	for i, f := range files { // sorted: oldest first
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs[i] = mustParse(t, b)
	}
	return docs
}

func TestMergeGolden(t *testing.T) {
	docs := mergeInputs(t)
	usrloc := mustParse(t, Basic(true, "alice@example.com", "usrloc1", ""))
	tests := []struct {
		golden string
		docs   []*Document
	}{
		{"merge-0.xml", nil},
		{"merge-1.xml", docs[2:]},
		{"merge-2.xml", []*Document{usrloc, mustParse(t, sample(t, "polycom"))}},
		{"merge-3.xml", docs},
		{"merge-nil-entries.xml", []*Document{nil, docs[0], nil}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			out := Merge("sip:alice@example.com", tt.docs)
			golden(t, tt.golden, out)
			if d := mustParse(t, out); d.Entity != "sip:alice@example.com" {
				t.Errorf("got entity %q, want sip:alice@example.com", d.Entity)
			}
		})
	}
}

// TestMergeRules checks the rules of reference section 7.3 on the three
// merge inputs: newest first, newest wins per id, notes and others kept.
func TestMergeRules(t *testing.T) {
	d := mustParse(t, Merge("sip:alice@example.com", mergeInputs(t)))
	var tuples, persons, devices []string
	for _, x := range d.Tuples {
		tuples = append(tuples, x.ID+":"+x.Basic)
	}
	for _, x := range d.Persons {
		persons = append(persons, fmt.Sprint(x.ID, x.Activities))
	}
	for _, x := range d.Devices {
		devices = append(devices, x.ID+":"+x.DeviceID)
	}
	var others []string
	for _, x := range d.Others {
		others = append(others, x.Local)
	}
	got := map[string][]string{"tuples": tuples, "persons": persons, "devices": devices, "others": others}
	want := map[string][]string{
		"tuples":  {"t2:open", "t1:open", "desk:open"},
		"persons": {"p1[on-the-phone]", "p2[busy]"},
		"devices": {"d2:urn:uuid:00000000-0000-0000-0000-0000000000c2", "d1:urn:uuid:00000000-0000-0000-0000-0000000000b1"},
		"others":  {"bar", "foo"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merge (-want +got):\n%s", diff)
	}
	wantNotes := []Note{{Text: "On a call"}, {Text: "Working"}, {Lang: "en", Text: "In the office"}}
	if diff := cmp.Diff(wantNotes, d.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

// TestMergeManyIDs goes past the small id set into the map.
func TestMergeManyIDs(t *testing.T) {
	const n = 3 * setSmall
	docs := make([]*Document, n)
	for i := range docs {
		docs[i] = &Document{
			Tuples:  []Tuple{{ID: "same", Basic: fmt.Sprint(i)}, {ID: fmt.Sprint("t", i)}},
			Persons: []Person{{ID: "p"}, {ID: fmt.Sprint("p", i%5)}},
			Notes:   []Note{{Text: fmt.Sprint(i % 7)}},
		}
	}
	m := merge("e", docs)
	if got, want := len(m.Tuples), n+1; got != want {
		t.Errorf("got %d tuples, want %d", got, want)
	}
	if got, want := m.Tuples[0].Basic, fmt.Sprint(n-1); got != want {
		t.Errorf("got tuple same from document %s, want %s (the newest)", got, want)
	}
	if got, want := len(m.Persons), 1+5; got != want {
		t.Errorf("got %d persons, want %d", got, want)
	}
	if got, want := len(m.Notes), 7; got != want {
		t.Errorf("got %d notes, want %d", got, want)
	}
}

func TestMergeKeepsElementsWithoutID(t *testing.T) {
	a := &Document{Tuples: []Tuple{{Basic: BasicOpen}}, Persons: []Person{{}}, Devices: []Device{{}}}
	m := merge("e", []*Document{a, a})
	if got := [3]int{len(m.Tuples), len(m.Persons), len(m.Devices)}; got != [3]int{2, 2, 2} {
		t.Errorf("got tuples, persons, devices %v, want [2 2 2]", got)
	}
}
