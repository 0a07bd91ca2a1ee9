package sipnet

import (
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func benchConfig(c *Config) {
	c.T1, c.T2, c.T4 = 500, 4000, 5000 // RFC defaults: Timer J keeps UDP transactions 32 s
	c.Workers = 0
}

// publishTemplate returns a PUBLISH with BRANCH to replace.
func publishTemplate(via string) string {
	return publish(via, "UDP", "z9hG4bKBRANCH").String()
}

// BenchmarkServerTxUDP measures a PUBLISH -> 200 round trip over loopback
// UDP: read, parse, match, handler, response, Timer J retention. The
// allocations are the whole process's (the raw client allocates little).
func BenchmarkServerTxUDP(b *testing.B) {
	var calls atomic.Int64
	s := newStack(b, benchConfig, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
	dst := mustAddr(b, s, "udp")
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	tmpl := publishTemplate(c.LocalAddr().String())
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		msg := strings.Replace(tmpl, "BRANCH", strconv.Itoa(i), 1)
		if _, err := c.WriteToUDPAddrPort([]byte(msg), dst); err != nil {
			b.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(wait))
		if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServerTxUDPParallel is the same with concurrent clients, for
// throughput.
func BenchmarkServerTxUDPParallel(b *testing.B) {
	var calls atomic.Int64
	s := newStack(b, benchConfig, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
	dst := mustAddr(b, s, "udp")
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		tmpl := publishTemplate(c.LocalAddr().String())
		buf := make([]byte, 4096)
		for pb.Next() {
			msg := strings.Replace(tmpl, "BRANCH", strconv.FormatInt(seq.Add(1), 10), 1)
			c.WriteToUDPAddrPort([]byte(msg), dst)
			c.SetReadDeadline(time.Now().Add(wait))
			if _, _, err := c.ReadFromUDPAddrPort(buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkParseDispatch measures the worker path alone: parse a PUBLISH,
// validate, create the server transaction, run the handler, build,
// serialise and send the 200 (to a socket nobody reads).
func BenchmarkParseDispatch(b *testing.B) {
	var calls atomic.Int64
	s := newStack(b, benchConfig, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
	sink := newUDPPeer(b)
	u := s.udp[0]
	in := inbound{transport: "udp", src: sink.addr(), local: u.addr, udp: u}
	tmpl := publishTemplate(sink.addr().String())
	msgs := make([][]byte, 4096)
	for i := range msgs {
		msgs[i] = []byte(strings.Replace(tmpl, "BRANCH", "p"+strconv.Itoa(i), 1))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(msgs) == 0 && i > 0 {
			// New branches: each iteration is a new transaction.
			b.StopTimer()
			for j := range msgs {
				msgs[j] = []byte(strings.Replace(tmpl, "BRANCH", "p"+strconv.Itoa(i+j), 1))
			}
			b.StartTimer()
		}
		s.handleDatagram(msgs[i%len(msgs)], in)
	}
}

// lingeringBytes measures the heap held per finished UDP non-INVITE
// server transaction waiting out Timer J.
func lingeringBytes(t testing.TB, n int) float64 {
	var calls atomic.Int64
	s := newStack(t, benchConfig, map[sip.RequestMethod]Handler{sip.PUBLISH: etagHandler(&calls)})
	sink := newUDPPeer(t)
	u := s.udp[0]
	in := inbound{transport: "udp", src: sink.addr(), local: u.addr, udp: u}
	tmpl := publishTemplate(sink.addr().String())
	// Warm up pools and the table's maps with a first batch, then measure
	// a second one.
	for i := range n / 4 {
		s.handleDatagram([]byte(strings.Replace(tmpl, "BRANCH", "w"+strconv.Itoa(i), 1)), in)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	buf := make([]byte, 0, 1024)
	for i := range n {
		buf = append(buf[:0], strings.Replace(tmpl, "BRANCH", "m"+strconv.Itoa(i), 1)...)
		s.handleDatagram(buf, in)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if got := s.Stats().ServerTransactions; got != int64(n+n/4) {
		t.Fatalf("live transactions: got %d, want %d", got, n+n/4)
	}
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestLingeringTxMemory guards the point of this package: a finished UDP
// PUBLISH transaction costs its key and its response bytes (about 400 of
// them here), not kilobytes.
func TestLingeringTxMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates")
	}
	per := lingeringBytes(t, 20000)
	t.Logf("heap per lingering server transaction: %.0f bytes", per)
	if per > 1200 {
		t.Errorf("heap per lingering transaction: got %.0f bytes, want under 1200", per)
	}
}

func BenchmarkLingeringTx(b *testing.B) {
	b.ReportMetric(lingeringBytes(b, 20000), "B/lingering-tx")
}
