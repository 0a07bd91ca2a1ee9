// Package xmppbench measures the SIP-XMPP gateway: N XMPP users on a real
// Prosody and N SIP users cross-subscribed through a gateway, then status
// changes both ways at a fixed rate, each timed from the change to its
// arrival on the other side. The gateways, one after the other on the
// same Prosody in one run (sub-benchmarks Gateway/presenced and
// Gateway/kamailio): a presenced daemon (a separate process, built from
// ./cmd/presenced, so that its CPU and memory are its own), and the peer,
// Kamailio 5.6 with presence + pua + xmpp + pua_xmpp (kamailio/xmpp.cfg,
// kamailio/README.md).
//
//	go test ./bench/xmpp -run XXX -bench Gateway -benchtime 1x -timeout 30m
//
// The results are printed on lines starting "xmpp bench: <server>:".
//
// Environment: BENCH_XMPP_SERVER (presenced, kamailio or both, default
// both), BENCH_XMPP_USERS (pairs, default 1000), BENCH_XMPP_KAMAILIO_USERS
// (pairs for Kamailio, default BENCH_XMPP_USERS), BENCH_XMPP_RATE
// (status changes a second, both directions together, default 200),
// BENCH_XMPP_SECONDS (measurement, default 30), BENCH_XMPP_STORE (memory
// or sqlite, default sqlite; presenced), BENCH_XMPP_PROSODY_NODELAY (set:
// Prosody with Nagle's algorithm off and opportunistic writes),
// BENCH_XMPP_PROSODY_GC (Prosody's Lua collector mode: incremental or
// generational), BENCH_XMPP_DAEMON_LOG (a file to keep the daemon's log
// in; with GODEBUG=gctrace=1 it shows the daemon's garbage collections),
// BENCH_XMPP_KAMAILIO_LOG (a file to keep Kamailio's log in),
// BENCH_XMPP_KAMAILIO_DEBUG (set: Kamailio logs at debug level),
// BENCH_XMPP_KAMAILIO_DEFINES (more -A defines for kamailio/xmpp.cfg,
// NAME=value separated by spaces, e.g. SUBSDBMODE=0),
// BENCH_XMPP_KAMAILIO_STOCK (set: Kamailio without the shim
// kamailio/attsfix.c, with which its xmpp module dies at the first XML
// element).
//
// Pair i is XMPP user x<i>@example.com (k<i> for Kamailio) and SIP user
// sip:s<i>@sip.example.com: x<i> subscribes to s<i> over XMPP (a SIP
// subscription of the gateway), s<i> subscribes to x<i> over SIP (pending
// until x<i> accepts the XMPP request the gateway makes of it). Each
// gateway has its own addresses for the other side's users
// (gateway.jidOfSIP, gateway.uriOfXMPP): presenced maps them one to one
// (s<i>@sip.example.com, sip:x<i>@example.com), Kamailio encodes the
// domain into the user part (s<i>*sip.example.com@kam.example.com,
// sip:k<i>*example.com@127.0.0.1:port). A change is an XMPP presence of
// x<i> with a unique status and the next of four <show> values (seen in
// s<i>'s NOTIFY: as the status for presenced, as the note Kamailio makes
// of the <show>, since it drops the status), or a PUBLISH of s<i> with a
// unique note (seen in x<i>'s presence).
package xmppbench

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
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

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/testpeer"
	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/xmpp"
	"github.com/presenced/presenced/xmpp/xmpptest"
)

// sipDomain is the SIP users' domain.
const sipDomain = "sip.example.com"

