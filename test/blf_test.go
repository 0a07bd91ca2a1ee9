package test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/internal/siptest"
)

// TestBLFRestartKill9: calls up, kill -9, restart, BYE: the lamps go
// idle (dialogs, pua records, publications and watchers all survive).
func TestBLFRestartKill9(t *testing.T) {
	d := newProcDaemon(t)
	var lamps []*lamp
	var calls []*siptest.Call
	var ids []string
	for i := range 2 {
		aor := fmt.Sprintf("sip:kept%d@127.0.0.1", i)
		bob := siptest.NewPhone(t, fmt.Sprintf("kept%d", i))
		bob.Answer(siptest.Behavior{Ring: true, Code: 200, Delay: 100 * time.Millisecond})
		if res, err := bob.Register(ctxT(t), d.UDP, aor, "udp"); err != nil || res.StatusCode != 200 {
			t.Fatalf("register: %v %v", res, err)
		}
		l := newLampAt(t, d.UDP, aor)
		caller := siptest.NewPhone(t, fmt.Sprintf("caller%d", i))
		o, err := caller.Invite(d.UDP, aor, "")
		if err != nil {
			t.Fatal(err)
		}
		res, c, err := o.Final(10 * time.Second)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("call: %v %v", res, err)
		}
		l.waitState(o.CallID()+".0", "confirmed")
		lamps, calls, ids = append(lamps, l), append(calls, c), append(ids, o.CallID()+".0")
	}
	// Let the write-behind of the pua records reach the store.
	waitFor(t, 5*time.Second, "the pua records", func() bool {
		var recs []puaRecord
		d.cli(&recs, "pua_list")
		n := 0
		for _, r := range recs {
			if r.Source == "dialoginfo" && r.ETag != "" {
				n++
			}
		}
		return n >= 4
	})
	_ = d.stop(syscall.SIGKILL, 10*time.Second)
	d.start()
	for i, c := range calls {
		if res, err := c.Bye(ctxT(t)); err != nil || res.StatusCode != 200 {
			t.Fatalf("BYE after the restart: %v %v", res, err)
		}
		// The first NOTIFY after a restart carries the full state, so the
		// lamp may see the dialog gone rather than terminated: either way,
		// idle.
		waitFor(t, 10*time.Second, lamps[i].aor+"'s lamp idle", lamps[i].idle)
	}
}

// blfConfig is the proxy config with BLF; phones ring before answering.
const blfConfig = proxyConfig

// lamp is a BLF watcher: it subscribes to an AOR's dialog event and keeps
// the view the NOTIFYs give (a full document replaces it, a partial one
// updates the dialogs it names), and the sequence of states each dialog
// went through.
type lamp struct {
	t    *testing.T
	ua   *siptest.UA
	dlg  *siptest.Dialog
	aor  string
	next int
	mu   sync.Mutex
	view map[string]string   // dialog id -> state
	seq  map[string][]string // dialog id -> states seen, in order, repeats dropped
}

func newLamp(t *testing.T, d *daemon, aor string) *lamp {
	t.Helper()
	return newLampAt(t, d.UDP, aor)
}

