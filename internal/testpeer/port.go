package testpeer

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ports remembers the ports handed out in this process so that two peers
// of one test binary never get the same one.
var ports struct {
	sync.Mutex
	used map[int]bool
}

// FreePort returns a port of 127.0.0.1 that is free for network: "udp",
// "tcp", or "udp+tcp" (also "" and "sip": free on both, as a SIP listener
// needs). The port is chosen at random below the kernel's ephemeral range,
// so that no socket bound to port 0 and no outgoing connection takes it
// between this call and the peer binding it, and it is never handed out
// twice by one test binary.
func FreePort(t testing.TB, network string) int {
	t.Helper()
	var udp, tcp bool
	switch network {
	case "udp":
		udp = true
	case "tcp":
		tcp = true
	case "", "sip", "udp+tcp", "tcp+udp":
		udp, tcp = true, true
	default:
		t.Fatalf("free port: unknown network %q (want udp, tcp or udp+tcp)", network)
	}
	lo, hi := portRange()
	ports.Lock()
	defer ports.Unlock()
	if ports.used == nil {
		ports.used = make(map[int]bool)
	}
	for range 1000 {
		var p int
		if lo == 0 {
			p = kernelPort(tcp)
		} else {
			p = lo + rand.IntN(hi-lo)
		}
		if p == 0 || ports.used[p] || !portFree(p, udp, tcp) {
			continue
		}
		ports.used[p] = true
		return p
	}
	t.Fatalf("free port: none found for %s on 127.0.0.1", network)
	return 0
}

// portRange is the range [lo, hi) to draw ports from: below the ephemeral
// range (ip_local_port_range), or lo == 0 to ask the kernel for one.
func portRange() (lo, hi int) {
	ephLo := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				ephLo = v
			}
		}
	}
	const base = 20000
	if ephLo-base >= 2000 {
		return base, ephLo
	}
	return 0, 0
}

// kernelPort asks the kernel for a free port (fallback when the ephemeral
// range leaves no room below it).
func kernelPort(tcp bool) int {
	if tcp {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return 0
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// portFree reports whether port can be bound on 127.0.0.1 for the given
// networks.
func portFree(port int, udp, tcp bool) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if udp {
		c, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return false
		}
		c.Close()
	}
	if tcp {
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// hostPort formats 127.0.0.1:port.
func hostPort(port int) string {
	return fmt.Sprintf("127.0.0.1:%d", port)
}
