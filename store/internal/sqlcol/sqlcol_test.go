package sqlcol

import (
	"database/sql"
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
