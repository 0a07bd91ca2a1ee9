package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/usrloc"
)

// benchBinding is a registered phone behind an edge proxy: RFC 5626
// instance and reg-id, one Path entry, a NATed source address.
func benchBinding(i int) *usrloc.Binding {
	now := time.Now()
	return &usrloc.Binding{
		ID:        fmt.Sprintf("b-%08d", i),
		AOR:       fmt.Sprintf("sip:user%d@example.com", i/2), // two phones per user
		Contact:   fmt.Sprintf("sip:user%d@198.51.100.%d:%d;transport=tcp;ob", i/2, i%250, 30000+i%30000),
		Q:         -1,
		Expires:   now.Add(time.Hour),
		CallID:    fmt.Sprintf("reg-%08d@198.51.100.%d", i, i%250),
		CSeq:      uint32(i),
		Instance:  fmt.Sprintf(`"<urn:uuid:00000000-0000-4000-8000-%012d>"`, i),
		RegID:     1,
		Path:      []string{"<sip:edge.example.com;lr;ob>"},
		Received:  fmt.Sprintf("203.0.113.%d:%d", i%250, 30000+i%30000),
		Transport: "tcp",
		UserAgent: "Yealink SIP-T46U 108.86.0.45",
		Updated:   now,
	}
}

// BenchmarkWriteBindingsBatch upserts batches of bindings that are
// already stored (the steady state: re-REGISTERs moving CSeqs and
// expiries), one transaction per batch, with a cancellable context as a
// group-commit writer passes.
func BenchmarkWriteBindingsBatch(b *testing.B) {
	const keys = 20000
	for _, rows := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			s := benchStore(b)
			ctx, cancel := context.WithTimeout(b.Context(), time.Hour)
			defer cancel()
			batches := make([]*usrloc.Batch, keys/rows)
			for i := range batches {
				batches[i] = &usrloc.Batch{}
				for j := range rows {
					batches[i].Put = append(batches[i].Put, benchBinding(i*rows+j))
				}
				if err := s.WriteBindings(ctx, batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				batch := batches[n%len(batches)]
				for _, v := range batch.Put {
					v.CSeq++
				}
				if err := s.WriteBindings(ctx, batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLoadBindings100k loads 100k bindings: a registrar's start with
// 50k users of two phones each.
func BenchmarkLoadBindings100k(b *testing.B) {
	const n = 100000
	s := benchStore(b)
	ctx := b.Context()
	for start := 0; start < n; start += 1000 {
		batch := &usrloc.Batch{}
		for i := start; i < start+1000; i++ {
			batch.Put = append(batch.Put, benchBinding(i))
		}
		if err := s.WriteBindings(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	loads := 0
	for b.Loop() {
		bs, err := s.LoadBindings(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(bs) != n {
			b.Fatalf("got %d bindings, want %d", len(bs), n)
		}
		loads++
	}
	b.ReportMetric(float64(n*loads)/b.Elapsed().Seconds(), "rows/s")
}
