package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is one server under test (presenced, or Kamailio: kamailio.go),
// with its own temporary directory (config, database, log).
type daemon struct {
	kind    string // "presenced" or "kamailio"
	dir     string
	miAddr  string // host:port of the management API (JSON-RPC over HTTP)
	rpcURL  string // the JSON-RPC endpoint on miAddr
	sipAdr  string
	cmd     *exec.Cmd
	exited  chan struct{}
	log     *os.File
	procs   []int  // the processes whose CPU and memory count
	errMark []byte // marks a log line at error level
}

// daemonOpts is what a run changes in the daemon's config.
type daemonOpts struct {
	bin        string   // presenced, or the bench/profile binary
	args       []string // extra arguments after -c FILE (profiled)
	store      string   // sqlite or memory
	puaExpires int      // pua.default_expires (0: the default)
	logLevel   string
}

// freePort returns a port of network ("tcp" or "udp") free on 127.0.0.1
// at the time of the call.
func freePort(network string) (int, error) {
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	default:
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
}

// startDaemon writes a config into a fresh temporary directory, starts
// the daemon and waits until its management API answers /health.
func startDaemon(o daemonOpts) (*daemon, error) {
	d, err := newDaemon("presenced", "/mi", "level=ERROR")
	if err != nil {
		return nil, err
	}
	dir := d.dir
	level := o.logLevel
	if level == "" {
		level = "warn"
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "# written by bench/pua for one run\nlog:\n  level: %s\n", level)
	fmt.Fprintf(&cfg, "sip:\n  listen: [\"udp:%s\"]\n", d.sipAdr)
	fmt.Fprintf(&cfg, "store:\n  backend: %s\n  path: %s\n", o.store, filepath.Join(dir, "presenced.db"))
	fmt.Fprintf(&cfg, "mi:\n  enabled: true\n  listen: %s\n", d.miAddr)
	if o.puaExpires > 0 {
		fmt.Fprintf(&cfg, "pua:\n  default_expires: %d\n", o.puaExpires)
	}
	cfgPath := filepath.Join(dir, "presenced.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg.String()), 0o644); err != nil {
		return d.failed(err)
	}
	args := []string{"run", "-c", cfgPath}
	if filepath.Base(o.bin) != "presenced" {
		args = []string{"-c", cfgPath}
	}
	err = d.launch(o.bin, append(args, o.args...), func() bool {
		resp, err := http.Get("http://" + d.miAddr + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	if err != nil {
		return d.failed(err)
	}
	d.procs = []int{d.pid()}
	return d, nil
}

// newDaemon makes the temporary directory of a server of kind and picks
// its free SIP (UDP) and management API (TCP) ports on 127.0.0.1; the
// JSON-RPC endpoint is rpcPath on the latter, errMark marks its log lines
// at error level.
func newDaemon(kind, rpcPath, errMark string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "puabench-")
	if err != nil {
		return nil, err
	}
	d := &daemon{kind: kind, dir: dir, exited: make(chan struct{}), errMark: []byte(errMark)}
	sipPort, err := freePort("udp")
	if err == nil {
		var miPort int
		miPort, err = freePort("tcp")
		d.miAddr = fmt.Sprintf("127.0.0.1:%d", miPort)
	}
	if err != nil {
		d.stop()
		return nil, err
	}
	d.sipAdr = fmt.Sprintf("127.0.0.1:%d", sipPort)
	d.rpcURL = "http://" + d.miAddr + rpcPath
	return d, nil
}

// launch starts bin with args, its output to server.log, and waits (30 s
// at the most) until ready says it serves.
func (d *daemon) launch(bin string, args []string, ready func() bool) error {
	var err error
	if d.log, err = os.Create(filepath.Join(d.dir, "server.log")); err != nil {
		return err
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := d.cmd.Start(); err != nil {
		return err
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for !ready() {
		select {
		case <-d.exited:
			return fmt.Errorf("%s exited at start: %s", d.kind, d.tail())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 30 s: %s", d.kind, d.tail())
		}
	}
	return nil
}

// failed stops a daemon that could not start and returns err.
func (d *daemon) failed(err error) (*daemon, error) {
	d.stop()
	return nil, err
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// tail is the end of the daemon's log.
func (d *daemon) tail() string {
	b, _ := os.ReadFile(filepath.Join(d.dir, "server.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// stop ends the daemon (SIGTERM, SIGKILL after 20 s) and removes its
// directory; it returns the end of the log when the daemon logged errors.
func (d *daemon) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
		case <-time.After(20 * time.Second):
			d.cmd.Process.Kill()
			<-d.exited
		}
	}
	if d.log != nil {
		d.log.Close()
	}
	os.RemoveAll(d.dir)
}

// errorLines counts the lines of the daemon's log at error level.
func (d *daemon) errorLines() int {
	f, err := os.Open(filepath.Join(d.dir, "server.log"))
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if bytes.Contains(sc.Bytes(), d.errMark) {
			n++
		}
	}
	return n
}

// cpuTicks is utime+stime of pid, in clock ticks (1/100 s).
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("bad /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// after ")": state(0) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(11) stime(12)
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s, nil
}

// procsTicks is the utime+stime of pids together, in clock ticks.
func procsTicks(pids []int) int64 {
	var t int64
	for _, p := range pids {
		n, _ := cpuTicks(p)
		t += n
	}
	return t
}

// procKiB is the value in kB of the line key (as "VmRSS:") of a /proc
// file of pid (status, smaps_rollup).
func procKiB(pid int, file, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// rssKiB is VmRSS of pid.
func rssKiB(pid int) int64 { return procKiB(pid, "status", "VmRSS:") }

// memKiB is the RSS and the PSS of pids together. Kamailio's processes
// share their shared-memory pool (-m): the sum of their RSS counts it once
// per process, the sum of their PSS once in all.
func memKiB(pids []int) (rss, pss int64) {
	for _, p := range pids {
		rss += rssKiB(p)
		pss += procKiB(p, "smaps_rollup", "Pss:")
	}
	return rss, pss
}

// machineTicks is the machine's busy and total CPU time (all cores), in
// clock ticks, from /proc/stat.
func machineTicks() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, s := range f[1:] {
		v, _ := strconv.ParseInt(s, 10, 64)
		if i >= 8 { // guest times are counted in user already
			break
		}
		total += v
		if i != 3 && i != 4 { // idle, iowait
			busy += v
		}
	}
	return busy, total
}

// selfTicks is this process's CPU time in clock ticks.
func selfTicks() int64 {
	t, _ := cpuTicks(os.Getpid())
	return t
}

// waitQuiet waits, at most max, until the machine's CPU busy time over a
// second is below pct percent of one core; it returns the last reading.
func waitQuiet(pct float64, max time.Duration) float64 {
	end := time.Now().Add(max)
	for {
		b0, _ := machineTicks()
		time.Sleep(time.Second)
		b1, _ := machineTicks()
		busy := float64(b1 - b0) // ticks in 1 s = % of a core
		if busy < pct || time.Now().After(end) {
			return busy
		}
	}
}

// metrics reads the daemon's Prometheus text and returns the samples whose
// name (with labels) starts with one of prefixes.
func metrics(ctx context.Context, c *http.Client, addr string, prefixes ...string) (map[string]float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				i := strings.LastIndexByte(l, ' ')
				v, err := strconv.ParseFloat(l[i+1:], 64)
				if err == nil {
					out[l[:i]] = v
				}
			}
		}
	}
	return out, sc.Err()
}

// miClient calls the management API over keep-alive connections.
type miClient struct {
	url  string
	http *http.Client
}

func newMIClient(url string, conns int) *miClient {
	tr := &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		IdleConnTimeout: time.Minute, DisableCompression: true,
	}
	return &miClient{url: url, http: &http.Client{Transport: tr}}
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *rpcError) Error() string { return fmt.Sprintf("mi error %d: %s", e.Code, e.Message) }

// call sends one JSON-RPC request and decodes the result into out.
func (c *miClient) call(ctx context.Context, method string, params any, out any) error {
	body, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
		ID      int    `json:"id"`
	}{"2.0", method, params, 1})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcError       `json:"error"`
	}
	if err := json.Unmarshal(answer, &r); err != nil {
		return fmt.Errorf("%s: bad answer %s: %.200q", method, resp.Status, answer)
	}
	if r.Error != nil {
		return r.Error
	}
	if out != nil {
		return json.Unmarshal(r.Result, out)
	}
	return nil
}
