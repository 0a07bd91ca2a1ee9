package test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
)

// TestPUAKamailioPublish: pua_publish against Kamailio 5.6 as the presence
// server: a watcher subscribed to Kamailio gets the state; the ETag
// returned refreshes and removes the publication.
func TestPUAKamailioPublish(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioOptions{Config: "presence"})
	kaddr := netip.MustParseAddrPort(k.Addr)
	d := startDaemon(t, baseConfig+"pua:\n  presence_server: \"sip:"+k.Addr+"\"\n")
	w := siptest.New(t, siptest.Options{Name: "kwatcher"})
	pres := "sip:system@127.0.0.1"
	res, dlg, err := w.Subscribe(ctxT(t), kaddr, siptest.Request{URI: pres, Headers: map[string]string{"Event": "presence", "Expires": "600"}})
	if err != nil || res.StatusCode >= 300 {
		t.Fatalf("subscribe to Kamailio: %v %v", res, err)
	}
	_, i := w.WaitNotify(5*time.Second, 0, siptest.InDialog(dlg))

	var rep puaReply
	if err := d.mi("pua_publish", []any{pres, 3600, "presence", "application/pidf+xml", ".", ".", string(pidfDoc(pres, "open", "via-kamailio"))}, &rep); err != nil {
		t.Fatalf("pua_publish: %v", err)
	}
	if rep.Code != 200 || rep.ETag == "" {
		t.Fatalf("pua_publish to Kamailio: got %+v, want 200 with an ETag", rep)
	}
	n, i := w.WaitNotify(10*time.Second, i+1, func(r *sip.Request) bool {
		return siptest.InDialog(dlg)(r) && strings.Contains(string(r.Body()), "via-kamailio")
	})
	_ = n
	var ref puaReply
	if err := d.mi("pua_publish", []any{pres, 3600, "presence", ".", rep.ETag, "."}, &ref); err != nil || ref.Code != 200 || ref.ETag == "" {
		t.Fatalf("refresh at Kamailio: got %+v %v", ref, err)
	}
	var rm puaReply
	if err := d.mi("pua_publish", []any{pres, 0, "presence", ".", ref.ETag, "."}, &rm); err != nil || rm.Code != 200 {
		t.Fatalf("remove at Kamailio: got %+v %v", rm, err)
	}
	w.WaitNotify(10*time.Second, i+1, func(r *sip.Request) bool {
		return siptest.InDialog(dlg)(r) && !strings.Contains(string(r.Body()), "via-kamailio")
	})
}

// TestPUAKamailioSubscribe: pua_subscribe to a presentity at Kamailio: the
// NOTIFYs Kamailio sends show in pua_list.
func TestPUAKamailioSubscribe(t *testing.T) {
	k := testpeer.Kamailio(t, testpeer.KamailioOptions{Config: "presence"})
	kaddr := netip.MustParseAddrPort(k.Addr)
	d := startDaemon(t, baseConfig+"pua:\n  presence_server: \"sip:"+k.Addr+"\"\n")
	pres := "sip:olga@127.0.0.1"
	var rep puaReply
	if err := d.mi("pua_subscribe", []any{pres, "sip:mi-watcher@127.0.0.1", "presence", 600}, &rep); err != nil || rep.Code >= 300 {
		t.Fatalf("pua_subscribe to Kamailio: got %+v %v", rep, err)
	}
	ua := siptest.New(t, siptest.Options{})
	res, _, err := ua.Send(ctxT(t), kaddr, siptest.Request{Method: sip.PUBLISH, URI: pres,
		Headers: map[string]string{"Event": "presence", "Expires": "600"}, ContentType: "application/pidf+xml", Body: pidfDoc(pres, "open", "kam-state")})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("publish to Kamailio: %v %v", res, err)
	}
	waitFor(t, 10*time.Second, "Kamailio's NOTIFY in pua_list", func() bool {
		var recs []puaRecord
		if d.mi("pua_list", nil, &recs) != nil {
			return false
		}
		for _, r := range recs {
			if r.Kind == "subscription" && r.State == "active" && strings.Contains(r.NotifyBody, "kam-state") {
				return true
			}
		}
		return false
	})
}
