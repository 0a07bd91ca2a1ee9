package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sample is one second of the hold timeline.
type sample struct {
	t        float64 // seconds since the creation ended (negative during it)
	cpu      float64 // daemon, % of one core over the second
	rss      int64   // KiB
	replies  int     // PUBLISH replies the pua core got in the second (every outcome)
	non2xx   int     // of which not 2xx
	puaPubs  int     // presenced_pua_publications
	presPubs int     // presenced_publications
	other    float64 // machine busy minus daemon and driver, % of one core
	class    string  // create, burst, after (within settle s after a burst), steady
}

const (
	replies = `presenced_pua_publish_replies_total`
	settle  = 3 // seconds after a burst not counted as steady
)

// hold creates o.n refreshing publications and samples the daemon.
func hold(o options, sum *strings.Builder) error {
	waitQuiet(o.quietPct, o.quietMax)
	dopts := daemonOpts{bin: o.bin, store: "sqlite", puaExpires: o.refresh}
	var prefix string
	if o.profBin != "" {
		dopts.bin = o.profBin
		prefix = filepath.Join(o.profDir, "hold-steady.cpu.prof")
		dopts.args = []string{"-windowprofile", prefix}
	}
	d, err := startDaemon(dopts)
	if err != nil {
		return err
	}
	defer d.stop()
	c := newMIClient(d.rpcURL, o.conns)
	scrape := &http.Client{Timeout: 5 * time.Second}
	read := func() (total, non2xx int, pua, pres int) {
		ctx, cancel := ctxTimeout(5 * time.Second)
		defer cancel()
		m, err := metrics(ctx, scrape, d.miAddr, replies, "presenced_pua_publications ", "presenced_publications ")
		if err != nil {
			logf("metrics: %v", err)
		}
		for k, v := range m {
			switch {
			case strings.HasPrefix(k, replies):
				total += int(v)
				if !strings.Contains(k, `outcome="2xx"`) {
					non2xx += int(v)
				}
			case strings.HasPrefix(k, "presenced_pua_publications"):
				pua = int(v)
			case strings.HasPrefix(k, "presenced_publications"):
				pres = int(v)
			}
		}
		return
	}

	// sampler: every second until stop is closed
	var created time.Time // set when the creation ends
	createdCh := make(chan time.Time, 1)
	stop := make(chan struct{})
	done := make(chan []sample)
	go func() {
		var out []sample
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		prevCPU, _ := cpuTicks(d.pid())
		prevSelf := selfTicks()
		prevM, _ := machineTicks()
		prevTotal, prevNon, _, _ := read()
		prevT := time.Now()
		var end time.Time
		lastBurst := -1000.0
		profiling := false
		for {
			select {
			case <-stop:
				if profiling {
					d.cmd.Process.Signal(syscall.SIGUSR2)
				}
				done <- out
				return
			case end = <-createdCh:
			case now := <-tick.C:
				cpu, _ := cpuTicks(d.pid())
				self := selfTicks()
				m, _ := machineTicks()
				total, non, pua, pres := read()
				dt, from := now.Sub(prevT), prevT
				s := sample{
					cpu: pctOfCore(cpu-prevCPU, dt), rss: rssKiB(d.pid()),
					replies: total - prevTotal, non2xx: non - prevNon, puaPubs: pua, presPubs: pres,
					other: pctOfCore((m-prevM)-(cpu-prevCPU)-(self-prevSelf), dt),
				}
				prevCPU, prevSelf, prevM, prevTotal, prevNon, prevT = cpu, self, m, total, non, now
				switch {
				case end.IsZero() || from.Before(end): // the creation's last answers count in this second
					s.t, s.class = -1, "create"
				default:
					s.t = now.Sub(end).Seconds()
					switch {
					case s.replies > 0:
						s.class, lastBurst = "burst", s.t
					case s.t < settle || s.t-lastBurst <= settle:
						s.class = "after"
					default:
						s.class = "steady"
					}
				}
				out = append(out, s)
				// CPU profile of the steady seconds only, one window each
				if prefix != "" {
					if s.class == "steady" && !profiling {
						d.cmd.Process.Signal(syscall.SIGUSR1)
						profiling = true
					} else if s.class != "steady" && profiling {
						d.cmd.Process.Signal(syscall.SIGUSR2)
						profiling = false
					}
				}
			}
		}
	}()

	logf("hold: creating %d publications at %d/s (pua.default_expires %d)", o.n, o.createRate, o.refresh)
	r := openLoop(d.procs, o.createRate, o.n, 1, o.conns, 60*time.Second,
		func(ctx context.Context, i int, sched time.Time, lat func(sched, sent time.Time)) error {
			uri := "sip:h" + strconv.Itoa(i) + "@bench.test"
			sent := time.Now()
			_, err := publish(ctx, c, uri, -1, "", pidfBody(uri, "held"))
			return recorded(lat, sched, sent, err)
		})
	created = time.Now()
	createdCh <- created
	logf("hold: created %d (errors %d) in %.1f s, p50 %s p99 %s ms; observing %s", r.ok, r.errs, r.elapsed.Seconds(),
		ms(pct(r.lat, .5)), ms(pct(r.lat, .99)), o.observe)
	time.Sleep(o.observe)
	close(stop)
	samples := <-done
	v := verify(d, c, r.ok)

	// the timeline
	if o.out != "" {
		f, err := os.Create(filepath.Join(o.out, "hold-timeline.csv"))
		if err != nil {
			return err
		}
		fmt.Fprintln(f, "t_s,class,daemon_cpu_pct,rss_kib,publish_replies,non_2xx,pua_publications,presence_publications,other_cpu_pct")
		for _, s := range samples {
			fmt.Fprintf(f, "%.0f,%s,%.1f,%d,%d,%d,%d,%d,%.1f\n", s.t, s.class, s.cpu, s.rss, s.replies, s.non2xx, s.puaPubs, s.presPubs, s.other)
		}
		f.Close()
	}

	// summary: steady, bursts, RSS
	var steady, after, burstCPU []float64
	var peakRSS, endRSS int64
	type burst struct {
		start, end      float64
		refreshes, non  int
		cpuSum, cpuPeak float64
		secs            int
	}
	var bursts []burst
	refreshed, non2xx := 0, 0
	noisy := 0
	for _, s := range samples {
		peakRSS = max(peakRSS, s.rss)
		endRSS = s.rss
		if s.class == "create" {
			continue
		}
		refreshed += s.replies
		non2xx += s.non2xx
		switch s.class {
		case "steady":
			steady = append(steady, s.cpu)
			if s.other > 40 {
				noisy++
			}
		case "after":
			after = append(after, s.cpu)
		case "burst":
			burstCPU = append(burstCPU, s.cpu)
			if n := len(bursts); n > 0 && s.t-bursts[n-1].end <= settle {
				b := &bursts[n-1]
				b.end, b.refreshes, b.non = s.t, b.refreshes+s.replies, b.non+s.non2xx
				b.cpuSum, b.cpuPeak, b.secs = b.cpuSum+s.cpu, max(b.cpuPeak, s.cpu), b.secs+1
			} else {
				bursts = append(bursts, burst{s.t, s.t, s.replies, s.non2xx, s.cpu, s.cpu, 1})
			}
		}
	}
	mean := func(x []float64) float64 {
		t := 0.0
		for _, v := range x {
			t += v
		}
		if len(x) == 0 {
			return 0
		}
		return t / float64(len(x))
	}
	maxf := func(x []float64) float64 {
		m := 0.0
		for _, v := range x {
			m = max(m, v)
		}
		return m
	}
	fmt.Fprintf(sum, "hold: %d refreshing publications (expires -1, pua.default_expires %d s: a refresh every %d s), store sqlite\n",
		o.n, o.refresh, o.refresh*2/3)
	fmt.Fprintf(sum, "  creation: %d ok, %d errors at %d/s target (achieved %.0f/s), p50 %s ms p99 %s ms, daemon CPU %.0f%%\n",
		r.ok, r.errs, o.createRate, r.achieved(), ms(pct(r.lat, .5)), ms(pct(r.lat, .99)), r.daemonCPU)
	fmt.Fprintf(sum, "  observed %s: %d PUBLISH refreshes answered (%d not 2xx) in %d bursts\n", o.observe, refreshed, non2xx, len(bursts))
	fmt.Fprintf(sum, "  steady (no refresh, >%d s after a burst): %d s, daemon CPU mean %.2f%% max %.1f%% of one core (%d noisy s)\n",
		settle, len(steady), mean(steady), maxf(steady), noisy)
	fmt.Fprintf(sum, "  settling (<=%d s after a burst): %d s, CPU mean %.1f%%\n", settle, len(after), mean(after))
	fmt.Fprintf(sum, "  in bursts: %d s, CPU mean %.1f%% max %.1f%%\n", len(burstCPU), mean(burstCPU), maxf(burstCPU))
	for i, b := range bursts {
		fmt.Fprintf(sum, "    burst %d: t=%.0f..%.0f s (%d s with refreshes), %d refreshes (%d not 2xx), CPU mean %.1f%% peak %.1f%%\n",
			i+1, b.start, b.end, b.secs, b.refreshes, b.non, b.cpuSum/float64(b.secs), b.cpuPeak)
	}
	fmt.Fprintf(sum, "  RSS: peak %.1f MiB, at the end %.1f MiB\n", float64(peakRSS)/1024, float64(endRSS)/1024)
	verdict := "MET"
	if mean(steady) >= 10 {
		verdict = "NOT MET"
	}
	fmt.Fprintf(sum, "  target steady CPU < 10%% of one core: %s\n", verdict)
	if v.ok {
		fmt.Fprintf(sum, "  verified: pua_list %d published, presence_list %d publications\n\n", v.puaPublished, v.presencePubs)
	} else {
		fmt.Fprintf(sum, "  verification FAILED: %s\n\n", v.msg)
	}
	return nil
}
