package testpeer

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SIPpOptions describe one SIPp run.
type SIPpOptions struct {
	// Scenario is the path of a scenario XML file, or the name of a
	// built-in scenario ("uac", "uas", ...) when it has no ".xml" suffix
	// and no "/".
	Scenario string
	// Target is the remote host:port (e.g. 127.0.0.1:5060); empty for a
	// scenario that only waits for requests.
	Target string
	// Transport is SIPp's -t: "u1" (default, UDP one socket), "t1" (TCP one
	// connection), "un", "tn", ...
	Transport string
	// LocalPort is SIPp's SIP port on 127.0.0.1; 0 picks a free one.
	LocalPort int
	// Calls is the number of calls to run (-m); 0 means 1.
	Calls int
	// Rate is calls per second (-r); 0 leaves SIPp's default (10).
	Rate int
	// Vars are scenario variables ([$name]), passed with -set name value;
	// the scenario declares them with <Global variables="name,..."/>.
	Vars map[string]string
	// InjectionFile is a CSV injection file (-inf), fields [field0]...
	InjectionFile string
	// Timeout bounds the whole run (-timeout with -timeout_error); 0 means
	// 30s. The process is killed if it outlives Timeout by 15s.
	Timeout time.Duration
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
	// NoMessageLog leaves out -trace_msg (for load runs).
	NoMessageLog bool
}

// SIPpRun is one SIPp process, started by Start or Run. Its files are in a
// temporary folder of the test. Start, Run and the constructor must be
// called from the test goroutine; Wait, MessageLog and Received from any.
type SIPpRun struct {
	t       testing.TB
	opts    SIPpOptions
	bin     string
	dir     string
	args    []string
	proc    *process
	started time.Time

	once   sync.Once
	result SIPpResult
	err    error
}

// SIPpResult is what a finished SIPp run reported.
type SIPpResult struct {
	// ExitCode is SIPp's exit status: 0 all calls succeeded, 1 at least
	// one call failed, 97 exit on internal command or timeout, 99 no call
	// processed, 255 fatal error, 254 cannot bind a socket; -1 if it was
	// killed by a signal.
	ExitCode int
	// Successful and Failed are the cumulated call counts of -trace_stat
	// (SuccessfulCall(C), FailedCall(C)); Created is TotalCallCreated.
	Successful, Failed, Created int
	// Retransmissions is Retransmissions(C).
	Retransmissions int
	// Stats is the last row of the -trace_stat file, by column name.
	Stats map[string]string
	// Screen is the final screen (-trace_screen), Errors the error log
	// (-trace_err), Output what SIPp printed on stdout and stderr.
	Screen, Errors, Output string
	// MessageLog is the -trace_msg log (see ParseMessageLog).
	MessageLog string
}

// Received returns the requests of method (e.g. "NOTIFY") that SIPp
// received, with headers and bodies, in arrival order.
func (r SIPpResult) Received(method string) []SIPMessage {
	return ReceivedRequests(r.MessageLog, method)
}

// Messages returns every message of the message log, sent and received.
func (r SIPpResult) Messages() []SIPMessage { return ParseMessageLog(r.MessageLog) }

