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
// SIPp hold scenario's shape), every NOTIFY answered.
//
//	go test ./test -run '^$' -bench HeldSubscriptions -benchtime 100000x
func BenchmarkHeldSubscriptions(b *testing.B) {
	benchHeld(b, "sub", "", func(i int, local string) string {
		return fmt.Sprintf("SUBSCRIBE sip:held%d@127.0.0.1 SIP/2.0\r\n"+
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
	})
}

// BenchmarkHeldRegistrations measures the heap a registered AOR costs with
// pua_usrloc on (the default): its binding, the pua core's outgoing publication and the
// presence server's publication (bench/register's hold scenario shape).
//
//	go test ./test -run '^$' -bench HeldRegistrations -benchtime 100000x
func BenchmarkHeldRegistrations(b *testing.B) {
	benchHeld(b, "aor", "", func(i int, local string) string {
		return fmt.Sprintf("REGISTER sip:127.0.0.1 SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-reg-%d;rport\r\n"+
			"From: <sip:user%d@127.0.0.1>;tag=r%d\r\n"+
			"To: <sip:user%d@127.0.0.1>\r\n"+
			"Call-ID: reg-%d@127.0.0.1\r\n"+
			"CSeq: 1 REGISTER\r\n"+
			"Contact: <sip:user%d@%s>;expires=3600\r\n"+
			"Max-Forwards: 70\r\n"+
			"User-Agent: presenced-bench\r\n"+
			"Content-Length: 0\r\n\r\n", local, i, i, i, i, i, i, local)
	})
}

// benchHeld sends b.N requests built by msg (window of 200 outstanding),
// answers every request the daemon sends back (NOTIFYs), waits for b.N
// 200s, and reports the live heap per item after a forced GC and the heap
// the runtime holds (HeapSys - HeapReleased, what RSS follows) per item.
// PRESENCED_BENCH_HEAPPROFILE=FILE writes a heap profile at that point.
func benchHeld(b *testing.B, unit, extraConfig string, msg func(i int, local string) string) {
	// The default store (SQLite), and timers short enough that the
	// transactions (Timer J, 64*T1; Timer K, T4) are gone when the heap is
	// measured.
	cfg := strings.Replace(baseConfig, "t1_ms: 100", "t1_ms: 20\n  t4_ms: 50", 1)
	cfg = strings.Replace(cfg, "backend: memory", "backend: sqlite\n  path: "+filepath.Join(b.TempDir(), "held.db"), 1)
	d := startDaemon(b, cfg+extraConfig)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadBuffer(4 << 20)
	local := conn.LocalAddr().String()
	dst := net.UDPAddrFromAddrPort(d.UDP)

	var ok atomic.Int64
	done := make(chan struct{})
	go func() { // answers the daemon's requests, counts the 200s
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
				res := sip.NewResponseFromRequest(m, 200, "OK", nil)
				_, _ = conn.WriteToUDP([]byte(res.String()), from)
			}
		}
	}()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	const window = 200
	for i := 0; i < b.N; i++ {
		for int64(i)-ok.Load() >= window {
			time.Sleep(100 * time.Microsecond)
		}
		if _, err := conn.WriteToUDP([]byte(msg(i, local)), dst); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for ok.Load() < int64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d answered 200", ok.Load(), b.N)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	// Let the transactions end (Timer J: 1.28 s) and the work the 200s
	// started (NOTIFYs, PUBLISHes) settle before measuring what stays: a
	// settling pause of the benchmark, not a wait for a condition.
	time.Sleep(2 * time.Second)
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
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/"+unit)
	b.ReportMetric(float64((after.HeapSys-after.HeapReleased)-(before.HeapSys-before.HeapReleased))/n, "held-B/"+unit)
	conn.Close()
	<-done
}