func env(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// timings matches changes to their arrival.
type timings struct {
	mu      sync.Mutex
	sent    map[string]time.Time // token -> when the change was made
	xToSIP  []time.Duration
	sipToX  []time.Duration
	control []time.Duration // XMPP to XMPP through Prosody alone
	arrived chan struct{}
	// expect: pair -> its pending XMPP change, recognised by the note the
	// gateway makes of its <show> (gateway.noteOfShow)
	expect map[int]expectation
}

type expectation struct{ note, token string }

// startNote starts XMPP change token of pair i, to be recognised by note.
func (tm *timings) startNote(i int, note, token string) {
	tm.mu.Lock()
	tm.expect[i] = expectation{note, token}
	tm.mu.Unlock()
	tm.start(token)
}

// expecting reports whether pair i has an XMPP change pending by note.
func (tm *timings) expecting(i int) bool {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	_, ok := tm.expect[i]
	return ok
}

// arriveNote times pair i's pending change if note is its note.
func (tm *timings) arriveNote(i int, note string, at time.Time) {
	tm.mu.Lock()
	e, ok := tm.expect[i]
	if ok && e.note == note {
		delete(tm.expect, i)
	}
	tm.mu.Unlock()
	if ok && e.note == note {
		tm.arrive(e.token, at)
	}
}

func (tm *timings) start(token string) {
	tm.mu.Lock()
	tm.sent[token] = time.Now()
	tm.mu.Unlock()
}

func (tm *timings) arrive(token string, at time.Time) {
	tm.mu.Lock()
	t0, ok := tm.sent[token]
	if ok {
		delete(tm.sent, token)
		switch token[0] {
		case 'x':
			tm.xToSIP = append(tm.xToSIP, at.Sub(t0))
		case 's':
			tm.sipToX = append(tm.sipToX, at.Sub(t0))
		default:
			tm.control = append(tm.control, at.Sub(t0))
		}
	}
	tm.mu.Unlock()
	if ok {
		select {
		case tm.arrived <- struct{}{}:
		default:
		}
	}
}

func (tm *timings) pending() int {
	tm.mu.Lock()
	defer tm.mu.Unlock()
	return len(tm.sent)
}

// sipSide is the N SIP users: one SIP stack, dialogs by Call-ID.
type sipSide struct {
	stack  *sipnet.Stack
	daemon netip.AddrPort
	tm     *timings
	target func(i int) string // the SIP URI of s<i>'s XMPP buddy

	mu     sync.Mutex
	byCall map[string]int // subscription Call-ID -> pair
	active map[int]bool   // pair's subscription got an active NOTIFY with open
	etag   map[int]string
	notify chan struct{}
}

func (s *sipSide) onNotify(tx *sipnet.ServerTx) {
	now := time.Now()
	req := tx.Request()
	_ = tx.Reply(200, "OK")
	cid := ""
	if c := req.CallID(); c != nil {
		cid = string(*c)
	}
	s.mu.Lock()
	i, ok := s.byCall[cid]
	s.mu.Unlock()
	if !ok || len(req.Body()) == 0 {
		return
	}
	d, err := pidf.Parse(req.Body())
	if err != nil {
		return
	}
	open, _, note := pidf.Summary(d)
	if ss := req.GetHeader("Subscription-State"); ss != nil && strings.HasPrefix(ss.Value(), "active") && open {
		s.mu.Lock()
		first := !s.active[i]
		s.active[i] = true
		s.mu.Unlock()
		if first {
			select {
			case s.notify <- struct{}{}:
			default:
			}
		}
	}
	if strings.HasPrefix(note, "x") {
		s.tm.arrive(note, now)
	} else {
		s.tm.arriveNote(i, note, now)
	}
}

func (s *sipSide) request(method sip.RequestMethod, ruri, from, callID string, hdrs map[string]string, body []byte) *sip.Request {
	var ru, fu sip.Uri
	_ = sip.ParseUri(ruri, &ru)
	_ = sip.ParseUri(from, &fu)
	req := sip.NewRequest(method, ru)
	fh := &sip.FromHeader{Address: fu, Params: sip.NewParams()}
	fh.Params.Add("tag", strconv.FormatUint(rand.Uint64(), 36))
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: ru, Params: sip.NewParams()})
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: method})
	for k, v := range hdrs {
		req.AppendHeader(sip.NewHeader(k, v))
	}
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", pidf.ContentType))
		req.SetBody(body)
	}
	return req
}

