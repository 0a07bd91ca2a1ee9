package commit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLatest(t *testing.T) {
	v := func(s string) *string { return &s }
	var l Latest[string, string]
	if puts, dels := l.Split(); puts != nil || dels != nil {
		t.Fatalf("zero value: got %v %v, want nothing", puts, dels)
	}
	l.Put("a", v("a1"))
	l.Put("b", v("b1"))
	l.Delete("c")
	l.Put("a", v("a2")) // the last change of a wins, a keeps its place
	l.Delete("b")       // a put then a delete is a delete
	l.Put("c", v("c1")) // a delete then a put is a put
	l.Delete("d")
	puts, dels := l.Split()
	var got []string
	for _, p := range puts {
		got = append(got, *p)
	}
	if diff := cmp.Diff([]string{"a2", "c1"}, got); diff != "" {
		t.Errorf("puts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "d"}, dels); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
}