func newLampAt(t *testing.T, target netip.AddrPort, aor string) *lamp {
	t.Helper()
	l := &lamp{t: t, ua: siptest.New(t, siptest.Options{Name: "lamp"}), aor: aor, view: map[string]string{}, seq: map[string][]string{}}
	res, dlg, err := l.ua.Subscribe(ctxT(t), target, siptest.Request{URI: aor, Headers: map[string]string{"Event": "dialog", "Expires": "3600"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe to %s's dialogs: %v %v", aor, res, err)
	}
	l.dlg = dlg
	return l
}

// sync applies the NOTIFYs received so far.
func (l *lamp) sync() {
	l.mu.Lock()
	defer l.mu.Unlock()
	ns := l.ua.Notifies()
	for ; l.next < len(ns); l.next++ {
		n := ns[l.next]
		if !siptest.InDialog(l.dlg)(n) {
			continue
		}
		doc, err := dialoginfo.Parse(n.Body())
		if err != nil {
			l.t.Errorf("%s: NOTIFY body: %v", l.aor, err)
			continue
		}
		if doc.State == dialoginfo.Full {
			l.view = map[string]string{}
		}
		for _, d := range doc.Dialogs {
			l.view[d.ID] = d.State
			s := l.seq[d.ID]
			if len(s) == 0 || s[len(s)-1] != d.State {
				l.seq[d.ID] = append(s, d.State)
			}
		}
	}
}

// waitState waits until dialog id shows state.
func (l *lamp) waitState(id, state string) {
	l.t.Helper()
	waitFor(l.t, 10*time.Second, l.aor+"'s lamp: "+id+" "+state, func() bool {
		l.sync()
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.view[id] == state
	})
}

// idle reports whether no dialog is lit.
func (l *lamp) idle() bool {
	l.sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.view {
		if s != dialoginfo.Terminated {
			return false
		}
	}
	return true
}

func (l *lamp) states(id string) []string {
	l.sync()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seq[id]...)
}

// checkOrder fails if a dialog shows a state after terminated, or goes
// back (confirmed then early).
func (l *lamp) checkOrder() {
	l.t.Helper()
	l.sync()
	rank := map[string]int{"trying": 1, "proceeding": 2, "early": 3, "confirmed": 4, "terminated": 5}
	l.mu.Lock()
	defer l.mu.Unlock()
	for id, s := range l.seq {
		for i := 1; i < len(s); i++ {
			if rank[s[i]] < rank[s[i-1]] {
				l.t.Errorf("%s: dialog %s went %v: a state came after a later one", l.aor, id, s)
			}
		}
	}
}

// TestBLFCall: a call answered and hung up lights both lamps early,
// confirmed, terminated in that order, by the caller and by the callee.
func TestBLFCall(t *testing.T) {
	d := startDaemon(t, blfConfig)
	for _, calleeHangs := range []bool{false, true} {
		t.Run(fmt.Sprintf("callee hangs up %v", calleeHangs), func(t *testing.T) {
			n := rand.IntN(1 << 30)
			alice, bobAOR := fmt.Sprintf("sip:alice%d@127.0.0.1", n), fmt.Sprintf("sip:bob%d@127.0.0.1", n)
			bob := phoneAt(t, d, "bob", bobAOR, siptest.Behavior{Ring: true, Code: 200, Delay: 300 * time.Millisecond})
			caller := siptest.NewPhone(t, fmt.Sprintf("alice%d", n)) // its From is sip:alice<n>@127.0.0.1
			if res, err := caller.Register(ctxT(t), d.UDP, alice, "udp"); err != nil || res.StatusCode != 200 {
				t.Fatalf("register alice: %v %v", res, err)
			}
			la, lb := newLamp(t, d, alice), newLamp(t, d, bobAOR)
			o, res, ac := call(t, d, caller, bobAOR)
			if res.StatusCode != 200 {
				t.Fatalf("call: %d", res.StatusCode)
			}
			id := o.CallID() + ".0"
			la.waitState(id, "confirmed")
			lb.waitState(id, "confirmed")
			if calleeHangs {
				bc := bob.WaitCall(5*time.Second, 1)
				if _, err := bc.Bye(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			} else if _, err := ac.Bye(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			la.waitState(id, "terminated")
			lb.waitState(id, "terminated")
			for _, l := range []*lamp{la, lb} {
				if got := strings.Join(l.states(id), " "); got != "early confirmed terminated" {
					t.Errorf("%s: got %q, want early confirmed terminated", l.aor, got)
				}
			}
		})
	}
}

// TestBLFFailures: cancelled while ringing, or rejected, ends terminated.
func TestBLFFailures(t *testing.T) {
	d := startDaemon(t, blfConfig)
	caller := siptest.NewPhone(t, "alice")
	t.Run("cancelled", func(t *testing.T) {
		aor := "sip:ringing@127.0.0.1"
		phoneAt(t, d, "ringing", aor, siptest.Behavior{Ring: true})
		l := newLamp(t, d, aor)
		o, err := caller.Invite(d.UDP, aor, "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Ringing(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		l.waitState(o.CallID()+".0", "early")
		o.Cancel()
		l.waitState(o.CallID()+".0", "terminated")
	})
	t.Run("rejected", func(t *testing.T) {
		aor := "sip:busyline@127.0.0.1"
		phoneAt(t, d, "busyline", aor, siptest.Behavior{Ring: true, Code: 486, Delay: 200 * time.Millisecond})
		l := newLamp(t, d, aor)
		o, res, _ := call(t, d, caller, aor)
		if res.StatusCode != 486 {
			t.Fatalf("got %d, want 486", res.StatusCode)
		}
		l.waitState(o.CallID()+".0", "terminated")
		if got := strings.Join(l.states(o.CallID()+".0"), " "); got != "early terminated" {
			t.Errorf("got %q, want early terminated", got)
		}
	})
}

// TestBLFFork: a call forked to two phones, one answering: the lamp ends
// with the answered branch confirmed and the other terminated.
func TestBLFFork(t *testing.T) {
	d := startDaemon(t, blfConfig)
	aor := "sip:pair@127.0.0.1"
	phoneAt(t, d, "pair1", aor, siptest.Behavior{Ring: true})
	phoneAt(t, d, "pair2", aor, siptest.Behavior{Ring: true, Code: 200, Delay: 300 * time.Millisecond})
	l := newLamp(t, d, aor)
	caller := siptest.NewPhone(t, "alice")
	o, res, ac := call(t, d, caller, aor)
	if res.StatusCode != 200 {
		t.Fatalf("call: %d", res.StatusCode)
	}
	waitFor(t, 10*time.Second, "one branch confirmed and the other terminated", func() bool {
		l.sync()
		l.mu.Lock()
		defer l.mu.Unlock()
		a, b := l.view[o.CallID()+".0"], l.view[o.CallID()+".1"]
		return (a == "confirmed" && b == "terminated") || (a == "terminated" && b == "confirmed")
	})
	if _, err := ac.Bye(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the lamp idle", l.idle)
	l.checkOrder()
}

// TestBLFStress: 500 calls, overlapping, answered, cancelled, rejected
// and unanswered at random; afterwards every lamp is idle and no dialog,
// no dialog publication and no pua record is left.
func TestBLFStress(t *testing.T) {
	d := startDaemon(t, strings.Replace(blfConfig, "timer_c: 2", "timer_c: 1", 1))
	const phones, calls = 10, 500
	var lamps []*lamp
	var aors []string
	for i := range phones {
		aor := fmt.Sprintf("sip:stress%d@127.0.0.1", i)
		var b siptest.Behavior
		switch i % 4 {
		case 0:
			b = siptest.Behavior{Ring: true, Code: 200, Delay: 50 * time.Millisecond}
		case 1:
			b = siptest.Behavior{Ring: true, Code: 486, Delay: 50 * time.Millisecond}
		case 2:
			b = siptest.Behavior{Ring: true} // rings until cancelled
		case 3:
			b = siptest.Behavior{Ring: true, NoAnswer: true} // Timer C
		}
		phoneAt(t, d, fmt.Sprintf("s%d", i), aor, b)
		lamps = append(lamps, newLamp(t, d, aor))
		aors = append(aors, aor)
	}
	callers := make([]*siptest.Phone, 4)
	for i := range callers {
		callers[i] = siptest.NewPhone(t, fmt.Sprintf("caller%d", i))
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range calls {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			target := aors[rand.IntN(len(aors))]
			o, err := callers[i%len(callers)].Invite(d.UDP, target, "")
			if err != nil {
				t.Errorf("invite: %v", err)
				return
			}
			if rand.IntN(3) == 0 {
				if _, err := o.Ringing(2 * time.Second); err == nil {
					o.Cancel()
				}
			}
			res, c, err := o.Final(15 * time.Second)
			if err != nil {
				t.Errorf("call %d: %v", i, err)
				return
			}
			if res.StatusCode == 200 && c != nil {
				if _, err := c.Bye(ctxT(t)); err != nil {
					t.Errorf("bye: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	waitFor(t, 30*time.Second, "every lamp idle", func() bool {
		for _, l := range lamps {
			if !l.idle() {
				return false
			}
		}
		return true
	})
	waitNoDialogs(t, d)
	waitFor(t, 30*time.Second, "no dialog publication and no pua record left", func() bool {
		var pres []struct {
			URI          string
			Publications []struct{ Event string }
		}
		if d.mi("presence_list", nil, &pres) != nil {
			return false
		}
		for _, p := range pres {
			for _, pub := range p.Publications {
				if pub.Event == "dialog" {
					return false
				}
			}
		}
		var recs []puaRecord
		if d.mi("pua_list", nil, &recs) != nil {
			return false
		}
		for _, r := range recs {
			if r.Source == "dialoginfo" {
				return false
			}
		}
		return true
	})
	for _, l := range lamps {
		l.checkOrder()
	}
}
