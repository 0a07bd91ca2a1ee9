package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/pua"
)

// benchNotify is a 300-byte PIDF body, as a pua subscription keeps from
// its last NOTIFY.
func benchNotify(i int) []byte {
	body := []byte(fmt.Sprintf(`<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:user%d@example.com">`+
		`<tuple id="t%d"><status><basic>open</basic></status></tuple></presence>`, i, i))
	for len(body) < 300 {
		body = append(body, ' ')
	}
	return body
}

func benchPUASubscription(i int) *pua.Subscription {
	now := time.Now()
	return &pua.Subscription{
		ID:                fmt.Sprintf("sub-%08d", i),
		Presentity:        fmt.Sprintf("sip:user%d@example.com", i),
		Watcher:           fmt.Sprintf("sip:watcher%d@example.com", i%10000),
		Event:             "presence",
		Source:            pua.SourceUsrloc,
		OwnerID:           fmt.Sprintf("aor-%08d", i),
		Contact:           "<sip:pua@192.0.2.1:5060>",
		CallID:            fmt.Sprintf("pua-%08d@192.0.2.1", i),
		LocalTag:          fmt.Sprintf("lt-%08d", i),
		RemoteTag:         fmt.Sprintf("rt-%08d", i),
		RouteSet:          []string{"<sip:edge.example.com;lr>"},
		RemoteTarget:      fmt.Sprintf("sip:ps@192.0.2.9:5060;transport=udp;x=%d", i),
		LocalCSeq:         uint32(i),
		RemoteCSeq:        1,
		ExtraHeaders:      []string{"Accept: application/pidf+xml"},
		Expires:           now.Add(time.Hour),
		State:             "active",
		NotifyAt:          now,
		NotifyContentType: "application/pidf+xml",
		NotifyBody:        benchNotify(i),
	}
}

func benchPUAPublication(i int) *pua.Publication {
	now := time.Now()
	return &pua.Publication{
		ID: fmt.Sprintf("pub-%08d", i), Presentity: fmt.Sprintf("sip:user%d@example.com", i), Event: "presence",
		Source: pua.SourceUsrloc, OwnerID: fmt.Sprintf("aor-%08d", i), ETag: fmt.Sprintf("e%08d", i),
		ContentType: "application/pidf+xml", Body: benchNotify(i), Expires: now.Add(time.Hour),
	}
}

// BenchmarkWritePUABatch upserts batches of pua subscriptions that are
// already stored (the steady state: CSeqs, expiries and NOTIFY bodies
// moving), one transaction per batch, with a cancellable context as a
// group-commit writer passes.
func BenchmarkWritePUABatch(b *testing.B) {
	const keys = 20000
	for _, rows := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			s := benchStore(b)
			ctx, cancel := context.WithTimeout(b.Context(), time.Hour)
			defer cancel()
			batches := make([]*pua.Batch, keys/rows)
			for i := range batches {
				batches[i] = &pua.Batch{}
				for j := range rows {
					batches[i].PutSubscriptions = append(batches[i].PutSubscriptions, benchPUASubscription(i*rows+j))
				}
				if err := s.WritePUA(ctx, batches[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				batch := batches[n%len(batches)]
				for _, sub := range batch.PutSubscriptions {
					sub.RemoteCSeq++
				}
				if err := s.WritePUA(ctx, batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkLoadPUA100k loads 100k pua publications and 100k pua
// subscriptions (300-byte bodies each): a start with 100k registered
// contacts published and watched.
func BenchmarkLoadPUA100k(b *testing.B) {
	const n = 100000
	s := benchStore(b)
	ctx := b.Context()
	for start := 0; start < n; start += 1000 {
		batch := &pua.Batch{}
		for i := start; i < start+1000; i++ {
			batch.PutPublications = append(batch.PutPublications, benchPUAPublication(i))
			batch.PutSubscriptions = append(batch.PutSubscriptions, benchPUASubscription(i))
		}
		if err := s.WritePUA(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	loads := 0
	for b.Loop() {
		pubs, subs, err := s.LoadPUA(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if len(pubs) != n || len(subs) != n {
			b.Fatalf("got %d, %d rows, want %d each", len(pubs), len(subs), n)
		}
		loads++
	}
	b.ReportMetric(float64(2*n*loads)/b.Elapsed().Seconds(), "rows/s")
}
