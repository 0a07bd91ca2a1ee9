package commit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestGroupsAndOrders(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	var writes [][]int
	block := make(chan struct{})
	first := true
	c := New(func(_ context.Context, items []int) error {
		if first {
			first = false
			<-block // hold the first write so the others pile up
		}
		mu.Lock()
		writes = append(writes, append([]int(nil), items...))
		mu.Unlock()
		return nil
	}, 3, nil)
	c.Start()
	var order []int
	var omu sync.Mutex
	done := func(i int) func(error) {
		return func(err error) {
			if err != nil {
				t.Errorf("item %d: %v", i, err)
			}
			omu.Lock()
			order = append(order, i)
			omu.Unlock()
		}
	}
	c.Submit(0, done(0))
	deadline := time.Now().Add(5 * time.Second)
	for c.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // until the first write has taken item 0
	}
	for i := 1; i <= 7; i++ {
		c.Submit(i, done(i))
	}
	close(block)
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := [][]int{{0}, {1, 2, 3}, {4, 5, 6}, {7}}
	if len(writes) != len(want) {
		t.Fatalf("got writes %v, want %v", writes, want)
	}
	for i := range want {
		for j := range want[i] {
			if writes[i][j] != want[i][j] {
				t.Fatalf("got writes %v, want %v", writes, want)
			}
		}
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("callbacks ran in order %v, want 0..7", order)
		}
	}
}

func TestErrorReachesCallbacks(t *testing.T) {
	defer goleak.VerifyNone(t)
	boom := errors.New("disk full")
	c := New(func(context.Context, []string) error { return boom }, 10, nil)
	c.Start()
	got := make(chan error, 1)
	c.Submit("x", func(err error) { got <- err })
	if err := <-got; !errors.Is(err, boom) {
		t.Errorf("got %v, want %v", err, boom)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestStopFlushes(t *testing.T) {
	defer goleak.VerifyNone(t)
	var n int
	c := New(func(_ context.Context, items []int) error { n += len(items); return nil }, 2, nil)
	for i := 0; i < 5; i++ {
		c.Submit(i, nil)
	}
	c.Start()
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("got %d items written, want 5", n)
	}
}