// SIPp prepares a SIPp run (skipping or failing the test when sipp is not
// installed). Nothing runs before Start or Run.
func SIPp(t testing.TB, opts SIPpOptions) *SIPpRun {
	t.Helper()
	bin := RequireSIPp(t)
	if opts.Scenario == "" {
		t.Fatal("sipp: no scenario")
	}
	if opts.Transport == "" {
		opts.Transport = "u1"
	}
	if opts.Calls == 0 {
		opts.Calls = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.LocalPort == 0 {
		opts.LocalPort = FreePort(t, "udp+tcp")
	}
	r := &SIPpRun{t: t, opts: opts, bin: bin, dir: t.TempDir()}
	r.args = r.buildArgs(FreePort(t, "udp"))
	return r
}

// Files of a run, in its folder.
const (
	sippStatFile   = "stat.csv"
	sippScreenFile = "screen.log"
	sippErrorFile  = "errors.log"
	sippMsgFile    = "messages.log"
	sippOutFile    = "sipp.out"
)

func (r *SIPpRun) buildArgs(controlPort int) []string {
	o := r.opts
	var a []string
	if o.Target != "" {
		a = append(a, o.Target)
	}
	if strings.HasSuffix(o.Scenario, ".xml") || strings.Contains(o.Scenario, "/") {
		sf := o.Scenario
		if abs, err := filepath.Abs(sf); err == nil {
			sf = abs
		}
		a = append(a, "-sf", sf)
	} else {
		a = append(a, "-sn", o.Scenario)
	}
	a = append(a,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(o.LocalPort),
		"-cp", strconv.Itoa(controlPort),
		"-t", o.Transport,
		"-m", strconv.Itoa(o.Calls),
		"-nostdin",
		"-timeout", strconv.FormatInt(o.Timeout.Milliseconds(), 10)+"ms",
		"-timeout_error",
		"-trace_stat", "-stf", filepath.Join(r.dir, sippStatFile), "-fd", "1",
		"-trace_screen", "-screen_file", filepath.Join(r.dir, sippScreenFile),
		"-trace_err", "-error_file", filepath.Join(r.dir, sippErrorFile),
	)
	if !o.NoMessageLog {
		a = append(a, "-trace_msg", "-message_file", filepath.Join(r.dir, sippMsgFile))
	}
	if o.Rate > 0 {
		a = append(a, "-r", strconv.Itoa(o.Rate))
	}
	for _, k := range slices.Sorted(maps.Keys(o.Vars)) {
		a = append(a, "-set", k, o.Vars[k])
	}
	if o.InjectionFile != "" {
		inf := o.InjectionFile
		if abs, err := filepath.Abs(inf); err == nil {
			inf = abs
		}
		a = append(a, "-inf", inf)
	}
	return append(a, o.ExtraArgs...)
}

// Args returns SIPp's command line arguments (without the binary).
func (r *SIPpRun) Args() []string { return slices.Clone(r.args) }

// Dir is the folder holding the run's files.
func (r *SIPpRun) Dir() string { return r.dir }

// LocalPort is SIPp's SIP port on 127.0.0.1 (for scenarios that wait for
// requests).
func (r *SIPpRun) LocalPort() int { return r.opts.LocalPort }

// LocalAddr is 127.0.0.1:LocalPort.
func (r *SIPpRun) LocalAddr() string { return hostPort(r.opts.LocalPort) }

// Start starts SIPp in the background. It is stopped at the end of the
// test if still running.
func (r *SIPpRun) Start() {
	r.t.Helper()
	if r.proc != nil {
		r.t.Fatal("sipp: started twice")
	}
	cmd := exec.Command(r.bin, r.args...)
	cmd.Dir = r.dir
	r.started = time.Now()
	r.proc = startProcess(r.t, "sipp", syscall.SIGTERM, 5*time.Second, cmd, filepath.Join(r.dir, sippOutFile))
}

// Wait waits for SIPp to end (killing it 15s after its Timeout) and
// returns what it reported. The error is non-nil unless every call
// succeeded (exit code 0); the result is filled in either case. Wait may be
// called more than once.
func (r *SIPpRun) Wait() (SIPpResult, error) {
	if r.proc == nil {
		return SIPpResult{}, errors.New("sipp: wait before start")
	}
	r.once.Do(func() { r.result, r.err = r.wait() })
	return r.result, r.err
}

// Run starts SIPp and waits for it: Start then Wait.
func (r *SIPpRun) Run() (SIPpResult, error) {
	r.t.Helper()
	r.Start()
	return r.Wait()
}

// MessageLog returns the message log written so far (also while SIPp
// runs, to poll for a message).
func (r *SIPpRun) MessageLog() string {
	b, _ := os.ReadFile(filepath.Join(r.dir, sippMsgFile))
	return string(b)
}

// Received returns the requests of method that SIPp received so far.
func (r *SIPpRun) Received(method string) []SIPMessage {
	return ReceivedRequests(r.MessageLog(), method)
}

func (r *SIPpRun) wait() (SIPpResult, error) {
	var killed error
	limit := time.Until(r.started.Add(r.opts.Timeout + 15*time.Second))
	timer := time.NewTimer(max(limit, 0))
	select {
	case <-r.proc.done:
		timer.Stop()
	case <-timer.C:
		if err := r.proc.stop(5 * time.Second); err != nil {
			killed = err
		} else {
			killed = fmt.Errorf("killed %v after start", r.opts.Timeout+15*time.Second)
		}
	}
	res := r.collect()
	name := filepath.Base(r.opts.Scenario)
	switch {
	case killed != nil:
		return res, fmt.Errorf("sipp %s: %w", name, killed)
	case res.ExitCode != 0:
		return res, fmt.Errorf("sipp %s: exit %d (%s): %d successful, %d failed calls%s",
			name, res.ExitCode, sippExitText(res.ExitCode), res.Successful, res.Failed, errorTail(res))
	}
	return res, nil
}

// collect reads the exit code and the trace files of a finished run.
func (r *SIPpRun) collect() SIPpResult {
	var res SIPpResult
	_, werr := r.proc.exited()
	res.ExitCode = 0
	if werr != nil {
		res.ExitCode = -1
		var ee *exec.ExitError
		if errors.As(werr, &ee) {
			res.ExitCode = ee.ExitCode()
		}
	}
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(r.dir, name))
		return string(b)
	}
	res.Stats = parseStatFile(read(sippStatFile))
	res.Successful = statInt(res.Stats, "SuccessfulCall(C)")
	res.Failed = statInt(res.Stats, "FailedCall(C)")
	res.Created = statInt(res.Stats, "TotalCallCreated")
	res.Retransmissions = statInt(res.Stats, "Retransmissions(C)")
	res.Screen = read(sippScreenFile)
	res.Errors = read(sippErrorFile)
	res.Output = read(sippOutFile)
	res.MessageLog = read(sippMsgFile)
	return res
}

// parseStatFile returns the last row of a -trace_stat file (';'-separated,
// first line the column names) by column name; nil if it has no row.
func parseStatFile(s string) map[string]string {
	lines := strings.Split(strings.TrimRight(s, "\r\n"), "\n")
	if len(lines) < 2 {
		return nil
	}
	cols := strings.Split(strings.TrimRight(lines[0], "\r;"), ";")
	vals := strings.Split(strings.TrimRight(lines[len(lines)-1], "\r;"), ";")
	m := make(map[string]string, len(cols))
	for i, c := range cols {
		if i < len(vals) {
			m[c] = vals[i]
		}
	}
	return m
}

func statInt(m map[string]string, col string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(m[col]))
	return n
}

// sippExitText explains SIPp's exit codes.
func sippExitText(code int) string {
	switch code {
	case 0:
		return "all calls successful"
	case 1:
		return "at least one call failed"
	case 97:
		return "exit on internal command or global timeout"
	case 99:
		return "no call processed"
	case 255:
		return "fatal error"
	case 254:
		return "fatal error binding a socket"
	case -1:
		return "killed"
	}
	return "unknown"
}

// errorTail is the end of the error log (or output) for error messages.
func errorTail(res SIPpResult) string {
	s := strings.TrimSpace(res.Errors)
	if s == "" {
		s = strings.TrimSpace(res.Output)
	}
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return ":\n" + strings.Join(lines, "\n")
}
