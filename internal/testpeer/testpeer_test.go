package testpeer

import (
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestFreePort(t *testing.T) {
	tests := []struct {
		network  string
		udp, tcp bool
	}{
		{"udp", true, false},
		{"tcp", false, true},
		{"udp+tcp", true, true},
		{"", true, true},
	}
	seen := make(map[int]bool)
	for _, tc := range tests {
		t.Run("net="+tc.network, func(t *testing.T) {
			for range 20 {
				p := FreePort(t, tc.network)
				if seen[p] {
					t.Fatalf("port %d handed out twice", p)
				}
				seen[p] = true
				addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
				if tc.udp {
					c, err := net.ListenPacket("udp4", addr)
					if err != nil {
						t.Fatalf("bind udp %s: got %v, want nil", addr, err)
					}
					c.Close()
				}
				if tc.tcp {
					l, err := net.Listen("tcp4", addr)
					if err != nil {
						t.Fatalf("bind tcp %s: got %v, want nil", addr, err)
					}
					l.Close()
				}
			}
		})
	}
}

// fakeTB records Skip and Fatal instead of ending the real test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMissingPeer checks the skip policy: a missing binary skips the test
// with the install hint, unless PRESENCED_REQUIRE_PEERS=1 makes it fail.
func TestMissingPeer(t *testing.T) {
	const want = "sipp not installed (apt-get install -y sip-tester)"
	tests := []struct {
		name        string
		env         string
		wantSkipped bool
		wantFailed  bool
	}{
		{"unset", "", true, false},
		{"zero", "0", true, false},
		{"required", "1", false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(RequireEnv, tc.env)
			t.Setenv("PATH", t.TempDir()) // sipp is in /usr/bin, not in sbin
			f := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				RequireSIPp(f)
			}()
			<-done
			if f.skipped != tc.wantSkipped || f.failed != tc.wantFailed {
				t.Fatalf("skipped=%v failed=%v, want skipped=%v failed=%v", f.skipped, f.failed, tc.wantSkipped, tc.wantFailed)
			}
			if !strings.HasPrefix(f.msg, want) {
				t.Fatalf("message %q, want prefix %q", f.msg, want)
			}
		})
	}
}
