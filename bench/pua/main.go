// Command pua is the pua_mi load benchmark: it drives pua_publish over the
// management API (JSON-RPC on HTTP, keep-alive connections) of a presenced
// daemon whose pua core publishes to the daemon's own presence server over
// UDP on 127.0.0.1, each call answered after the final SIP response.
//
//	go run ./bench/pua -bin PRESENCED [flags]     (bench/pua/run.sh builds and runs it)
//
// Two parts (-mode):
//
//   - throughput: an open-loop rate ladder of pua_publish calls, each step on
//     a fresh daemon; a step passes with every call answered 200 and the
//     achieved rate at least 95 % of the target. Latency is timed from the
//     call's scheduled start, so time spent waiting for a free connection
//     counts. After each step the publications held are counted through
//     pua_list and presence_list.
//     With -servers presenced,kamailio the ladder also drives the peer,
//     Kamailio 5.6's pua.publish (pua_rpc over jsonrpcs/xhttp, publishing
//     to its own presence server: kamailio/pua.cfg), the servers
//     interleaved at every rate, each on a fresh process.
//   - hold: N publications kept refreshed ("expires" -1, pua.default_expires
//     set to -refresh), then the daemon's CPU and RSS sampled every second
//     for -observe seconds; refresh bursts are told apart from the quiet
//     time between them by the pua core's PUBLISH reply counter.
//
// Each part holds the shared benchmark lock (-lock) while it runs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin        string
	profBin    string
	profDir    string
	mode       string
	stores     []string
	rates      []int
	duration   time.Duration
	conns      int
	mix        bool
	keepGoing  int
	n          int
	createRate int
	refresh    int
	observe    time.Duration
	out        string
	lock       string
	quietPct   float64
	quietMax   time.Duration
	attempts   int
	servers    []string
	kam        kamOpts
}

// target is one server of a ladder: presenced on a store, or Kamailio
// (its store is memory: kamailio/pua.cfg).
type target struct{ server, store string }

func (t target) String() string { return t.server + "/" + t.store }

// label names the target in file names: the store alone for presenced
// (as the ladders before Kamailio joined them), else the server.
func (t target) label() string {
	if t.server == "presenced" {
		return t.store
	}
	return t.server
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "puabench:", err)
		os.Exit(1)
	}
}