// publish sends s<i>'s state with note, keeping the entity-tag.
func (s *sipSide) publish(ctx context.Context, i int, note string) error {
	pres := fmt.Sprintf("sip:s%d@%s", i, sipDomain)
	s.mu.Lock()
	etag := s.etag[i]
	s.mu.Unlock()
	hdrs := map[string]string{"Event": "presence", "Expires": "3600"}
	if etag != "" {
		hdrs["SIP-If-Match"] = etag
	}
	body := pidf.Rich(pidf.RichStatus{Entity: pres, Open: true, Note: note, Activities: []string{pidf.ActivityAway}})
	res, err := s.stack.Do(ctx, s.request(sip.PUBLISH, pres, pres, strconv.FormatUint(rand.Uint64(), 36), hdrs, body), sipnet.SendOptions{Destination: s.daemon})
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("publish %s: %d %s", pres, res.StatusCode, res.Reason)
	}
	if h := res.GetHeader("SIP-ETag"); h != nil {
		s.mu.Lock()
		s.etag[i] = h.Value()
		s.mu.Unlock()
	}
	return nil
}

// subscribe makes s<i> watch its XMPP buddy.
func (s *sipSide) subscribe(ctx context.Context, i int) error {
	cid := fmt.Sprintf("b%d-%x", i, rand.Uint64())
	s.mu.Lock()
	s.byCall[cid] = i
	s.mu.Unlock()
	ct := s.stack.ContactURI("udp", fmt.Sprintf("s%d", i))
	req := s.request(sip.SUBSCRIBE, s.target(i), fmt.Sprintf("sip:s%d@%s", i, sipDomain), cid,
		map[string]string{"Event": "presence", "Expires": "3600", "Contact": "<" + ct.String() + ">"}, nil)
	res, err := s.stack.Do(ctx, req, sipnet.SendOptions{Destination: s.daemon})
	if err != nil {
		return err
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("subscribe %s: %d", s.target(i), res.StatusCode)
	}
	return nil
}

// startDaemon builds ./cmd/presenced and runs it as its own process with
// the gateway's component on s, stopped at the end of b.
func startDaemon(b *testing.B, s *testpeer.ProsodyServer, store string) *gateway {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "presenced")
	build := exec.Command("go", "build", "-o", bin, "./cmd/presenced")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build presenced: %v\n%s", err, out)
	}
	sipPort, miPort := testpeer.FreePort(b, "udp+tcp"), testpeer.FreePort(b, "tcp")
	host, port, _ := net.SplitHostPort(s.ComponentAddr)
	storeCfg := "backend: memory"
	if store == "sqlite" {
		storeCfg = "backend: sqlite\n  path: " + strconv.Quote(filepath.Join(dir, "presenced.db"))
	}
	cfg := fmt.Sprintf(`
log: {level: warn}
sip:
  listen: ["udp:127.0.0.1:%d", "tcp:127.0.0.1:%d"]
mi: {enabled: true, listen: "127.0.0.1:%d"}
store:
  %s
presence:
  authorization:
    rules:
      - presentity: "sip:*@example.com"
        event: presence
        action: confirm
xmpp:
  enabled: true
  xmpp_domain: %s
  xmpp_host: %s
  xmpp_port: %s
  xmpp_password: %s
  xmpp_user_domains: [example.com]
  send_queue: 65536
pua_xmpp:
  enabled: true
`, sipPort, sipPort, miPort, storeCfg, s.ComponentDomain, host, port, s.ComponentSecret)
	cfgPath := filepath.Join(dir, "presenced.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "presenced.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	// Owned by the benchmark: ends when the daemon exits (cleanup).
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if path := os.Getenv("BENCH_XMPP_DAEMON_LOG"); path != "" {
			log, _ := os.ReadFile(logf.Name())
			_ = os.WriteFile(path, log, 0o644)
		}
		if b.Failed() {
			log, _ := os.ReadFile(logf.Name())
			b.Logf("presenced log:\n%s", log)
		}
	})
	sip := netip.MustParseAddrPort(fmt.Sprintf("127.0.0.1:%d", sipPort))
	deadline := time.Now().Add(20 * time.Second)
	for {
		if code, err := testpeer.PingOptions(sip.String(), 200*time.Millisecond); err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("presenced did not answer OPTIONS on %s", sip)
		}
		time.Sleep(50 * time.Millisecond)
	}
	mi := fmt.Sprintf("127.0.0.1:%d", miPort)
	return &gateway{
		name:      "presenced",
		store:     store,
		sip:       sip,
		pgid:      cmd.Process.Pid,
		jidOfSIP:  func(user string) string { return user + "@" + s.ComponentDomain },
		uriOfXMPP: func(user string) string { return "sip:" + user + "@" + s.Domain },
		inside: func(b *testing.B) func(report func(string, ...any)) {
			pub0, wr0 := histogram(b, mi, "presenced_pua_xmpp_publish_seconds"), histogram(b, mi, "presenced_xmpp_write_seconds")
			return func(report func(string, ...any)) {
				pub1, wr1 := histogram(b, mi, "presenced_pua_xmpp_publish_seconds"), histogram(b, mi, "presenced_xmpp_write_seconds")
				for _, h := range []struct {
					name          string
					before, after map[float64]float64
				}{{"in the daemon, XMPP presence to PUBLISH 2xx", pub0, pub1}, {"in the daemon, stanza queued to written", wr0, wr1}} {
					p50, n := quantile(h.before, h.after, 0.5)
					p99, _ := quantile(h.before, h.after, 0.99)
					report("%s: %.0f observations, p50 %.2f ms, p99 %.2f ms (from histogram buckets)", h.name, n, ms(p50), ms(p99))
				}
			}
		},
	}
}

