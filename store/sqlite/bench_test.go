package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/presence"
)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s, err := Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func benchSubscription(i int) *presence.Subscription {
	now := time.Now()
	return &presence.Subscription{
		ID:           fmt.Sprintf("call-%08d@192.0.2.1;srv-%08d;wat-%08d", i, i, i),
		CallID:       fmt.Sprintf("call-%08d@192.0.2.1", i),
		LocalTag:     fmt.Sprintf("srv-%08d", i),
		RemoteTag:    fmt.Sprintf("wat-%08d", i),
		LocalURI:     fmt.Sprintf("sip:user%d@example.com", i%10000),
		RemoteURI:    fmt.Sprintf("sip:watcher%d@example.com", i),
		RemoteName:   "Watcher",
		Presentity:   fmt.Sprintf("sip:user%d@example.com", i%10000),
		Event:        "presence",
		RemoteTarget: fmt.Sprintf("sip:watcher%d@192.0.2.7:5060;transport=udp", i),
		RouteSet:     []string{"<sip:edge.example.com;lr>"},
		LocalCSeq:    uint32(i),
		RemoteCSeq:   1,
		Transport:    "udp",
		Source:       "192.0.2.7:5060",
		Created:      now,
		Expires:      now.Add(time.Hour),
		Status:       presence.StatusActive,
	}
}

func benchPublication(i int) *presence.Publication {
	now := time.Now()
	body := []byte(fmt.Sprintf(`<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:user%d@example.com">`+
		`<tuple id="t%d"><status><basic>open</basic></status><contact>sip:user%d@192.0.2.9</contact></tuple></presence>`, i, i, i))
	for len(body) < 300 {
		body = append(body, ' ')
	}
	return &presence.Publication{
		ID: fmt.Sprintf("pub-%08d", i), Presentity: fmt.Sprintf("sip:user%d@example.com", i), Event: "presence",
		ETag: fmt.Sprintf("e%08d", i), Expires: now.Add(time.Hour), Updated: now,
		ContentType: "application/pidf+xml", Body: body,
	}
}

// BenchmarkWritePresenceBatch upserts batches of subscriptions that are
// already stored (the steady state: NOTIFY CSeqs and expiries moving), one
// transaction per batch, with a cancellable context as the presence
// server's committer passes.
func BenchmarkWritePresenceBatch(b *testing.B) {
	const keys = 20000
	for _, rows := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			s := benchStore(b)
			ctx, cancel := context.WithTimeout(b.Context(), time.Hour)
			defer cancel()
			batches := make([]*presence.Batch, keys/rows)
			for i := range batches {
				batches[i] = &presence.Batch{}
				for j := range rows {
					batches[i].PutSubscriptions = append(batches[i].PutSubscriptions, benchSubscription(i*rows+j))
				}
				if err := s.WritePresence(ctx, batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				batch := batches[n%len(batches)]
				for _, sub := range batch.PutSubscriptions {
					sub.LocalCSeq++
				}
				if err := s.WritePresence(ctx, batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLoad100k loads 100k publications (300-byte PIDF bodies), 100k
// subscriptions and 100k authorizations: a start with 100k presentities.
func BenchmarkLoad100k(b *testing.B) {
	const n = 100000
	s := benchStore(b)
	ctx := b.Context()
	for start := 0; start < n; start += 1000 {
		batch := &presence.Batch{}
		for i := start; i < start+1000; i++ {
			batch.PutPublications = append(batch.PutPublications, benchPublication(i))
			batch.PutSubscriptions = append(batch.PutSubscriptions, benchSubscription(i))
			batch.PutAuthorizations = append(batch.PutAuthorizations, &presence.Authorization{
				Presentity: fmt.Sprintf("sip:user%d@example.com", i), Watcher: fmt.Sprintf("sip:watcher%d@example.com", i),
				Event: "presence", Status: presence.StatusActive, Updated: time.Now(),
			})
		}
		if err := s.WritePresence(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	loads := 0
	for b.Loop() {
		st, err := s.LoadPresence(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Publications) != n || len(st.Subscriptions) != n || len(st.Authorizations) != n {
			b.Fatalf("got %d, %d, %d rows, want %d each", len(st.Publications), len(st.Subscriptions), len(st.Authorizations), n)
		}
		loads++
	}
	b.ReportMetric(float64(3*n*loads)/b.Elapsed().Seconds(), "rows/s")
}
