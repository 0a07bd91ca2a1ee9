package presence

import (
	"slices"
	"testing"
)

// TestSubSet: one subscription without a map, then a map from the second
// on; removal while ranging is safe either way.
func TestSubSet(t *testing.T) {
	var s subSet
	ids := func() []string {
		var out []string
		for sub := range s.all {
			out = append(out, sub.ID)
		}
		slices.Sort(out)
		return out
	}
	a, b, c := &subState{Subscription: Subscription{ID: "a"}}, &subState{Subscription: Subscription{ID: "b"}}, &subState{Subscription: Subscription{ID: "c"}}
	s.put(a)
	if s.many != nil || s.len() != 1 || s.get("a") != a || s.get("b") != nil {
		t.Fatalf("one: %+v", s)
	}
	s.put(a) // again: still one, no map
	if s.many != nil || s.len() != 1 {
		t.Fatalf("same again: %+v", s)
	}
	s.put(b)
	s.put(c)
	if s.len() != 3 || s.get("b") != b || !slices.Equal(ids(), []string{"a", "b", "c"}) {
		t.Fatalf("three: %v", ids())
	}
	for sub := range s.all { // delete while ranging
		if sub.ID != "b" {
			s.del(sub.ID)
		}
	}
	if !slices.Equal(ids(), []string{"b"}) || s.len() != 1 {
		t.Fatalf("after deletes: %v", ids())
	}
	s.del("b")
	if s.len() != 0 || len(ids()) != 0 {
		t.Fatalf("empty: %v", ids())
	}
	var one subSet
	one.put(a)
	for sub := range one.all {
		one.del(sub.ID)
	}
	if one.len() != 0 || one.get("a") != nil {
		t.Fatalf("one deleted while ranging: %+v", one)
	}
}
