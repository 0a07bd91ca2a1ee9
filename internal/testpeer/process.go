package testpeer

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is a peer started by a test and stopped by its pid.
type process struct {
	name    string
	cmd     *exec.Cmd
	stopSig syscall.Signal
	logs    []string // files whose tail is shown when the test failed

	done    chan struct{} // closed when cmd.Wait returned
	waitErr error         // cmd.Wait's result, set before done is closed
}

// startProcess starts cmd in its own process group with stdout and stderr
// appended to logs[0], and stops it in a t.Cleanup: stopSig to its pid,
// SIGKILL to its process group after grace. stopSig is also its
// parent-death signal, so it ends if the test binary dies without cleanup.
// On a failed test the last lines of each of logs are logged.
func startProcess(t testing.TB, name string, stopSig syscall.Signal, grace time.Duration, cmd *exec.Cmd, logs ...string) *process {
	t.Helper()
	out, err := os.OpenFile(logs[0], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	defer out.Close() // the child holds its own descriptor
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = stopSig
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &process{name: name, cmd: cmd, stopSig: stopSig, logs: logs, done: make(chan struct{})}
	// Owned by p: ends when the process exits, which stop waits for.
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(grace); err != nil {
			t.Errorf("stop %s: %v", name, err)
		}
		if t.Failed() {
			for _, l := range p.logs {
				t.Logf("%s: last lines of %s:\n%s", name, l, tailFile(l, 40))
			}
		}
	})
	return p
}

// pid is the process id (also its process group id).
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.waitErr
	default:
		return false, nil
	}
}

// deadErr is a stopPolling error when the process has ended, for readiness
// loops; nil while it runs.
func (p *process) deadErr() error {
	if ok, err := p.exited(); ok {
		return stopPolling{fmt.Errorf("%s exited during start (%v); log:\n%s", p.name, exitText(err), tailFile(p.logs[0], 30))}
	}
	return nil
}

// stop sends stopSig to the pid, waits up to grace, then kills the whole
// process group. Children left in the group after the leader ended are
// killed too. It is safe to call more than once.
func (p *process) stop(grace time.Duration) error {
	pid := p.pid()
	if ok, _ := p.exited(); !ok {
		if err := syscall.Kill(pid, p.stopSig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal pid %d: %w", pid, err)
		}
		timer := time.NewTimer(grace)
		select {
		case <-p.done:
			timer.Stop()
		case <-timer.C:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				return fmt.Errorf("pid %d still running 10s after SIGKILL", pid)
			}
		}
	}
	// Stragglers of the group (children of a killed leader).
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	return nil
}

// exitText describes a cmd.Wait result.
func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// runCmd runs a short setup command (initdb, openssl, ...) to completion
// within timeout, failing the test with its output when it fails.
func runCmd(t testing.TB, what string, timeout time.Duration, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	if !timer.Stop() {
		err = fmt.Errorf("killed after %v: %w", timeout, err)
	}
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", what, strings.Join(cmd.Args, " "), err, out.Bytes())
	}
}
