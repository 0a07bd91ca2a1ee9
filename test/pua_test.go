package test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
)

type puaReply struct {
	Code    int
	Reason  string
	ETag    string
	Expires int
}

type puaRecord struct {
	Kind, Presentity, Watcher, Event, Source, ETag, State string
	Expires, Desired                                      int
	NotifyBody                                            string `json:"notify_body"`
}

// TestPUAPublishMI: pua_publish over JSON-RPC reaches our presence server
// as a real PUBLISH; a watcher gets the NOTIFY; the ETag returned
// refreshes, modifies and removes it.
func TestPUAPublishMI(t *testing.T) {
	d := startDaemon(t, baseConfig)
	w := siptest.New(t, siptest.Options{})
	pres := "sip:system@127.0.0.1"
	res, dlg, err := w.Subscribe(ctxT(t), d.UDP, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence"}})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("subscribe: %v %v", res, err)
	}
	_, i := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))

	body := `<?xml version='1.0'?><presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model' xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' entity='system@domain'><tuple id='0x81475a0'><status><basic>open</basic></status></tuple><dm:person id='pdd748945'><rpid:activities><rpid:away/>away</rpid:activities><dm:note>CPU:16 MEM:476</dm:note></dm:person></presence>`
	var rep puaReply
	if err := d.mi("pua_publish", []any{pres, "3600", "presence", "application/pidf+xml", ".", ".", body}, &rep); err != nil {
		t.Fatalf("pua_publish: %v", err)
	}
	if rep.Code != 200 || rep.ETag == "" || rep.Expires != 3600 {
		t.Fatalf("pua_publish: got %+v, want 200 with an ETag and Expires 3600", rep)
	}
	n, i := w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if !strings.Contains(string(n.Body()), "CPU:16 MEM:476") {
		t.Fatalf("NOTIFY body: got %s, want the published note", n.Body())
	}

	// Refresh by ETag (no body), then modify, then remove.
	var ref puaReply
	if err := d.mi("pua_publish", map[string]any{"presentity_uri": pres, "expires": 3600, "event_package": "presence", "ETag": rep.ETag}, &ref); err != nil || ref.Code != 200 || ref.ETag == rep.ETag {
		t.Fatalf("refresh: got %+v %v, want 200 and a new ETag", ref, err)
	}
	var mod puaReply
	if err := d.mi("pua_publish", []any{pres, 3600, "presence", "application/pidf+xml", ref.ETag, ".", strings.Replace(body, "CPU:16", "CPU:99", 1)}, &mod); err != nil || mod.Code != 200 {
		t.Fatalf("modify: got %+v %v", mod, err)
	}
	n, i = w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if !strings.Contains(string(n.Body()), "CPU:99") {
		t.Fatalf("NOTIFY after modify: got %s", n.Body())
	}
	var rm puaReply
	if err := d.mi("pua_publish", []any{pres, 0, "presence", ".", mod.ETag, "."}, &rm); err != nil || rm.Code != 200 {
		t.Fatalf("remove: got %+v %v", rm, err)
	}
	n, _ = w.WaitNotify(5*time.Second, i+1, siptest.InDialog(dlg))
	if strings.Contains(string(n.Body()), "CPU") || !strings.Contains(string(n.Body()), "closed") {
		t.Errorf("NOTIFY after remove: got %s, want the offline document", n.Body())
	}
	var recs []puaRecord
	if err := d.mi("pua_list", nil, &recs); err != nil || len(recs) != 0 {
		t.Errorf("pua_list after remove: got %+v %v, want nothing", recs, err)
	}
	// Initial, refresh, modify and remove: four PUBLISHes answered 2xx,
	// the removal included.
	if got := metric(t, d, `presenced_pua_publish_replies_total{outcome="2xx"}`); got != 4 {
		t.Errorf("presenced_pua_publish_replies_total 2xx: got %v, want 4", got)
	}
}

