package test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// BenchmarkHeldSubscriptions measures the heap a held subscription costs:
// b.N watchers, each subscribed to its own presentity over UDP (the
// SIPp hold scenario's shape), every NOTIFY answered. It reports the live
// heap per subscription after a forced GC, and the heap the runtime holds
// (HeapSys - HeapReleased) per subscription, which is what RSS follows.
//
//	go test ./test -run '^$' -bench HeldSubscriptions -benchtime 100000x
func BenchmarkHeldSubscriptions(b *testing.B) {
	// The default store (SQLite), and timers short enough that the
	// transactions of the SUBSCRIBEs (Timer J, 64*T1) and NOTIFYs (Timer K,
	// T4) are gone when the heap is measured.
	cfg := strings.Replace(baseConfig, "t1_ms: 100", "t1_ms: 20\n  t4_ms: 50", 1)
	cfg = strings.Replace(cfg, "backend: memory", "backend: sqlite\n  path: "+filepath.Join(b.TempDir(), "held.db"), 1)
	d := startDaemon(b, cfg)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	local := conn.LocalAddr().(*net.UDPAddr)
	dst := net.UDPAddrFromAddrPort(d.UDP)

	var ok, notifies atomic.Int64
	done := make(chan struct{})
	go func() { // answers NOTIFYs, counts the SUBSCRIBEs' 200s
		defer close(done)
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			m, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
			if err != nil {
				continue
			}
			switch m := m.(type) {
			case *sip.Response:
				if m.StatusCode == 200 {
					ok.Add(1)
				}
			case *sip.Request:
				notifies.Add(1)
				res := sip.NewResponseFromRequest(m, 200, "OK", nil)
				_, _ = conn.WriteToUDP([]byte(res.String()), from)
			}
		}
	}()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	const window = 200 // SUBSCRIBEs outstanding at most
	for i := 0; i < b.N; i++ {
		for int64(i)-ok.Load() >= window {
			time.Sleep(100 * time.Microsecond)
		}
		msg := fmt.Sprintf("SUBSCRIBE sip:held%d@127.0.0.1 SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-held-%d;rport\r\n"+
			"From: <sip:watcher%d@127.0.0.1>;tag=w%d\r\n"+
			"To: <sip:held%d@127.0.0.1>\r\n"+
			"Call-ID: held-%d@127.0.0.1\r\n"+
			"CSeq: 1 SUBSCRIBE\r\n"+
			"Contact: <sip:watcher%d@%s>\r\n"+
			"Max-Forwards: 70\r\n"+
			"Event: presence\r\n"+
			"Expires: 3600\r\n"+
			"Content-Length: 0\r\n\r\n", i, local, i, i, i, i, i, i, local)
		if _, err := conn.WriteToUDP([]byte(msg), dst); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for ok.Load() < int64(b.N) || notifies.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d subscriptions answered 200, %d NOTIFYs", ok.Load(), b.N, notifies.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	// Let the transactions end (Timer J: 1.28 s) before measuring what
	// stays: a settling pause of the benchmark, not a wait for a
	// condition.
	time.Sleep(1500 * time.Millisecond)
	runtime.GC()
	debug.FreeOSMemory()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if f := os.Getenv("PRESENCED_BENCH_HEAPPROFILE"); f != "" {
		// what the held state is made of: go tool pprof -sample_index=inuse_space
		out, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.WriteHeapProfile(out); err != nil {
			b.Fatal(err)
		}
		out.Close()
	}
	n := float64(b.N)
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/sub")
	b.ReportMetric(float64((after.HeapSys-after.HeapReleased)-(before.HeapSys-before.HeapReleased))/n, "held-B/sub")
	conn.Close()
	<-done
}
