package test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
	"github.com/presenced/presenced/mi"
)

// The restart tests run the real binary as a subprocess on an SQLite file,
// put it under load from in-Go user agents (publishers, subscribers and
// long-lived watchers, one of which holds a NOTIFY unanswered at the
// time), stop it (kill -9, or SIGTERM), start it again on the same ports
// and file, and check that nothing acknowledged was lost:
// every publication and subscription that got its 200 is listed, a
// refresh with a pre-restart entity-tag gets 200, a pre-restart watcher's
// next NOTIFY has a higher CSeq than any before, and its dialog still
// takes refreshes.

// TestRestartKill9 stops the daemon with SIGKILL in the middle of the load.
func TestRestartKill9(t *testing.T) {
	t.Parallel()
	testRestart(t, syscall.SIGKILL)
}

// TestRestartGraceful stops the daemon with SIGTERM in the middle of the
// load; it must also exit with status 0.
func TestRestartGraceful(t *testing.T) {
	t.Parallel()
	testRestart(t, syscall.SIGTERM)
}

// built is the presenced binary shared by the tests that run at the same
// time; the last one to finish removes it.
var built struct {
	sync.Mutex
	users int
	dir   string
	bin   string
	err   error
}

// presencedBinary builds ./cmd/presenced once for the tests running at the
// same time (with -race when the tests run with it, so that the daemon
// under load is checked too) and returns its path.
func presencedBinary(t *testing.T) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.users == 0 {
		built.dir, built.bin, built.err = "", "", nil
		dir, err := os.MkdirTemp("", "presenced-bin-")
		if err != nil {
			t.Fatalf("build presenced: %v", err)
		}
		built.dir = dir
		built.bin, built.err = buildPresenced(dir)
	}
	built.users++
	t.Cleanup(func() {
		built.Lock()
		defer built.Unlock()
		if built.users--; built.users == 0 {
			os.RemoveAll(built.dir)
		}
	})
	if built.err != nil {
		t.Fatalf("build presenced: %v", built.err)
	}
	return built.bin
}

func buildPresenced(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "presenced")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "./cmd/presenced")...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
	}
	return bin, nil
}

// moduleRoot is the folder of go.mod above the working directory.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// procDaemon is presenced running as a subprocess, restartable on the
// same config.
type procDaemon struct {
	t       *testing.T
	bin     string
	dir     string
	cfgPath string
	logPath string
	UDP     netip.AddrPort
	TCP     netip.AddrPort
	MI      string

	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// newProcDaemon writes a config (SQLite in a temporary folder, UDP and
// TCP on one free port, the management API on another) and starts the
// daemon from it.
func newProcDaemon(t *testing.T) *procDaemon {
	t.Helper()
	return newProcDaemonExtra(t, "")
}

// newProcDaemonExtra is newProcDaemon with extra top-level config lines.
func newProcDaemonExtra(t *testing.T, extra string) *procDaemon {
	t.Helper()
	dir := t.TempDir()
	sipPort := testpeer.FreePort(t, "udp+tcp")
	miPort := testpeer.FreePort(t, "tcp")
	d := &procDaemon{
		t: t, bin: presencedBinary(t), dir: dir,
		cfgPath: filepath.Join(dir, "presenced.yaml"),
		logPath: filepath.Join(dir, "presenced.log"),
		UDP:     netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort)),
		TCP:     netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sipPort)),
		MI:      "127.0.0.1:" + strconv.Itoa(miPort),
	}
	cfg := fmt.Sprintf(`
sip:
  listen: ["udp:127.0.0.1:%d", "tcp:127.0.0.1:%d"]
  t1_ms: 100
mi:
  enabled: true
  listen: "%s"
store:
  backend: sqlite
  path: %q
log:
  level: info
%s`, sipPort, sipPort, d.MI, filepath.Join(dir, "presenced.db"), extra)
	if err := os.WriteFile(d.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			b, _ := os.ReadFile(d.logPath)
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			t.Logf("presenced log (last lines):\n%s", strings.Join(lines, "\n"))
		}
	})
	d.start()
	return d
}