// TestPUAMIErrors: bad arguments get clear JSON-RPC errors.
func TestPUAMIErrors(t *testing.T) {
	d := startDaemon(t, baseConfig)
	tests := []struct {
		name   string
		method string
		params any
		want   string
	}{
		{"unknown event", "pua_publish", []any{"sip:a@127.0.0.1", 60, "weather", "text/plain", ".", ".", "x"}, "unknown event"},
		{"unknown etag", "pua_publish", []any{"sip:a@127.0.0.1", 60, "presence", ".", "nope", "."}, "wrong ETag"},
		{"body without type", "pua_publish", []any{"sip:a@127.0.0.1", 60, "presence", ".", ".", ".", "<x/>"}, "go together"},
		{"bad uri", "pua_publish", []any{"not a uri", 60, "presence", "application/pidf+xml", ".", ".", "<x/>"}, "presentity_uri"},
		{"missing args", "pua_subscribe", []any{"sip:a@127.0.0.1"}, "watcher_uri"},
		{"bad expires", "pua_subscribe", []any{"sip:a@127.0.0.1", "sip:b@127.0.0.1", "presence", "soon"}, "expires"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.mi(tt.method, tt.params, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestPUASubscribeMI: pua_subscribe makes a subscription whose NOTIFYs
// show in pua_list.
func TestPUASubscribeMI(t *testing.T) {
	d := startDaemon(t, baseConfig)
	pub := siptest.New(t, siptest.Options{})
	pres := "sip:nina@127.0.0.1"
	var rep puaReply
	if err := d.mi("pua_subscribe", []any{pres, "sip:watcher@127.0.0.1", "presence", 600}, &rep); err != nil || rep.Code != 200 {
		t.Fatalf("pua_subscribe: got %+v %v", rep, err)
	}
	publishPIDF(t, pub, d, pres, "open", "seen-by-pua")
	waitFor(t, 5*time.Second, "the NOTIFY in pua_list", func() bool {
		var recs []puaRecord
		if err := d.mi("pua_list", nil, &recs); err != nil {
			return false
		}
		for _, r := range recs {
			if r.Kind == "subscription" && r.State == "active" && strings.Contains(r.NotifyBody, "seen-by-pua") {
				return true
			}
		}
		return false
	})
	if err := d.mi("pua_subscribe", []any{pres, "sip:watcher@127.0.0.1", "presence", 0}, &rep); err != nil || rep.Code != 200 {
		t.Fatalf("unsubscribe: got %+v %v", rep, err)
	}
	waitFor(t, 10*time.Second, "the subscription to go", func() bool {
		var subs []any
		return d.mi("subscriptions_list", nil, &subs) == nil && len(subs) == 0
	})
}

// TestPUA412RecoveryOnePublication: the presence server loses its state
// (a restart with the memory store); the pua's next refresh gets 412 and
// re-publishes, and the server ends with exactly one publication — the
// orphan OpenSIPS#2249 leaves never appears.
func TestPUA412RecoveryOnePublication(t *testing.T) {
	port := testpeer.FreePort(t, "udp+tcp")
	serverCfg := fmt.Sprintf(`
sip:
  listen: ["udp:127.0.0.1:%d", "tcp:127.0.0.1:%d"]
  t1_ms: 100
mi: {enabled: true, listen: "127.0.0.1:0"}
store: {backend: memory}
log: {level: warn}
pua: {enabled: false}
pua_mi: {enabled: false}
pua_usrloc: {enabled: false}
pua_dialoginfo: {enabled: false}
presence:
  min_expires_publish: 1
  max_expires_publish: 3
  default_expires_publish: 3
`, port, port)
	a := startDaemon(t, serverCfg)
	b := startDaemon(t, baseConfig+fmt.Sprintf("presence: {enabled: false}\npua: {presence_server: \"sip:127.0.0.1:%d\", min_expires: 1}\n", port))
	pres := "sip:quinn@127.0.0.1"
	var rep puaReply
	if err := b.mi("pua_publish", []any{pres, -1, "presence", "application/pidf+xml", ".", ".", string(pidfDoc(pres, "open", "kept"))}, &rep); err != nil || rep.Code != 200 {
		t.Fatalf("pua_publish: got %+v %v", rep, err)
	}
	count := func(d *daemon) int {
		var list []struct{ Publications []struct{ ETag string } }
		if err := d.mi("presence_list", []any{pres}, &list); err != nil {
			return -1
		}
		n := 0
		for _, p := range list {
			n += len(p.Publications)
		}
		return n
	}
	if n := count(a); n != 1 {
		t.Fatalf("before the restart: got %d publications, want 1", n)
	}
	a.stop()
	a2 := startDaemon(t, serverCfg)
	waitFor(t, 10*time.Second, "the publication to come back", func() bool { return count(a2) == 1 })
	// Two more refresh periods: still exactly one.
	var etags []string
	waitFor(t, 10*time.Second, "two refreshes", func() bool {
		var recs []puaRecord
		if b.mi("pua_list", nil, &recs) != nil || len(recs) != 1 {
			return false
		}
		if len(etags) == 0 || etags[len(etags)-1] != recs[0].ETag {
			etags = append(etags, recs[0].ETag)
		}
		return len(etags) >= 3
	})
	if n := count(a2); n != 1 {
		t.Fatalf("after recovery and refreshes: got %d publications, want exactly 1", n)
	}
}

// TestPUARefreshNoGap: a publication kept "until removed" through the
// pua, granted only 3 s by the presence server, is refreshed before it
// lapses again and again: its watcher never sees it go offline.
func TestPUARefreshNoGap(t *testing.T) {
	d := startDaemon(t, baseConfig+`
presence:
  min_expires_publish: 1
  max_expires_publish: 3
  default_expires_publish: 3
pua:
  min_expires: 1
`)
	w := siptest.New(t, siptest.Options{Name: "watcher"})
	pres := "sip:steady@127.0.0.1"
	dlg, i := watch(t, w, d.UDP, pres)
	var rep puaReply
	if err := d.mi("pua_publish", []any{pres, -1, "presence", "application/pidf+xml", ".", ".", string(pidfDoc(pres, "open", "steady"))}, &rep); err != nil || rep.Code != 200 || rep.Expires != 3 {
		t.Fatalf("pua_publish: got %+v %v, want 200 granted 3 s", rep, err)
	}
	i = waitBasic(t, w, dlg, i, "open", 5*time.Second)
	// Three grants' worth of time: the pua must have refreshed at least
	// twice, and the publication never lapsed.
	var etags []string
	waitFor(t, 15*time.Second, "three refreshes", func() bool {
		var recs []puaRecord
		if d.mi("pua_list", nil, &recs) != nil || len(recs) != 1 {
			return false
		}
		if len(etags) == 0 || etags[len(etags)-1] != recs[0].ETag {
			etags = append(etags, recs[0].ETag)
		}
		return len(etags) >= 4
	})
	for k, n := range w.Notifies()[i:] {
		if siptest.InDialog(dlg)(n) && basicOf(t, n) != "open" {
			t.Fatalf("NOTIFY %d while the pua kept refreshing: %s, want open all along", k, n.Body())
		}
	}
}