func run() error {
	var o options
	var stores, rates, servers string
	flag.StringVar(&o.bin, "bin", "", "presenced binary (required)")
	flag.StringVar(&o.profBin, "profiled", "", "bench/profile binary: run the daemon under it and write CPU profiles to -profile-dir")
	flag.StringVar(&o.profDir, "profile-dir", "", "directory for CPU profiles (with -profiled)")
	flag.StringVar(&o.mode, "mode", "throughput,hold", "parts to run: throughput, hold (comma separated)")
	flag.StringVar(&stores, "stores", "sqlite,memory", "presenced's store backends for the throughput ladder")
	flag.StringVar(&servers, "servers", "presenced", "servers of the throughput ladder: presenced, kamailio (comma separated; both: one ladder, interleaved)")
	flag.StringVar(&o.kam.bin, "kamailio", "kamailio", "Kamailio binary")
	flag.StringVar(&o.kam.cfg, "kamailio-cfg", "bench/pua/kamailio/pua.cfg", "Kamailio config")
	flag.IntVar(&o.kam.children, "kam-children", 4, "Kamailio UDP (SIP) workers")
	flag.IntVar(&o.kam.tcpChildren, "kam-tcp-children", 4, "Kamailio TCP (HTTP JSON-RPC) workers")
	flag.IntVar(&o.kam.shmMiB, "kam-shm", 2048, "Kamailio shared memory, MiB (-m); its records, transactions and delayed RPC replies live there")
	flag.IntVar(&o.kam.pkgMiB, "kam-pkg", 64, "Kamailio private memory per process, MiB (-M)")
	flag.StringVar(&rates, "rates", "2000,3000,4000,5000,6000,7000,8000", "throughput ladder, pua_publish calls per second")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "length of a ladder step")
	flag.IntVar(&o.conns, "conns", 256, "HTTP connections (most calls in flight)")
	flag.BoolVar(&o.mix, "mix", false, "ladder calls are cycles initial, modify (ETag, new body), remove (ETag, expires 0) instead of initial publications only")
	flag.IntVar(&o.keepGoing, "keep-going", 2, "stop a ladder after that many failed steps in a row")
	flag.IntVar(&o.attempts, "attempts", 2, "tries of a step that fails or is noisy")
	flag.IntVar(&o.n, "n", 100000, "hold: publications held")
	flag.IntVar(&o.createRate, "create-rate", 3000, "hold: pua_publish calls per second while creating them")
	flag.IntVar(&o.refresh, "refresh", 120, "hold: pua.default_expires, the Expires each refresh asks for")
	flag.DurationVar(&o.observe, "observe", 330*time.Second, "hold: sampling time after the creation")
	flag.StringVar(&o.out, "out", "", "results directory (summary csv, timeline csv); empty: none")
	flag.StringVar(&o.lock, "lock", "/tmp/presenced-bench.lock", "benchmark lock file held during each part; empty: none")
	flag.Float64Var(&o.quietPct, "quiet-pct", 30, "wait before a step until the machine's CPU busy is below this percentage of one core")
	flag.DurationVar(&o.quietMax, "quiet-max", 120*time.Second, "longest wait for a quiet machine")
	flag.Parse()
	if o.bin == "" {
		return errors.New("-bin is required (bench/pua/run.sh builds it)")
	}
	o.stores = list(stores)
	o.servers = list(servers)
	var withKam bool
	for _, s := range o.servers {
		switch s {
		case "presenced":
		case "kamailio":
			withKam = true
		default:
			return fmt.Errorf("unknown server %q (presenced, kamailio)", s)
		}
	}
	for _, s := range strings.FieldsFunc(rates, func(r rune) bool { return r == ',' || r == ' ' }) {
		r, err := strconv.Atoi(s)
		if err != nil || r <= 0 {
			return fmt.Errorf("bad rate %q", s)
		}
		o.rates = append(o.rates, r)
	}
	if o.out != "" {
		if err := os.MkdirAll(o.out, 0o755); err != nil {
			return err
		}
	}
	if o.profBin != "" && o.profDir == "" {
		return errors.New("-profiled needs -profile-dir")
	}
	var sum strings.Builder
	for _, m := range strings.Split(o.mode, ",") {
		switch strings.TrimSpace(m) {
		case "throughput":
			for _, ts := range ladders(o, withKam) {
				if err := locked(o.lock, func() error { return ladder(o, ts, &sum) }); err != nil {
					return err
				}
			}
		case "hold":
			if err := locked(o.lock, func() error { return hold(o, &sum) }); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unknown mode %q", m)
		}
	}
	fmt.Print("\n==== summary ====\n", sum.String())
	if o.out != "" {
		return os.WriteFile(filepath.Join(o.out, "summary.txt"), []byte(sum.String()), 0o644)
	}
	return nil
}

// ladders are the throughput ladders to run: one per store of presenced
// alone; with Kamailio, one with all of them and Kamailio.
func ladders(o options, withKam bool) [][]target {
	var all []target
	for _, s := range o.servers {
		if s == "kamailio" {
			continue
		}
		for _, st := range o.stores {
			all = append(all, target{"presenced", st})
		}
	}
	if !withKam {
		var out [][]target
		for _, t := range all {
			out = append(out, []target{t})
		}
		return out
	}
	return [][]target{append(all, target{"kamailio", "memory"})}
}

func list(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// locked runs f holding an exclusive flock on path.
func locked(path string, f func() error) error {
	if path == "" {
		return f()
	}
	fd, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return err
	}
	defer fd.Close()
	logf("waiting for the benchmark lock %s", path)
	if err := syscall.Flock(int(fd.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	logf("lock held")
	defer syscall.Flock(int(fd.Fd()), syscall.LOCK_UN)
	return f()
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// daemonFor returns the options of the daemon of a run: under the
// profiling wrapper when asked, its profiles named after label.
func daemonFor(o options, store string, puaExpires int, label string) daemonOpts {
	d := daemonOpts{bin: o.bin, store: store, puaExpires: puaExpires}
	if o.profBin != "" {
		d.bin = o.profBin
		d.args = []string{"-cpuprofile", filepath.Join(o.profDir, label+".cpu.prof")}
	}
	return d
}

// pctOfCore turns clock ticks over a duration into percent of one core.
func pctOfCore(ticks int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(ticks) / d.Seconds() // 100 ticks a second = 100 %
}

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
