package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ladder runs the throughput rate ladder over targets, interleaved: each
// rate is run on every target still climbing (in turn, the order reversed
// at every other rate) before the next rate. It appends its lines to sum.
func ladder(o options, targets []target, sum *strings.Builder) error {
	kind := "initial"
	if o.mix {
		kind = "mix"
	}
	var names, labels []string
	for _, t := range targets {
		names = append(names, t.String())
		labels = append(labels, t.label())
	}
	var csv *os.File
	if o.out != "" {
		path := filepath.Join(o.out, "throughput-"+strings.Join(labels, "+")+"-"+kind+".csv")
		var err error
		if csv, err = os.Create(path); err != nil {
			return err
		}
		defer csv.Close()
		fmt.Fprintln(csv, "server,store,calls,target_per_s,attempt,ok,errors,achieved_per_s,pass,noisy,p50_ms,p90_ms,p99_ms,max_ms,svc_p50_ms,svc_p99_ms,daemon_cpu_pct,driver_cpu_pct,other_cpu_pct,rss_kib,pss_kib,pua_published,presence_publications,verified")
	}
	fmt.Fprintf(sum, "throughput, %s, %s publications (%d connections, %s steps):\n", strings.Join(names, " and "), kind, o.conns, o.duration)
	fmt.Fprintf(sum, "  %-16s %6s %4s %7s %5s %8s %7s %7s %7s %7s %6s %6s %6s %8s %8s %s\n",
		"server", "target", "try", "ok", "errs", "achieved", "p50ms", "p90ms", "p99ms", "maxms", "srvCPU", "drvCPU", "other", "rssMiB", "pssMiB", "result")
	capacity := make([]int, len(targets))
	fails := make([]int, len(targets))
	for k, rate := range o.rates {
		order := make([]int, 0, len(targets))
		for i := range targets {
			if k%2 == 1 {
				i = len(targets) - 1 - i
			}
			if fails[i] < o.keepGoing {
				order = append(order, i)
			}
		}
		if len(order) == 0 {
			break
		}
		for _, i := range order {
			t := targets[i]
			passed := false
			for attempt := 1; attempt <= o.attempts; attempt++ {
				r, v, err := step(o, t, rate, attempt)
				if err != nil {
					return err
				}
				pass := r.errs == 0 && r.achieved() >= 0.95*float64(rate) && v.ok
				noisy := r.otherCPU > 40
				verdict := "pass"
				if !pass {
					verdict = "FAIL"
				}
				if noisy {
					verdict += ",noisy"
				}
				if !v.ok {
					verdict += ",verify:" + v.msg
				}
				fmt.Fprintf(sum, "  %-16s %6d %4d %7d %5d %8.0f %7s %7s %7s %7s %6.0f %6.0f %6.0f %8.1f %8.1f %s\n",
					t, rate, attempt, r.ok, r.errs, r.achieved(), ms(pct(r.lat, .5)), ms(pct(r.lat, .9)), ms(pct(r.lat, .99)),
					ms(pct(r.lat, 1)), r.daemonCPU, r.selfCPU, r.otherCPU, float64(v.rss)/1024, float64(v.pss)/1024, verdict)
				for _, e := range r.firstErrs {
					fmt.Fprintf(sum, "         error: %s\n", e)
				}
				if csv != nil {
					fmt.Fprintf(csv, "%s,%s,%s,%d,%d,%d,%d,%.0f,%t,%t,%s,%s,%s,%s,%s,%s,%.1f,%.1f,%.1f,%d,%d,%d,%d,%t\n",
						t.server, t.store, kind, rate, attempt, r.ok, r.errs, r.achieved(), pass, noisy,
						ms(pct(r.lat, .5)), ms(pct(r.lat, .9)), ms(pct(r.lat, .99)), ms(pct(r.lat, 1)),
						ms(pct(r.service, .5)), ms(pct(r.service, .99)), r.daemonCPU, r.selfCPU, r.otherCPU,
						v.rss, v.pss, v.puaPublished, v.presencePubs, v.ok)
				}
				logf("%s %s %d/s try %d: ok %d errs %d achieved %.0f/s p50 %s p99 %s ms server %.0f%% driver %.0f%% other %.0f%% pss %.0f MiB %s",
					t, kind, rate, attempt, r.ok, r.errs, r.achieved(), ms(pct(r.lat, .5)), ms(pct(r.lat, .99)),
					r.daemonCPU, r.selfCPU, r.otherCPU, float64(v.pss)/1024, verdict)
				if pass {
					passed = true
					break
				}
				if !noisy && r.errs > 0 && r.achieved() < 0.5*float64(rate) {
					break // far off: another try will not pass
				}
			}
			if passed {
				capacity[i], fails[i] = rate, 0
			} else {
				fails[i]++
			}
		}
	}
	for i, t := range targets {
		fmt.Fprintf(sum, "  capacity (highest passing step) %s: %d pua_publish/s\n", t, capacity[i])
	}
	fmt.Fprintln(sum)
	return nil
}