// start runs the daemon and waits until it answers OPTIONS and the
// management API.
func (d *procDaemon) start() {
	t := d.t
	t.Helper()
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- test: start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(d.bin, "run", "-c", d.cfgPath)
	cmd.Dir = d.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start presenced: %v", err)
	}
	d.cmd, d.done, d.waitErr = cmd, make(chan struct{}), nil
	done := d.done
	go func() { // ends when the process does; kill and stop wait for it
		err := cmd.Wait()
		d.waitErr = err
		close(done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			t.Fatalf("presenced exited during start: %v", d.waitErr)
		default:
		}
		code, err := testpeer.PingOptions(d.UDP.String(), 500*time.Millisecond)
		if err == nil && code == 200 && d.call("version", nil, nil) == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("presenced not ready after 30s: OPTIONS %d %v", code, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends sig to the daemon and waits for it to end; the error is its
// exit status.
func (d *procDaemon) stop(sig syscall.Signal, timeout time.Duration) error {
	d.t.Helper()
	if err := syscall.Kill(d.cmd.Process.Pid, sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
	select {
	case <-d.done:
		return d.waitErr
	case <-time.After(timeout):
		d.kill()
		d.t.Fatalf("presenced still running %v after %v", timeout, sig)
		return nil
	}
}

// kill ends the daemon if it runs (cleanup).
func (d *procDaemon) kill() {
	if d.cmd == nil {
		return
	}
	select {
	case <-d.done:
	default:
		_ = syscall.Kill(d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.done
	}
}

// call calls the management API.
func (d *procDaemon) call(method string, params, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw, err := mi.Call(ctx, d.MI, method, params)
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// cli runs `presenced mi -a ADDR args...` and decodes its output.
func (d *procDaemon) cli(out any, args ...string) {
	d.t.Helper()
	cmd := exec.Command(d.bin, append([]string{"mi", "-a", d.MI}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		d.t.Fatalf("presenced mi %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		d.t.Fatalf("presenced mi %s: %v\n%s", strings.Join(args, " "), err, stdout.Bytes())
	}
}

// logText is the daemon's log so far.
func (d *procDaemon) logText() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// pubTrack is what the load knows of one publication. Each is owned by
// one load goroutine while the load runs.
type pubTrack struct {
	uri       string
	etag      string // last entity-tag acknowledged
	acked     bool   // the initial PUBLISH got 200
	removed   bool   // a removal got 200
	unsure    bool   // a refresh or modify got no answer: the entity-tag is unknown
	removing  bool   // a removal got no answer: it may or may not exist
	transport string
}

// subTrack is what the load knows of one subscription.
type subTrack struct {
	id       string // the daemon's id: Call-ID;its tag;our tag
	dlg      *siptest.Dialog
	acked    bool
	removed  bool
	removing bool
}

// load is the traffic the daemon is stopped in the middle of.
type load struct {
	t      *testing.T
	d      *procDaemon
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	pubs []*pubTrack
	subs []*subTrack

	ackedPubs, ackedSubs atomic.Int64
}

func (l *load) addPub(p *pubTrack) {
	l.mu.Lock()
	l.pubs = append(l.pubs, p)
	l.mu.Unlock()
}

func (l *load) addSub(s *subTrack) {
	l.mu.Lock()
	l.subs = append(l.subs, s)
	l.mu.Unlock()
}

// randomURI returns the URI of an acknowledged publication, for a
// subscriber to watch.
func (l *load) randomURI() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pubs) == 0 {
		return "sip:nobody@127.0.0.1"
	}
	return l.pubs[rand.IntN(len(l.pubs))].uri
}

// publish sends a PUBLISH for p: initial (no entity-tag yet), modify (with
// body), refresh (no body) or remove (expires 0), and records the outcome.
func (l *load) publish(ua *siptest.UA, p *pubTrack, body []byte, expires string) bool {
	h := map[string]string{"Event": "presence", "Expires": expires}
	initial := p.etag == ""
	if !initial {
		h["SIP-If-Match"] = p.etag
	}
	if expires == "0" {
		p.removing = true
	}
	r := siptest.Request{Method: sip.PUBLISH, URI: p.uri, Headers: h, Transport: p.transport}
	if body != nil {
		r.ContentType, r.Body = "application/pidf+xml", body
	}
	res, _, err := ua.Send(l.ctx, l.d.UDP, r)
	if err != nil {
		if !initial {
			p.unsure = true
		}
		return false // no answer: the daemon is being stopped
	}
	if res.StatusCode != 200 {
		l.t.Errorf("PUBLISH %s under load: got %d %s, want 200", p.uri, res.StatusCode, res.Reason)
		return false
	}
	if expires == "0" {
		p.removed, p.removing = true, false
		return true
	}
	p.etag, p.acked = siptest.Header(res, "SIP-ETag"), true
	if initial {
		l.ackedPubs.Add(1)
	}
	return true
}

// publisher creates publications and modifies, refreshes and removes
// some of them, until the load stops.
func (l *load) publisher(g int, transport string) {
	defer l.wg.Done()
	ua := siptest.New(l.t, siptest.Options{Name: "pub" + strconv.Itoa(g), Transports: []string{"udp", "tcp"}})
	var mine []*pubTrack
	for i := 0; l.ctx.Err() == nil; i++ {
		p := &pubTrack{uri: fmt.Sprintf("sip:load%d-%d@127.0.0.1", g, i), transport: transport}
		l.addPub(p)
		if !l.publish(ua, p, pidfDoc(p.uri, "open", "initial"), "3600") {
			continue
		}
		mine = append(mine, p)
		if n := len(mine); n > 3 {
			switch old := mine[rand.IntN(n-1)]; {
			case old.removed || old.unsure || old.removing:
			case i%5 == 0:
				l.publish(ua, old, nil, "0")
			case i%3 == 0:
				l.publish(ua, old, pidfDoc(old.uri, "closed", "modified"), "3600")
			default:
				l.publish(ua, old, nil, "3600")
			}
		}
	}
}

// subscriber subscribes to publications and unsubscribes some, until the
// load stops. Its UA answers every NOTIFY with 200.
func (l *load) subscriber(g int) {
	defer l.wg.Done()
	ua := siptest.New(l.t, siptest.Options{Name: "sub" + strconv.Itoa(g)})
	var mine []*subTrack
	for i := 0; l.ctx.Err() == nil; i++ {
		res, dlg, err := ua.Subscribe(l.ctx, l.d.UDP, siptest.Request{URI: l.randomURI(),
			Headers: map[string]string{"Event": "presence", "Expires": "3600"}})
		if err != nil {
			continue
		}
		if res.StatusCode != 200 {
			l.t.Errorf("SUBSCRIBE under load: got %d %s, want 200", res.StatusCode, res.Reason)
			continue
		}
		s := &subTrack{id: dlg.CallID + ";" + dlg.RemoteTag + ";" + dlg.LocalTag, dlg: dlg, acked: true}
		l.addSub(s)
		l.ackedSubs.Add(1)
		mine = append(mine, s)
		if i%4 == 3 {
			old := mine[rand.IntN(len(mine)-1)]
			if old.removed || old.removing {
				continue
			}
			old.removing = true
			res, err := old.dlg.Request(l.ctx, sip.SUBSCRIBE, map[string]string{"Event": "presence", "Expires": "0"})
			if err != nil {
				continue
			}
			if res.StatusCode != 200 {
				l.t.Errorf("un-SUBSCRIBE under load: got %d %s, want 200", res.StatusCode, res.Reason)
				continue
			}
			old.removed, old.removing = true, false
		}
	}
}

// watcher is a long-lived subscription, made before the load, whose
// presentity keeps changing during it.
type watcher struct {
	ua  *siptest.UA
	dlg *siptest.Dialog
	pub *pubTrack

	// Once held is set, the watcher keeps its next NOTIFY unanswered
	// until release is closed, and tells arrived it has it: the daemon is
	// stopped with that NOTIFY in flight.
	held    atomic.Bool
	arrived chan struct{}
	release chan struct{}
}

// holdNotifies makes w keep the NOTIFYs it gets unanswered once held is
// set (see watcher).
func (w *watcher) holdNotifies() {
	w.arrived, w.release = make(chan struct{}, 1), make(chan struct{})
	w.ua.AnswerWith(func(*sip.Request) int {
		if w.held.Load() {
			select {
			case w.arrived <- struct{}{}:
			default:
			}
			<-w.release
		}
		return 200
	})
}

// cseqs returns the CSeqs of the NOTIFYs of the watcher's dialog from
// index from on, and the number received.
func (w *watcher) cseqs(from int) ([]uint32, int) {
	all := w.ua.Notifies()
	var out []uint32
	for _, n := range all[min(from, len(all)):] {
		if siptest.InDialog(w.dlg)(n) {
			out = append(out, siptest.CSeq(n))
		}
	}
	return out, len(all)
}

// modifier keeps changing the watchers' presentities until the load stops.
func (l *load) modifier(ws []*watcher) {
	defer l.wg.Done()
	ua := siptest.New(l.t, siptest.Options{Name: "modifier"})
	for i := 0; l.ctx.Err() == nil; i++ {
		w := ws[i%len(ws)]
		if w.pub.unsure {
			continue
		}
		l.publish(ua, w.pub, pidfDoc(w.pub.uri, "open", "change "+strconv.Itoa(i)), "3600")
	}
}

func testRestart(t *testing.T, sig syscall.Signal) {
	d := newProcDaemon(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := &load{t: t, d: d, ctx: ctx, cancel: cancel}

	// Long-lived watchers, three over UDP and one over TCP, each of a
	// presentity of its own with a publication.
	setup := siptest.New(t, siptest.Options{Name: "setup"})
	var ws []*watcher
	for i, tr := range []string{"udp", "udp", "udp", "tcp"} {
		w := &watcher{ua: siptest.New(t, siptest.Options{Name: "watcher" + strconv.Itoa(i), Transports: []string{tr}})}
		w.pub = &pubTrack{uri: fmt.Sprintf("sip:watched%d@127.0.0.1", i)}
		l.addPub(w.pub)
		if !l.publish(setup, w.pub, pidfDoc(w.pub.uri, "open", "first"), "3600") {
			t.Fatalf("initial PUBLISH of %s failed", w.pub.uri)
		}
		tr2 := tr
		if tr2 == "udp" {
			tr2 = ""
		}
		res, dlg, err := w.ua.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: w.pub.uri, Transport: tr2,
			Headers: map[string]string{"Event": "presence", "Expires": "3600"}})
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("watcher SUBSCRIBE: got %v %v, want 200", res, err)
		}
		w.dlg = dlg
		w.ua.WaitNotify(10*time.Second, 0, siptest.InDialog(dlg))
		w.holdNotifies()
		ws = append(ws, w)
	}

	// The load: four publishers (one over TCP), two subscribers, and one
	// goroutine changing the watchers' presentities.
	for g, tr := range []string{"", "", "", "tcp"} {
		l.wg.Add(1)
		go l.publisher(g, tr)
	}
	for g := range 2 {
		l.wg.Add(1)
		go l.subscriber(g)
	}
	l.wg.Add(1)
	go l.modifier(ws)

	// Stop the daemon once the load has done enough, while it still runs.
	start := time.Now()
	waitFor(t, 60*time.Second, "the load to get going", func() bool {
		if time.Since(start) < time.Second {
			return false
		}
		for _, w := range ws {
			if cs, _ := w.cseqs(0); len(cs) < 5 {
				return false
			}
		}
		return l.ackedPubs.Load() >= 150 && l.ackedSubs.Load() >= 50
	})
	// The first watcher has a NOTIFY unanswered when the daemon stops: a
	// subscription is not the watcher's to lose because of that.
	ws[0].held.Store(true)
	select {
	case <-ws[0].arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no NOTIFY for the first watcher to hold")
	}
	before := make([]uint32, len(ws))
	seen := make([]int, len(ws))
	err := d.stop(sig, 30*time.Second)
	close(ws[0].release)
	cancel()
	l.wg.Wait()
	for i, w := range ws {
		cs, n := w.cseqs(0)
		before[i], seen[i] = slices.Max(cs), n
	}
	switch {
	case sig == syscall.SIGTERM && err != nil:
		t.Errorf("exit after SIGTERM: got %v, want status 0", err)
	case sig == syscall.SIGKILL && err == nil:
		t.Errorf("exit after SIGKILL: got status 0, want killed")
	}
	t.Logf("stopped with %v after %d publications and %d subscriptions acknowledged", sig, l.ackedPubs.Load(), l.ackedSubs.Load())

	d.start()
	checkPublications(t, d, l.pubs)
	listed := checkSubscriptions(t, d, l.subs)
	checkWatchers(t, d, ws, before, seen, listed)
	if log := d.logText(); strings.Contains(log, "DATA RACE") || strings.Contains(log, "panic recovered") || strings.Contains(log, "\npanic: ") {
		t.Errorf("the daemon's log reports a data race or a panic")
	}
}

// checkPublications: every publication acknowledged and not removed is
// listed (with its last entity-tag when that is known), every removal
// acknowledged stays removed, and a refresh with the pre-restart
// entity-tag gets 200.
func checkPublications(t *testing.T, d *procDaemon, pubs []*pubTrack) {
	t.Helper()
	var list []struct {
		URI          string `json:"uri"`
		Publications []struct {
			ETag string `json:"etag"`
		} `json:"publications"`
	}
	d.cli(&list, "presence_list")
	listed := map[string][]string{}
	for _, p := range list {
		for _, pub := range p.Publications {
			listed[p.URI] = append(listed[p.URI], pub.ETag)
		}
	}
	var lost, wrongTag, revived []string
	var refresh []*pubTrack
	for _, p := range pubs {
		switch {
		case !p.acked || p.removing:
		case p.removed:
			if len(listed[p.uri]) > 0 {
				revived = append(revived, p.uri)
			}
		case len(listed[p.uri]) == 0:
			lost = append(lost, p.uri)
		case p.unsure:
		case !slices.Contains(listed[p.uri], p.etag):
			wrongTag = append(wrongTag, fmt.Sprintf("%s: listed %v, acknowledged %s", p.uri, listed[p.uri], p.etag))
		default:
			refresh = append(refresh, p)
		}
	}
	report(t, "acknowledged publications not listed after the restart", lost)
	report(t, "publications listed with another entity-tag than the one acknowledged", wrongTag)
	report(t, "removed publications listed again after the restart", revived)
	if len(refresh) < 100 {
		t.Errorf("only %d publications with a known entity-tag to refresh, want at least 100", len(refresh))
	}

	var mu sync.Mutex
	var refused []string
	var wg sync.WaitGroup
	ua := siptest.New(t, siptest.Options{Name: "refresher"})
	next := atomic.Int64{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; int(i) < len(refresh); i = next.Add(1) - 1 {
				p := refresh[i]
				res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.PUBLISH, URI: p.uri,
					Headers: map[string]string{"Event": "presence", "Expires": "3600", "SIP-If-Match": p.etag}})
				if err != nil || res.StatusCode != 200 {
					mu.Lock()
					refused = append(refused, fmt.Sprintf("%s (%s): %v %v", p.uri, p.etag, res, err))
					mu.Unlock()
					continue
				}
				p.etag = siptest.Header(res, "SIP-ETag")
			}
		}()
	}
	wg.Wait()
	report(t, "refreshes with a pre-restart entity-tag not answered 200", refused)
}

