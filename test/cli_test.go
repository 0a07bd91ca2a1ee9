package test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/siptest"
	"github.com/presenced/presenced/internal/testpeer"
)

// seedBody is the document of the seed's pua_publish example.
const seedBody = `<?xml version='1.0'?><presence xmlns='urn:ietf:params:xml:ns:pidf' xmlns:dm='urn:ietf:params:xml:ns:pidf:data-model'
 xmlns:rpid='urn:ietf:params:xml:ns:pidf:rpid' xmlns:c='urn:ietf:params:xml:ns:pidf:cipid'
entity='system@domain'><tuple id='0x81475a0'><status><basic>open</basic></status></tuple><dm:person
id='pdd748945'><rpid:activities><rpid:away/>away</rpid:activities><dm:note>CPU:16
MEM:476</dm:note></dm:person></presence>`

// TestCLIPuaPublishSeed runs the seed's example from the command line,
// `presenced mi pua_publish sip:system@... 3600 presence
// application/pidf+xml . . '<?xml ...'`, against the daemon's own
// presence server, and a SIPp watcher gets the NOTIFY.
func TestCLIPuaPublishSeed(t *testing.T) {
	d := newProcDaemon(t)
	run := testpeer.SIPp(t, testpeer.SIPpOptions{
		Scenario: "testdata/sipp/watch-seed.xml", Target: d.UDP.String(), Timeout: 30 * time.Second,
	})
	run.Start()
	waitFor(t, 10*time.Second, "SIPp to get the first NOTIFY", func() bool { return len(run.Received("NOTIFY")) >= 1 })
	var rep puaReply
	d.cli(&rep, "pua_publish", "sip:system@127.0.0.1", "3600", "presence", "application/pidf+xml", ".", ".", seedBody)
	if rep.Code != 200 || rep.ETag == "" || rep.Expires != 3600 {
		t.Fatalf("presenced mi pua_publish: got %+v, want 200 with an ETag and Expires 3600", rep)
	}
	runSIPp(t, run, 1)
	notifies := run.Received("NOTIFY")
	if len(notifies) < 2 || !strings.Contains(notifies[1].Body, "CPU:16") {
		t.Fatalf("SIPp's NOTIFYs: got %d, want the published document in the second", len(notifies))
	}
}

// TestCLICheckAndVersion: presenced check accepts the shipped example and
// prints every error of a bad config with its path; presenced version
// answers.
func TestCLICheckAndVersion(t *testing.T) {
	bin := presencedBinary(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	if out, code := run("check", "-c", filepath.Join(root, "presenced.example.yaml")); code != 0 || !strings.Contains(out, ": ok") {
		t.Errorf("check of the example: exit %d, output %q; want 0 and ok", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("presence:\n  min_expires_publish: soon\n  dialogue: {}\npua:\n  presence_server: \"sip:<x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := run("check", "-c", bad)
	if code != 1 {
		t.Errorf("check of a bad config: exit %d, want 1", code)
	}
	for _, want := range []string{"presence.min_expires_publish", "presence.dialogue", "pua.presence_server"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output %q: want an error for %s", out, want)
		}
	}
	if out, code := run("version"); code != 0 || !strings.HasPrefix(out, "presenced ") {
		t.Errorf("version: exit %d output %q", code, out)
	}
	if out, code := run("mi", "-a", "127.0.0.1:1", "version"); code != 2 || !strings.Contains(out, "cannot reach") {
		t.Errorf("mi to nowhere: exit %d output %q, want 2 and a clear message", code, out)
	}
}

// TestPUARestartKeepsRecords: pua records survive kill -9: after the
// restart the publication is listed with its ETag and its refreshes carry
// on with it (the presence server, restored too, answers 200).
func TestPUARestartKeepsRecords(t *testing.T) {
	d := newProcDaemon(t)
	var rep puaReply
	d.cli(&rep, "pua_publish", "sip:rosa@127.0.0.1", "-1", "presence", "application/pidf+xml", ".", ".", seedBody)
	if rep.Code != 200 {
		t.Fatalf("pua_publish: %+v", rep)
	}
	var sub puaReply
	d.cli(&sub, "pua_subscribe", "sip:rosa@127.0.0.1", "sip:rosa-watcher@127.0.0.1", "presence", "-1")
	if sub.Code != 200 {
		t.Fatalf("pua_subscribe: %+v", sub)
	}
	waitFor(t, 5*time.Second, "the pua records to be written", func() bool {
		var recs []puaRecord
		d.cli(&recs, "pua_list")
		return len(recs) == 2 && recs[1].State == "active"
	})
	_ = d.stop(syscall.SIGKILL, 10*time.Second)
	d.start()
	var recs []puaRecord
	d.cli(&recs, "pua_list")
	if len(recs) != 2 || recs[0].ETag != rep.ETag || recs[1].Kind != "subscription" {
		t.Fatalf("after kill -9: got %+v, want the publication with ETag %s and the subscription", recs, rep.ETag)
	}
	// A refresh by that ETag goes out and is answered 200.
	var ref puaReply
	d.cli(&ref, "pua_publish", "sip:rosa@127.0.0.1", "-1", "presence", ".", rep.ETag, ".")
	if ref.Code != 200 || ref.ETag == rep.ETag {
		t.Fatalf("refresh after restart: got %+v, want 200 with a new ETag", ref)
	}
}

// TestMetricsAndHealth: /metrics has the SIP requests by method and the
// responses by method and code, the presence gauges and NOTIFY counters;
// /health answers ok.
func TestMetricsAndHealth(t *testing.T) {
	d := startDaemon(t, baseConfig)
	ua := siptest.New(t, siptest.Options{})
	publishPIDF(t, ua, d, "sip:metrics@127.0.0.1", "open", "x")
	res, _, err := ua.Send(ctxT(t), d.UDP, siptest.Request{Method: "FOO", URI: "sip:metrics@127.0.0.1"})
	if err != nil || res.StatusCode != 405 {
		t.Fatalf("FOO: %v %v", res, err)
	}
	body := httpGet(t, "http://"+d.MI+"/metrics")
	for _, want := range []string{
		`presenced_sip_requests_total{method="PUBLISH"} 1`,
		`presenced_sip_responses_total{code="200",method="PUBLISH"} 1`,
		`presenced_sip_responses_total{code="405",method="FOO"} 1`,
		`presenced_publications 1`,
		`presenced_subscriptions 0`,
		`presenced_notify_sent_total`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if got := httpGet(t, "http://"+d.MI+"/health"); !strings.HasPrefix(got, "ok") {
		t.Errorf("/health: got %q", got)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMemoryLimitConfig: memory_limit in the config becomes the runtime's
// soft memory limit of `presenced run` (seen in /metrics).
func TestMemoryLimitConfig(t *testing.T) {
	d := newProcDaemonExtra(t, "memory_limit: 123MiB\n")
	resp, err := http.Get("http://" + d.MI + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var got float64 = -1
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "go_gc_gomemlimit_bytes "); ok {
			got, err = strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatalf("go_gc_gomemlimit_bytes %q: %v", v, err)
			}
		}
	}
	if want := float64(123 << 20); got != want {
		t.Errorf("go_gc_gomemlimit_bytes: got %v, want %v", got, want)
	}
}
