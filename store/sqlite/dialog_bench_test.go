package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/dialog"
)

// benchDialog is a call answered through an edge proxy: one route entry
// each way, a NATed caller.
func benchDialog(i int) *dialog.Record {
	now := time.Now()
	return &dialog.Record{
		Dialog: dialog.Dialog{
			ID: fmt.Sprintf("call-%08d@198.51.100.7.0", i), CallID: fmt.Sprintf("call-%08d@198.51.100.7", i),
			CallerTag: fmt.Sprintf("ft-%08d", i), CalleeTag: fmt.Sprintf("tt-%08d", i),
			Caller: dialog.Party{URI: fmt.Sprintf("sip:user%d@example.com", i), Display: "User",
				Target: fmt.Sprintf("sip:user%d@10.0.0.%d:5060", i, i%250)},
			Callee: dialog.Party{URI: fmt.Sprintf("sip:user%d@example.com", i+1),
				Target: fmt.Sprintf("sip:user%d@198.51.100.%d:5062;transport=tcp", i+1, i%250)},
			State: dialog.Confirmed, Created: now, Confirmed: now, Expires: now.Add(12 * time.Hour),
		},
		CallerCSeq: 1, CalleeCSeq: 0,
		CallerRoute: []string{"<sip:edge.example.com;lr>"}, CalleeRoute: []string{"<sip:edge2.example.com;lr>"},
		CallerDest: fmt.Sprintf("udp:203.0.113.%d:%d", i%250, 30000+i%30000),
	}
}

// BenchmarkWriteDialogsBatch upserts batches of confirmed dialogs (a
// dialog is written when answered and at each re-INVITE), one transaction
// per batch.
func BenchmarkWriteDialogsBatch(b *testing.B) {
	const keys = 20000
	for _, rows := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			s := benchStore(b)
			ctx, cancel := context.WithTimeout(b.Context(), time.Hour)
			defer cancel()
			batches := make([]*dialog.Batch, keys/rows)
			for i := range batches {
				batches[i] = &dialog.Batch{}
				for j := range rows {
					batches[i].Put = append(batches[i].Put, benchDialog(i*rows+j))
				}
				if err := s.WriteDialogs(ctx, batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				batch := batches[n%len(batches)]
				for _, v := range batch.Put {
					v.CallerCSeq++
				}
				if err := s.WriteDialogs(ctx, batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLoadDialogs100k loads 100k confirmed dialogs: a start in the
// busy hour.
func BenchmarkLoadDialogs100k(b *testing.B) {
	const n = 100000
	s := benchStore(b)
	ctx := b.Context()
	for start := 0; start < n; start += 1000 {
		batch := &dialog.Batch{}
		for i := start; i < start+1000; i++ {
			batch.Put = append(batch.Put, benchDialog(i))
		}
		if err := s.WriteDialogs(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	loads := 0
	for b.Loop() {
		ds, err := s.LoadDialogs(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(ds) != n {
			b.Fatalf("got %d dialogs, want %d", len(ds), n)
		}
		loads++
	}
	b.ReportMetric(float64(n*loads)/b.Elapsed().Seconds(), "rows/s")
}
