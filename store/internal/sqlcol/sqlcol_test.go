package sqlcol

import (
	"database/sql"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestTime(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		col  any
	}{
		{"zero", time.Time{}, nil},
		{"epoch", time.Unix(0, 0), int64(0)},
		{"nanoseconds", time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.FixedZone("x", 3600)), int64(1772597167891011121)},
		{"before epoch", time.Unix(-5, 3), int64(-4999999997)},
		{"latest", time.Unix(0, math.MaxInt64), int64(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col := Time(tt.in)
			if col != tt.col {
				t.Fatalf("Time: got %v, want %v", col, tt.col)
			}
			var nv sql.NullInt64
			if err := nv.Scan(col); err != nil {
				t.Fatal(err)
			}
			got := FromTime(nv)
			if !got.Equal(tt.in) {
				t.Errorf("FromTime: got %v, want %v", got, tt.in)
			}
			if got.Location() != time.UTC {
				t.Errorf("FromTime: got location %v, want UTC", got.Location())
			}
		})
	}
}

func TestStrings(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		col  string
		out  []string
	}{
		{"nil", nil, "[]", nil},
		{"empty", []string{}, "[]", nil},
		{"one", []string{"<sip:p1.example.com;lr>"}, `["<sip:p1.example.com;lr>"]`, []string{"<sip:p1.example.com;lr>"}},
		{"awkward", []string{`"A, B" <sip:a@b;lr>`, "line\nbreak", "", "é"}, "", []string{`"A, B" <sip:a@b;lr>`, "line\nbreak", "", "é"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			col, err := Strings(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if tt.col != "" && col != tt.col {
				t.Errorf("Strings: got %s, want %s", col, tt.col)
			}
			got, err := FromStrings(col)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.out, got); diff != "" {
				t.Errorf("FromStrings (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := FromStrings("[1"); err == nil {
		t.Error("FromStrings of bad JSON: got no error, want one")
	}
}

// TestFromStringsColumns reads column values Strings may not have
// written (by hand, by another tool): the plain fast path and
// encoding/json read them alike.
func TestFromStringsColumns(t *testing.T) {
	tests := []struct {
		name    string
		col     string
		want    []string
		wantErr bool
	}{
		{"one", `["<sip:p;lr>"]`, []string{"<sip:p;lr>"}, false},
		{"several", `["a","b","c"]`, []string{"a", "b", "c"}, false},
		{"empty strings", `["","a",""]`, []string{"", "a", ""}, false},
		{"only an empty string", `[""]`, []string{""}, false},
		{"spaces between", `["a", "b"]`, []string{"a", "b"}, false},
		{"escaped quote", `["a\",\"b"]`, []string{`a","b`}, false},
		{"escaped unicode", `["\u00e9"]`, []string{"é"}, false},
		{"raw unicode", `["é"]`, []string{"é"}, false},
		{"comma in a string", `["a,b"]`, []string{"a,b"}, false},
		{"stray quote", `["a"b"]`, nil, true},
		{"quote-comma-quote pattern", `[",","]`, nil, true},
		{"not an array", `"a"`, nil, true},
		{"raw control character", "[\"a\tb\"]", nil, true},
		{"unterminated", `["a`, nil, true},
		{"empty array with space", `[ ]`, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromStrings(tt.col)
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FromStrings(%s) (-want +got):\n%s", tt.col, diff)
			}
		})
	}
}

// FuzzFromStrings checks that FromStrings reads any column value exactly
// as encoding/json does (the fast path changes nothing), and that
// Strings then FromStrings gives back what json would.
func FuzzFromStrings(f *testing.F) {
	for _, seed := range []string{`[]`, `[""]`, `["a","b"]`, `["<sip:p;lr>","\"E, P\" <sip:e;lr>"]`,
		`["a", "b"]`, `[",","]`, `["é","\u00e9"]`, "[\"\xff\"]", "[\"a\x01\"]", `["a"b"]`, `["`, `null`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, col string) {
		got, err := FromStrings(col)
		var want []string
		werr := json.Unmarshal([]byte(col), &want)
		if len(want) == 0 {
			want = nil
		}
		if col == "" {
			werr = nil // an empty column is the empty list
		}
		if (err != nil) != (werr != nil) {
			t.Fatalf("FromStrings(%q): got error %v, json says %v", col, err, werr)
		}
		if err == nil && !cmp.Equal(got, want) {
			t.Fatalf("FromStrings(%q): got %q, json says %q", col, got, want)
		}

		// Any list survives Strings and FromStrings as json would carry it.
		list := []string{col, "", col + `","` + col}
		enc, err := Strings(list)
		if err != nil {
			t.Fatal(err)
		}
		back, err := FromStrings(enc)
		if err != nil {
			t.Fatalf("FromStrings(Strings(%q)): got error %v", list, err)
		}
		var viaJSON []string
		if err := json.Unmarshal([]byte(enc), &viaJSON); err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(back, viaJSON) {
			t.Fatalf("FromStrings(%s): got %q, json says %q", enc, back, viaJSON)
		}
	})
}

func TestUint32(t *testing.T) {
	for _, v := range []int64{0, 1, math.MaxUint32} {
		if got, err := Uint32("cseq", v); err != nil || int64(got) != v {
			t.Errorf("Uint32(%d): got %d, %v, want %d, nil", v, got, err, v)
		}
	}
	for _, v := range []int64{-1, math.MaxUint32 + 1} {
		if _, err := Uint32("cseq", v); err == nil {
			t.Errorf("Uint32(%d): got no error, want one", v)
		}
	}
}

func TestInt(t *testing.T) {
	for _, v := range []int64{math.MinInt, -1, 0, 1000, math.MaxInt} {
		if got, err := Int("q", v); err != nil || int64(got) != v {
			t.Errorf("Int(%d): got %d, %v, want %d, nil", v, got, err, v)
		}
	}
}

func TestBytes(t *testing.T) {
	if Bytes(nil) != nil || Bytes([]byte{}) != nil {
		t.Error("Bytes of empty: got non-NULL, want NULL")
	}
	if FromBytes([]byte{}) != nil {
		t.Error("FromBytes of empty: got non-nil, want nil")
	}
	if got := Bytes([]byte{0, 1}); !cmp.Equal(got, []byte{0, 1}) {
		t.Errorf("Bytes: got %v, want [0 1]", got)
	}
}