// checkSubscriptions: every subscription acknowledged and not ended is
// listed. It returns the ids listed.
func checkSubscriptions(t *testing.T, d *procDaemon, subs []*subTrack) map[string]bool {
	t.Helper()
	var list []struct {
		ID string `json:"id"`
	}
	if err := d.call("subscriptions_list", nil, &list); err != nil {
		t.Fatalf("subscriptions_list: %v", err)
	}
	listed := map[string]bool{}
	for _, s := range list {
		listed[s.ID] = true
	}
	var lost []string
	for _, s := range subs {
		if s.acked && !s.removed && !s.removing && !listed[s.id] {
			lost = append(lost, s.id)
		}
	}
	report(t, "acknowledged subscriptions not listed after the restart", lost)
	// Ended subscriptions listed again are TestBugUnsubscribeRevivedAfterRestart.
	return listed
}

// checkWatchers: after a PUBLISH, each pre-restart watcher gets a NOTIFY
// in its dialog with the new state and a CSeq above every CSeq before the
// restart, and an in-dialog refresh gets 200 and a NOTIFY with a higher
// CSeq still.
func checkWatchers(t *testing.T, d *procDaemon, ws []*watcher, before []uint32, seen []int, listed map[string]bool) {
	t.Helper()
	ua := siptest.New(t, siptest.Options{Name: "after"})
	for i, w := range ws {
		if !listed[w.dlg.CallID+";"+w.dlg.RemoteTag+";"+w.dlg.LocalTag] {
			t.Errorf("watcher %d (%s): its subscription is gone after the restart", i, w.pub.uri)
			continue
		}
		note := "after restart " + strconv.Itoa(i)
		p := w.pub
		h := map[string]string{"Event": "presence", "Expires": "3600"}
		if !p.unsure {
			h["SIP-If-Match"] = p.etag // else a new publication changes the state as well
		}
		res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: sip.PUBLISH, URI: p.uri, Headers: h,
			ContentType: "application/pidf+xml", Body: pidfDoc(p.uri, "open", note)})
		if err != nil || res.StatusCode != 200 {
			t.Errorf("watcher %d: PUBLISH after the restart: got %v %v, want 200", i, res, err)
			continue
		}
		n, idx := w.ua.WaitNotify(10*time.Second, seen[i], func(r *sip.Request) bool {
			return siptest.InDialog(w.dlg)(r) && strings.Contains(string(r.Body()), note)
		})
		cs, _ := w.cseqs(seen[i])
		for _, c := range cs {
			if c <= before[i] {
				t.Errorf("watcher %d (%s): NOTIFY after the restart with CSeq %d, want more than %d (the highest before)", i, w.dlg.Transport, c, before[i])
			}
		}
		if got := siptest.Header(n, "Subscription-State"); !strings.HasPrefix(got, "active") {
			t.Errorf("watcher %d: Subscription-State %q, want active", i, got)
		}
		res, err = w.dlg.Request(ctxT(t), sip.SUBSCRIBE, map[string]string{"Event": "presence", "Expires": "600"})
		if err != nil || res.StatusCode != 200 {
			t.Errorf("watcher %d: in-dialog refresh after the restart: got %v %v, want 200", i, res, err)
			continue
		}
		n2, _ := w.ua.WaitNotify(10*time.Second, idx+1, siptest.InDialog(w.dlg))
		if siptest.CSeq(n2) <= siptest.CSeq(n) {
			t.Errorf("watcher %d: NOTIFY after the refresh has CSeq %d, want more than %d", i, siptest.CSeq(n2), siptest.CSeq(n))
		}
	}
}

// report fails the test with a list of what went wrong (the first ten).
func report(t *testing.T, what string, items []string) {
	t.Helper()
	if len(items) == 0 {
		return
	}
	shown := items[:min(len(items), 10)]
	t.Errorf("%d %s, e.g.:\n  %s", len(items), what, strings.Join(shown, "\n  "))
}
