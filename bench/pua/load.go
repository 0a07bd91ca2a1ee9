package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// publishReply is pua_publish's result.
type publishReply struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	ETag    string `json:"ETag"`
	Expires int    `json:"Expires"`
}

// pidfBody is a small PIDF document for presentity uri.
func pidfBody(uri, note string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="` + uri + `">` +
		`<tuple id="t1"><status><basic>open</basic></status><note>` + note + `</note></tuple></presence>`
}

// publish calls pua_publish; etag "" starts a new publication, body ""
// refreshes or removes.
func publish(ctx context.Context, c *miClient, uri string, expires int, etag, body string) (publishReply, error) {
	ct, tag, b := ".", ".", any(nil)
	if body != "" {
		ct, b = "application/pidf+xml", body
	}
	if etag != "" {
		tag = etag
	}
	params := []any{uri, expires, "presence", ct, tag, "."}
	if b != nil {
		params = append(params, b)
	}
	var r publishReply
	err := c.call(ctx, "pua_publish", params, &r)
	if err == nil && (r.Code < 200 || r.Code > 299) {
		err = fmt.Errorf("SIP %d %s", r.Code, r.Reason)
	}
	if err == nil && expires != 0 && r.ETag == "" {
		err = errors.New("2xx without ETag")
	}
	return r, err
}

// loadResult is what one open-loop run of calls gave.
type loadResult struct {
	target    int // calls per second asked
	calls     int // calls scheduled
	ok        int
	errs      int
	firstErrs []string
	elapsed   time.Duration // first scheduled start to last answer
	lat       []time.Duration
	service   []time.Duration // from the send, without waiting for a connection
	daemonCPU float64         // the server's processes, % of a core over elapsed
	selfCPU   float64
	otherCPU  float64 // machine busy minus daemon and this process, % of a core
}

func (r *loadResult) achieved() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(float64(len(d)-1) * p)
	return d[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// openLoop schedules calls at rate a second, call i at start + i/rate,
// over conns workers; job(i) makes call i (one or several pua_publish:
// ops is how many calls a job makes, and rate counts calls). It waits for
// every answer, at most drain past the last scheduled start.
func openLoop(pids []int, rate, calls, ops, conns int, drain time.Duration,
	job func(ctx context.Context, i int, sched time.Time, lat func(sched, sent time.Time)) error) *loadResult {
	res := &loadResult{target: rate, calls: calls}
	jobs := calls / ops
	type item struct {
		i     int
		sched time.Time
	}
	ch := make(chan item, jobs)
	var mu sync.Mutex
	var ok, errs atomic.Int64
	var last atomic.Int64
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(float64(jobs)/float64(rate)*float64(ops)*float64(time.Second))+drain)
	defer cancel()

	d0 := procsTicks(pids)
	s0 := selfTicks()
	m0, _ := machineTicks()
	start := time.Now().Add(20 * time.Millisecond)
	var wg sync.WaitGroup
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat, svc []time.Duration
			record := func(sched, sent time.Time) {
				now := time.Now()
				lat = append(lat, now.Sub(sched))
				svc = append(svc, now.Sub(sent))
			}
			for it := range ch {
				err := job(ctx, it.i, it.sched, record)
				if err != nil {
					errs.Add(1)
					mu.Lock()
					if len(res.firstErrs) < 5 {
						res.firstErrs = append(res.firstErrs, err.Error())
					}
					mu.Unlock()
				} else {
					ok.Add(int64(ops))
				}
				last.Store(int64(time.Since(start)))
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.service = append(res.service, svc...)
			mu.Unlock()
		}()
	}
	interval := time.Duration(float64(time.Second) * float64(ops) / float64(rate))
	for i := 0; i < jobs; i++ {
		sched := start.Add(time.Duration(i) * interval)
		if d := time.Until(sched); d > 0 {
			time.Sleep(d)
		}
		ch <- item{i, sched}
	}
	close(ch)
	wg.Wait()
	d1 := procsTicks(pids)
	s1 := selfTicks()
	m1, _ := machineTicks()
	res.ok, res.errs = int(ok.Load()), int(errs.Load())
	res.elapsed = time.Duration(last.Load())
	if full := time.Duration(jobs) * interval; res.elapsed < full {
		res.elapsed = full
	}
	wall := time.Since(start)
	res.daemonCPU = pctOfCore(d1-d0, wall)
	res.selfCPU = pctOfCore(s1-s0, wall)
	res.otherCPU = pctOfCore((m1-m0)-(d1-d0)-(s1-s0), wall)
	slices.Sort(res.lat)
	slices.Sort(res.service)
	return res
}
