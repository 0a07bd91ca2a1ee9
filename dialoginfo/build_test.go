package dialoginfo

import (
	"bytes"
	"os"
	"testing"
)

func TestPriority(t *testing.T) {
	order := []string{"", Terminated, Trying, Proceeding, Confirmed, Early}
	for i := 1; i < len(order); i++ {
		if lo, hi := Priority(order[i-1]), Priority(order[i]); lo >= hi {
			t.Errorf("got Priority(%q)=%d >= Priority(%q)=%d, want lower", order[i-1], lo, order[i], hi)
		}
	}
}

func TestMostInteresting(t *testing.T) {
	ds := func(states ...string) []Dialog {
		var out []Dialog
		for i, s := range states {
			out = append(out, Dialog{ID: string(rune('a' + i)), State: s})
		}
		return out
	}
	tests := []struct {
		name   string
		states []Dialog
		want   int
	}{
		{"none", nil, -1},
		{"one", ds(Terminated), 0},
		{"early beats confirmed", ds(Confirmed, Early, Terminated), 1},
		{"confirmed beats proceeding", ds(Proceeding, Confirmed, Trying), 1},
		{"proceeding beats trying", ds(Trying, Proceeding), 1},
		{"trying beats terminated", ds(Terminated, Trying, Terminated), 1},
		{"tie: last wins", ds(Confirmed, Confirmed, Terminated), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MostInteresting(tt.states); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBranchID(t *testing.T) {
	tests := []struct {
		callID string
		branch int
		want   string
	}{
		{"abc@h", 0, "abc@h.0"},
		{"abc@h", 1, "abc@h.1"},
		{"abc@h", 26, "abc@h.1a"},
	}
	for _, tt := range tests {
		if got := BranchID(tt.callID, tt.branch); got != tt.want {
			t.Errorf("BranchID(%q, %d): got %q, want %q", tt.callID, tt.branch, got, tt.want)
		}
	}
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		pub  Publication
	}{
		{"build-caller-early", Publication{
			Entity: "sip:alice@example.com", ID: BranchID("a84b4c76e66710@pc33", 1),
			CallID: "a84b4c76e66710@pc33", LocalTag: "1928301774", RemoteTag: "as9f",
			Direction: Initiator, State: Early,
			Local:  &Party{URI: "sip:alice@example.com", Display: "Alice"},
			Remote: &Party{URI: "sip:bob@example.com", Display: "Bob", Target: "sip:bob@192.0.2.4:5060"},
		}},
		{"build-callee-terminated-minimal", Publication{
			Entity: "sip:bob@example.com", ID: "x.0", Direction: Recipient,
			State: Terminated, Event: EventCancelled, Code: 487,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := Build(tt.pub)
			got, at := Write(doc, false)
			if at != -1 {
				t.Errorf("got versionAt %d, want -1", at)
			}
			golden := "testdata/" + tt.name + ".golden"
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
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			back, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if g, w := back.Dialogs[0].State, tt.pub.State; g != w {
				t.Errorf("got state %q, want %q", g, w)
			}
		})
	}
}
