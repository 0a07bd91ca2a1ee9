package testpeer

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing peer from a
// skipped test into a failed one. CI sets it to 1.
const RequireEnv = "PRESENCED_REQUIRE_PEERS"

// Required reports whether missing peers fail tests (RequireEnv=1) rather
// than skip them.
func Required() bool { return os.Getenv(RequireEnv) == "1" }

// missing skips the test with msg, or fails it when peers are required.
func missing(t testing.TB, msg string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s; %s=1 requires it", msg, RequireEnv)
	}
	t.Skip(msg)
}

// sbinDirs are searched after PATH: Debian installs daemons in sbin, which
// a non-root PATH may lack.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// lookBinary finds name in PATH, then in the sbin folders; "" if absent.
func lookBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if isExecutable(p) {
			return p
		}
	}
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// requireBinary returns the path of name, or skips (fails) the test with
// "<what> not installed (apt-get install -y <pkgs>)".
func requireBinary(t testing.TB, name, what, pkgs string) string {
	t.Helper()
	p := lookBinary(name)
	if p == "" {
		missing(t, fmt.Sprintf("%s not installed (apt-get install -y %s)", what, pkgs))
	}
	return p
}

// RequireSIPp returns the path of sipp, or skips the test (fails it when
// PRESENCED_REQUIRE_PEERS=1).
func RequireSIPp(t testing.TB) string {
	t.Helper()
	return requireBinary(t, "sipp", "sipp", "sip-tester")
}

// shortTempDir makes a folder with a short path (unix sockets are limited
// to 107 bytes, and t.TempDir paths carry the test name), removed at the
// end of the test.
func shortTempDir(t testing.TB, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatalf("make temp dir: %v", err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove %s: %v", dir, err)
		}
	})
	return dir
}

// pollUntil calls check every interval until it returns true or an error,
// or until timeout has passed.
func pollUntil(timeout, interval time.Duration, check func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := check()
		if ok {
			return nil
		}
		var stop stopPolling
		if errors.As(err, &stop) {
			return stop.err
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("not ready after %v: %w", timeout, last)
			}
			return fmt.Errorf("not ready after %v", timeout)
		}
		time.Sleep(interval)
	}
}

// stopPolling ends pollUntil at once with err (e.g. the process died).
type stopPolling struct{ err error }

func (s stopPolling) Error() string { return s.err.Error() }

// tailFile returns the last n lines of a file, for failure messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