// histogram reads the cumulative buckets (le -> count) of a histogram
// from the daemon's /metrics.
func histogram(b *testing.B, miAddr, name string) map[float64]float64 {
	res, err := http.Get("http://" + miAddr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	out := map[float64]float64{}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		l := sc.Text()
		rest, ok := strings.CutPrefix(l, name+`_bucket{le="`)
		if !ok {
			continue
		}
		le, v, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		bound, err1 := strconv.ParseFloat(le, 64)
		count, err2 := strconv.ParseFloat(v, 64)
		if err1 == nil && err2 == nil {
			out[bound] = count
		}
	}
	return out
}

// quantile estimates quantile q of the observations between two reads
// of a histogram (linear within a bucket).
func quantile(before, after map[float64]float64, q float64) (time.Duration, float64) {
	var bounds []float64
	for le := range after {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return 0, 0
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	if total == 0 {
		return 0, 0
	}
	want, prevBound, prevCount := q*total, 0.0, 0.0
	for _, le := range bounds {
		c := after[le] - before[le]
		if c >= want {
			if math.IsInf(le, 1) {
				return time.Duration(prevBound * float64(time.Second)), total
			}
			f := (want - prevCount) / max(c-prevCount, 1e-9)
			return time.Duration((prevBound + f*(le-prevBound)) * float64(time.Second)), total
		}
		prevBound, prevCount = le, c
	}
	return time.Duration(prevBound * float64(time.Second)), total
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// parallel runs f(0..n-1) on k goroutines and returns the first error.
func parallel(n, k int, f func(i int) error) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	next := make(chan int)
	for range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// servers returns the servers that BENCH_XMPP_SERVER selects.
func servers(b *testing.B) []string {
	switch v := os.Getenv("BENCH_XMPP_SERVER"); v {
	case "", "both":
		return []string{"presenced", "kamailio"}
	case "presenced", "kamailio":
		return []string{v}
	default:
		b.Fatalf("BENCH_XMPP_SERVER=%q: want presenced, kamailio or both", v)
		return nil
	}
}

// userPrefix names each server's XMPP users (<prefix><i>@example.com),
// so that one server's rosters do not send presence to the other's
// component.
var userPrefix = map[string]string{"presenced": "x", "kamailio": "k"}

func BenchmarkGateway(b *testing.B) {
	n := env("BENCH_XMPP_USERS", 1000)
	which := servers(b)
	pairs := map[string]int{"presenced": n, "kamailio": env("BENCH_XMPP_KAMAILIO_USERS", n)}
	users := map[string]string{"ctl0": "pw", "ctl1": "pw"}
	for _, name := range which {
		for i := range pairs[name] {
			users[fmt.Sprintf("%s%d", userPrefix[name], i)] = "pw"
		}
	}
	t0 := time.Now()
	const secret = "gw-secret"
	s := testpeer.Prosody(b, testpeer.ProsodyOptions{Users: users, ComponentSecret: secret,
		MoreComponents: map[string]string{kamailioDomain: secret}})
	b.Logf("prosody with %d users in %v", len(users), time.Since(t0).Round(time.Second))
	var tuning []string
	if os.Getenv("BENCH_XMPP_PROSODY_NODELAY") != "" {
		// Prosody leaves Nagle's algorithm on and writes on the next loop
		// turn by default; both add latency to small stanzas.
		tuning = append(tuning, "network_settings = { nagle = false; opportunistic_writes = true }")
	}
	if mode := os.Getenv("BENCH_XMPP_PROSODY_GC"); mode != "" {
		tuning = append(tuning, fmt.Sprintf("gc = { mode = %q }", mode))
	}
	if len(tuning) > 0 {
		cfgPath := filepath.Join(s.Dir, "prosody.cfg.lua")
		old, err := os.ReadFile(cfgPath)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(cfgPath, append([]byte(strings.Join(tuning, "\n")+"\n"), old...), 0o644); err != nil {
			b.Fatal(err)
		}
		xmpptest.RestartProsody(b, s, syscall.SIGTERM)
		b.Logf("prosody restarted with %s", strings.Join(tuning, "; "))
	}
	for _, name := range which {
		b.Run(name, func(b *testing.B) { runGateway(b, s, name, pairs[name]) })
	}
}

// runGateway starts one server, cross-subscribes n pairs through it and
// measures status changes both ways.
func runGateway(b *testing.B, s *testpeer.ProsodyServer, name string, n int) {
	rate := env("BENCH_XMPP_RATE", 200)
	seconds := env("BENCH_XMPP_SECONDS", 30)
	store := os.Getenv("BENCH_XMPP_STORE")
	if store == "" {
		store = "sqlite"
	}
	// The results go to stdout: benchmark logs are truncated.
	report := func(format string, a ...any) { fmt.Printf("xmpp bench: "+name+": "+format+"\n", a...) }
	var gw *gateway
	if name == "kamailio" {
		gw = startKamailio(b, s)
	} else {
		gw = startDaemon(b, s, store)
	}
	mem := samplePeaks(gw.pgid)
	roots, err := s.CertPool()
	if err != nil {
		b.Fatal(err)
	}
	xmppUser := func(i int) string { return fmt.Sprintf("%s%d", userPrefix[name], i) }
	sipUser := func(i int) string { return fmt.Sprintf("s%d", i) }

	// The SIP side.
	tm := &timings{sent: map[string]time.Time{}, arrived: make(chan struct{}, 1), expect: map[int]expectation{}}
	scfg := sipnet.Default()
	scfg.Listen = []string{"udp:127.0.0.1:0"}
	scfg.UDPReceiveBuffer = 8 << 20
	stack, err := sipnet.New(scfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ss := &sipSide{stack: stack, daemon: gw.sip, tm: tm, byCall: map[string]int{}, active: map[int]bool{}, etag: map[int]string{}, notify: make(chan struct{}, 1),
		target: func(i int) string { return gw.uriOfXMPP(xmppUser(i)) }}
	stack.Handle(sip.NOTIFY, ss.onNotify)
	if err := stack.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = stack.Stop(ctx)
	})

	// The XMPP side: the XMPP user of pair i accepts s<i>'s request, and
	// times s<i>'s changes.
	clients := make([]*xmpptest.Client, n)
	subscribed := make([]chan struct{}, n)
	for i := range subscribed {
		subscribed[i] = make(chan struct{})
	}
	var subOnce sync.Map
	accept := make(chan int, n)
	stop := make(chan struct{})
	onStanza := func(i int) func(xmpp.Stanza, time.Time) {
		from := gw.jidOfSIP(sipUser(i))
		return func(st xmpp.Stanza, at time.Time) {
			p, ok := st.(xmpp.Presence)
			if !ok || p.From != from {
				return
			}
			switch p.Type {
			case xmpp.Subscribe:
				select {
				case accept <- i:
				case <-stop:
				}
			case xmpp.Subscribed:
				if _, loaded := subOnce.LoadOrStore(i, true); !loaded {
					close(subscribed[i])
				}
			case xmpp.Available:
				if strings.HasPrefix(p.Status, "s") {
					tm.arrive(p.Status, at)
				}
			}
		}
	}
	t0 := time.Now()
	err = parallel(n, 32, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := xmpptest.Connect(ctx, xmpptest.Options{Addr: s.C2SAddr, Domain: s.Domain, User: xmppUser(i), Password: "pw",
			Roots: roots, OnStanza: onStanza(i), NoRecord: true})
		if err != nil {
			return err
		}
		clients[i] = c
		return c.Presence("", "init")
	})
	b.Cleanup(func() {
		_ = parallel(n, 64, func(i int) error {
			if clients[i] != nil {
				clients[i].Close()
			}
			return nil
		})
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d XMPP logins in %v", n, time.Since(t0).Round(time.Millisecond))
	// A control pair: messages from ctl0 to ctl1 through Prosody alone,
	// timed like the changes, to tell the XMPP server's share.
	var ctl [2]*xmpptest.Client
	for k := range ctl {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := xmpptest.Connect(ctx, xmpptest.Options{Addr: s.C2SAddr, Domain: s.Domain, User: fmt.Sprintf("ctl%d", k), Password: "pw", Roots: roots, NoRecord: true,
			OnStanza: func(st xmpp.Stanza, at time.Time) {
				if m, ok := st.(xmpp.Message); ok && strings.HasPrefix(m.Body, "c") {
					tm.arrive(m.Body, at)
				}
			}})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		if err := c.Presence("", ""); err != nil {
			b.Fatal(err)
		}
		ctl[k] = c
	}
	acceptDone := make(chan struct{})
	// Owned by runGateway: ends when stop is closed below.
	go func() {
		defer close(acceptDone)
		for {
			select {
			case i := <-accept:
				_ = clients[i].Send(xmpp.Presence{To: gw.jidOfSIP(sipUser(i)), Type: xmpp.Subscribed})
			case <-stop:
				return
			}
		}
	}()
	defer func() {
		close(stop)
		<-acceptDone
	}()

	// Cross-subscribe every pair.
	t0 = time.Now()
	err = parallel(n, 32, func(i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := ss.publish(ctx, i, "init"); err != nil {
			return err
		}
		if err := clients[i].Send(xmpp.Presence{To: gw.jidOfSIP(sipUser(i)), Type: xmpp.Subscribe}); err != nil {
			return err
		}
		select {
		case <-subscribed[i]:
		case <-ctx.Done():
			return fmt.Errorf("%s: no subscribed from %s", xmppUser(i), gw.jidOfSIP(sipUser(i)))
		}
		return ss.subscribe(ctx, i)
	})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		ss.mu.Lock()
		k := len(ss.active)
		ss.mu.Unlock()
		if k == n {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d SIP watchers active", k, n)
		}
		select {
		case <-ss.notify:
		case <-time.After(100 * time.Millisecond):
		}
	}
	setup := time.Since(t0)
	idle := groupUsage(gw.pgid)
	b.Logf("%d pairs cross-subscribed in %v; %s RSS %.1f MiB, PSS %.1f MiB", n, setup.Round(time.Millisecond), name, idle.rss, idle.pss)

	// Status changes at rate, alternating directions, on random pairs;
	// each pair's XMPP user goes through the four <show> values in turn.
	var locks = make([]sync.Mutex, n)
	pubs := make(chan [2]int, 1024)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range pubs {
				i, seq := job[0], job[1]
				token := "s" + strconv.Itoa(seq)
				locks[i].Lock()
				tm.start(token)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if err := ss.publish(ctx, i, token); err != nil {
					b.Errorf("publish: %v", err)
				}
				cancel()
				locks[i].Unlock()
			}
		}()
	}
	var inside func(func(string, ...any))
	if gw.inside != nil {
		inside = gw.inside(b)
	}
	use0, puse0, wall0 := groupUsage(gw.pgid), groupUsage(s.Pid), time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	total := rate * seconds
	shows := []string{xmpp.ShowAway, xmpp.ShowDND, xmpp.ShowXA, xmpp.ShowChat}
	turn := make([]int, n)
	b.ResetTimer()
	for seq := range total {
		<-tick.C
		if seq%10 == 0 {
			token := "c" + strconv.Itoa(seq)
			tm.start(token)
			if err := ctl[0].Send(xmpp.Message{To: ctl[1].JID, Type: "chat", Body: token}); err != nil {
				b.Fatal(err)
			}
		}
		i := rand.IntN(n)
		if seq%2 == 1 {
			pubs <- [2]int{i, seq}
			continue
		}
		// A pair whose previous change is recognised by its note waits
		// for it: the next one goes to another pair.
		for try := 0; gw.noteOfShow != nil && tm.expecting(i) && try < 100; try++ {
			i = rand.IntN(n)
		}
		show := shows[turn[i]%len(shows)]
		turn[i]++
		token := "x" + strconv.Itoa(seq)
		if gw.noteOfShow != nil {
			tm.startNote(i, gw.noteOfShow(show), token)
		} else {
			tm.start(token)
		}
		if err := clients[i].Presence(show, token); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	close(pubs)
	wg.Wait()
	wait := time.Now().Add(5 * time.Second)
	for tm.pending() > 0 && time.Now().Before(wait) {
		select {
		case <-tm.arrived:
		case <-time.After(100 * time.Millisecond):
		}
	}
	b.StopTimer()
	wall := time.Since(wall0)
	use1, puse1 := groupUsage(gw.pgid), groupUsage(s.Pid)
	peak := mem.Stop()
	cpu, pcpu := use1.cpu-use0.cpu, puse1.cpu-puse0.cpu

	tm.mu.Lock()
	lost := len(tm.sent)
	x, sx, cx := tm.xToSIP, tm.sipToX, tm.control
	tm.mu.Unlock()
	report("pairs %d, rate %d/s, %d changes (and %d control messages) in %v, %d lost", n, rate, total, (total+9)/10, wall.Round(time.Millisecond), lost)
	for _, r := range []struct {
		name string
		ds   []time.Duration
	}{{"XMPP->SIP", x}, {"SIP->XMPP", sx}, {"control, XMPP->XMPP through Prosody alone", cx}} {
		report("%s: %d changes, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms", r.name, len(r.ds),
			ms(percentile(r.ds, 0.50)), ms(percentile(r.ds, 0.90)), ms(percentile(r.ds, 0.99)), ms(slices.Max(append([]time.Duration{0}, r.ds...))))
	}
	report("server: CPU %.1f%% of one core (%.2f s in %.1f s); RSS %.1f MiB after setup, %.1f MiB at the end, peak %.1f MiB; PSS %.1f / %.1f / peak %.1f MiB (sum over its processes; store %s)",
		100*cpu.Seconds()/wall.Seconds(), cpu.Seconds(), wall.Seconds(), idle.rss, use1.rss, peak.rss, idle.pss, use1.pss, peak.pss, gw.store)
	report("prosody: CPU %.1f%% of one core", 100*pcpu.Seconds()/wall.Seconds())
	if inside != nil {
		inside(report)
	}
	b.ReportMetric(ms(percentile(x, 0.99)), "xmpp-to-sip-p99-ms")
	b.ReportMetric(ms(percentile(sx, 0.99)), "sip-to-xmpp-p99-ms")
	b.ReportMetric(ms(percentile(cx, 0.99)), "control-p99-ms")
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "server-cpu-%")
	b.ReportMetric(peak.pss, "server-peak-pss-MiB")
	b.ReportMetric(float64(lost), "lost")
}
