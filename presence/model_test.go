package presence

import (
	"errors"
	"testing"
)

// TestParsedOncePerBody: an event package's parse runs once per body, the
// result is kept until the body is replaced, and a failed parse is not
// kept.
func TestParsedOncePerBody(t *testing.T) {
	calls := 0
	parse := func(b []byte) (any, error) {
		calls++
		if string(b) == "bad" {
			return nil, errors.New("bad body")
		}
		return string(b), nil
	}
	p := &Publication{Body: []byte("one")}
	for range 3 {
		if v, err := p.Parsed(parse); err != nil || v != "one" {
			t.Fatalf("got %v %v, want one", v, err)
		}
	}
	if calls != 1 {
		t.Errorf("parsed %d times, want once", calls)
	}
	// A copy (the Old of a Change) shares the result.
	old := *p
	if v, _ := old.Parsed(parse); v != "one" || calls != 1 {
		t.Errorf("copy: got %v after %d parses, want one after 1", v, calls)
	}
	// Same length, other slice: parsed again.
	p.Body = []byte("two")
	if v, _ := p.Parsed(parse); v != "two" || calls != 2 {
		t.Errorf("new body: got %v after %d parses, want two after 2", v, calls)
	}
	p.Body = []byte("bad")
	for range 2 {
		if _, err := p.Parsed(parse); err == nil {
			t.Fatal("bad body: got no error")
		}
	}
	if calls != 4 {
		t.Errorf("bad body parsed %d times in all, want 4 (an error is not kept)", calls)
	}
	if s := p.stored(); s.parsed.v != nil {
		t.Error("the stored copy keeps the parsed body")
	}
}
