package shard

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestOrderPerShard(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := NewGroup(4)
	g.Start()
	var mu sync.Mutex
	got := map[string][]int{}
	var wg sync.WaitGroup
	for _, key := range []string{"a", "b", "c"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := g.Of(key)
			for i := 0; i < 1000; i++ {
				s.Do(func() {
					mu.Lock()
					got[key] = append(got[key], i)
					mu.Unlock()
				})
			}
		}()
	}
	wg.Wait()
	if err := g.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for key, seq := range got {
		if len(seq) != 1000 {
			t.Fatalf("%s: got %d closures run, want 1000", key, len(seq))
		}
		for i, v := range seq {
			if v != i {
				t.Fatalf("%s: got %d at position %d, want %d", key, v, i, i)
			}
		}
	}
}

func TestTimers(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := NewGroup(1)
	g.Start()
	defer g.Stop(context.Background())
	s := g.Shards()[0]
	fired := make(chan string, 10)
	base := time.Now()
	a := &Timer{Fire: func(time.Time) { fired <- "a" }}
	b := &Timer{Fire: func(time.Time) { fired <- "b" }}
	c := &Timer{Fire: func(time.Time) { fired <- "c" }}
	s.Do(func() {
		s.Schedule(a, base.Add(30*time.Millisecond))
		s.Schedule(b, base.Add(10*time.Millisecond))
		s.Schedule(c, base.Add(20*time.Millisecond))
		s.Schedule(b, base.Add(40*time.Millisecond)) // moved after a
		s.Cancel(c)
	})
	var order []string
	for len(order) < 2 {
		select {
		case x := <-fired:
			order = append(order, x)
		case <-time.After(5 * time.Second):
			t.Fatalf("timers did not fire: %v", order)
		}
	}
	if order[0] != "a" || order[1] != "b" {
		t.Errorf("got %v, want [a b]", order)
	}
	done := make(chan int)
	s.Do(func() { done <- s.Timers() })
	if n := <-done; n != 0 {
		t.Errorf("got %d timers left, want 0 (c was cancelled)", n)
	}
}

func TestEachAndOn(t *testing.T) {
	defer goleak.VerifyNone(t)
	g := NewGroup(3)
	g.Start()
	defer g.Stop(context.Background())
	var mu sync.Mutex
	n := 0
	if err := g.Each(context.Background(), func(*Shard) { mu.Lock(); n++; mu.Unlock() }); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Each: got %d calls, want 3", n)
	}
	var on *Shard
	if err := g.On(context.Background(), "key", func(s *Shard) { on = s }); err != nil {
		t.Fatal(err)
	}
	if on != g.Of("key") {
		t.Error("On ran on another shard than Of")
	}
}

func TestIndex(t *testing.T) {
	x := NewIndex[string]()
	x.Put("a", "1")
	x.Put("b", "2")
	if v, ok := x.Get("a"); !ok || v != "1" {
		t.Errorf("Get(a): got %q %v, want 1 true", v, ok)
	}
	x.Delete("a")
	if _, ok := x.Get("a"); ok {
		t.Error("Get(a) after Delete: found")
	}
	if n := x.Len(); n != 1 {
		t.Errorf("Len: got %d, want 1", n)
	}
}