type verification struct {
	ok           bool
	msg          string
	rss, pss     int64 // KiB, the server's processes together, before the listing
	puaPublished int   // -1: not counted (Kamailio)
	presencePubs int
}

// step runs one ladder step on a fresh server.
func step(o options, t target, rate, attempt int) (*loadResult, verification, error) {
	var v verification
	waitQuiet(o.quietPct, o.quietMax)
	var d *daemon
	var err error
	pub := publish
	if t.server == "kamailio" {
		d, err = startKamailio(o.kam)
		pub = kamPublish
	} else {
		label := fmt.Sprintf("throughput-%s-%d-%d", t.store, rate, attempt)
		d, err = startDaemon(daemonFor(o, t.store, 0, label))
	}
	if err != nil {
		return nil, v, err
	}
	defer d.stop()
	c := newMIClient(d.rpcURL, o.conns)
	calls := rate * int(o.duration/time.Second)
	prefix := fmt.Sprintf("sip:b%d", rate)
	var r *loadResult
	if !o.mix {
		r = openLoop(d.procs, rate, calls, 1, o.conns, 40*time.Second,
			func(ctx context.Context, i int, sched time.Time, lat func(sched, sent time.Time)) error {
				uri := prefix + "u" + strconv.Itoa(i) + "@bench.test"
				sent := time.Now()
				_, err := pub(ctx, c, uri, 3600, "", pidfBody(uri, "initial"))
				return recorded(lat, sched, sent, err)
			})
	} else {
		r = openLoop(d.procs, rate, calls-calls%3, 3, o.conns, 40*time.Second,
			func(ctx context.Context, i int, sched time.Time, lat func(sched, sent time.Time)) error {
				uri := prefix + "u" + strconv.Itoa(i) + "@bench.test"
				sent := time.Now()
				p, err := pub(ctx, c, uri, 3600, "", pidfBody(uri, "initial"))
				if err = recorded(lat, sched, sent, err); err != nil {
					return err
				}
				sent = time.Now()
				p, err = pub(ctx, c, uri, 3600, p.ETag, pidfBody(uri, "modified"))
				if err = recorded(lat, sent, sent, err); err != nil {
					return fmt.Errorf("modify: %w", err)
				}
				sent = time.Now()
				_, err = pub(ctx, c, uri, 0, p.ETag, "")
				if err = recorded(lat, sent, sent, err); err != nil {
					return fmt.Errorf("remove: %w", err)
				}
				return nil
			})
	}
	want := r.ok
	if o.mix {
		want = 0
	}
	v = verify(d, c, want)
	if n := d.errorLines(); n > 0 {
		v.ok = false
		v.msg += fmt.Sprintf(" daemon logged %d errors: %.300s", n, d.tail())
	}
	if r.errs > 0 && len(r.firstErrs) > 0 {
		logf("daemon log tail: %.500s", d.tail())
	}
	return r, v, nil
}

// recorded records a successful call's latency.
func recorded(lat func(sched, sent time.Time), sched, sent time.Time, err error) error {
	if err == nil {
		lat(sched, sent)
	}
	return err
}

// verify counts the publications held by the pua core (pua_list) and by
// the presence server (presence_list) and compares them with want.
func verify(d *daemon, c *miClient, want int) verification {
	v := verification{ok: true}
	v.rss, v.pss = memKiB(d.procs)
	// the pua core answers a call before its shard has finished with the
	// reply; a moment for stragglers
	time.Sleep(500 * time.Millisecond)
	if d.kind == "kamailio" {
		return verifyKamailio(d, c, want, v)
	}
	ctx, cancel := ctxTimeout(2 * time.Minute)
	defer cancel()
	var recs []struct {
		Kind  string `json:"kind"`
		State string `json:"state"`
	}
	if err := c.call(ctx, "pua_list", nil, &recs); err != nil {
		v.ok, v.msg = false, "pua_list: "+err.Error()
		return v
	}
	for _, r := range recs {
		if r.Kind == "publication" && r.State == "published" {
			v.puaPublished++
		}
	}
	var pres []struct {
		Publications []struct {
			Event string `json:"event"`
		} `json:"publications"`
	}
	if err := c.call(ctx, "presence_list", nil, &pres); err != nil {
		v.ok, v.msg = false, "presence_list: "+err.Error()
		return v
	}
	for _, p := range pres {
		v.presencePubs += len(p.Publications)
	}
	if v.puaPublished != want || v.presencePubs != want || len(recs) != want {
		v.ok = false
		v.msg = fmt.Sprintf("want %d, pua_list %d records (%d published), presence_list %d publications", want, len(recs), v.puaPublished, v.presencePubs)
	}
	return v
}
