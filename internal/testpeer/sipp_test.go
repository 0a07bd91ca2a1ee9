package testpeer

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// notifier is a minimal UDP SIP notifier for SIPp's tests: it answers
// SUBSCRIBE with 200 (or with reject, when set) and then sends one NOTIFY
// with a PIDF body to the subscriber.
type notifier struct {
	conn   net.PacketConn
	reject int
	wg     sync.WaitGroup
}

func startNotifier(t *testing.T, reject int) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", hostPort(FreePort(t, "udp")))
	if err != nil {
		t.Fatal(err)
	}
	n := &notifier{conn: c, reject: reject}
	n.wg.Add(1)
	go n.serve() // ends when the socket is closed
	t.Cleanup(func() {
		c.Close()
		n.wg.Wait()
	})
	return c.LocalAddr().String()
}

func (n *notifier) serve() {
	defer n.wg.Done()
	buf := make([]byte, 65535)
	for {
		size, from, err := n.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		var m SIPMessage
		if !parseSIP(&m, string(buf[:size])) || m.Method != "SUBSCRIBE" {
			continue
		}
		code, reason := 200, "OK"
		if n.reject != 0 {
			code, reason = n.reject, "Rejected"
		}
		resp := fmt.Sprintf("SIP/2.0 %d %s\r\nVia: %s\r\nFrom: %s\r\nTo: %s;tag=ntf\r\nCall-ID: %s\r\nCSeq: %s\r\nExpires: 60\r\nContent-Length: 0\r\n\r\n",
			code, reason, m.Get("Via"), m.Get("From"), m.Get("To"), m.Get("Call-ID"), m.Get("CSeq"))
		if _, err := n.conn.WriteTo([]byte(resp), from); err != nil || n.reject != 0 {
			continue
		}
		to := strings.Trim(strings.SplitN(m.Get("To"), ";", 2)[0], "<> ")
		body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\r\n"+
			`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="%s"><tuple id="t1"><status><basic>open</basic></status></tuple></presence>`+"\r\n", to)
		notify := fmt.Sprintf("NOTIFY sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-ntf%d\r\nMax-Forwards: 70\r\n"+
			"From: <%s>;tag=ntf\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: 1 NOTIFY\r\nContact: <sip:%s>\r\n"+
			"Event: presence\r\nSubscription-State: active;expires=60\r\nContent-Type: application/pidf+xml\r\n"+
			"Content-Length: %d\r\n\r\n%s",
			from, n.conn.LocalAddr(), time.Now().UnixNano(), to, m.Get("From"), m.Get("Call-ID"), n.conn.LocalAddr(), len(body), body)
		_, _ = n.conn.WriteTo([]byte(notify), from)
	}
}

func writeInjection(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "watchers.csv")
	if err := os.WriteFile(p, []byte("SEQUENTIAL\n"+strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSIPpSubscribeNotify(t *testing.T) {
	t.Parallel()
	RequireSIPp(t)
	target := startNotifier(t, 0)
	run := SIPp(t, SIPpOptions{
		Scenario:      "testdata/sipp/subscribe.xml",
		Target:        target,
		Calls:         2,
		Rate:          100,
		Vars:          map[string]string{"user": "alice"},
		InjectionFile: writeInjection(t, "watcher1", "watcher2"),
		Timeout:       20 * time.Second,
	})
	res, err := run.Run()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, res.Screen)
	}
	if res.ExitCode != 0 || res.Successful != 2 || res.Failed != 0 || res.Created != 2 {
		t.Fatalf("exit %d, %d successful, %d failed, %d created; want 0, 2, 0, 2", res.ExitCode, res.Successful, res.Failed, res.Created)
	}
	if res.Stats["SuccessfulCall(C)"] != "2" {
		t.Errorf("Stats[SuccessfulCall(C)] = %q, want 2", res.Stats["SuccessfulCall(C)"])
	}
	if !strings.Contains(res.Screen, "SUBSCRIBE") {
		t.Errorf("screen does not show the scenario:\n%s", res.Screen)
	}
	if res.MessageLog != run.MessageLog() {
		t.Errorf("result's message log differs from MessageLog()")
	}

	notifies := res.Received("NOTIFY")
	if len(notifies) != 2 {
		t.Fatalf("got %d NOTIFYs, want 2\n%s", len(notifies), res.MessageLog)
	}
	for _, n := range notifies {
		if got := n.Get("Event"); got != "presence" {
			t.Errorf("NOTIFY Event %q, want presence", got)
		}
		if got := n.Get("subscription-state"); got != "active;expires=60" {
			t.Errorf("NOTIFY Subscription-State %q, want active;expires=60", got)
		}
		if !strings.HasSuffix(n.Body, "</presence>\r\n") || !strings.Contains(n.Body, `entity="sip:alice@127.0.0.1"`) {
			t.Errorf("NOTIFY body %q, want the PIDF of alice", n.Body)
		}
		if n.CSeq() != 1 || n.Direction != "received" || n.Transport != "UDP" {
			t.Errorf("NOTIFY CSeq %d, %s over %s; want 1, received over UDP", n.CSeq(), n.Direction, n.Transport)
		}
	}

	// -set and -inf reached the requests: presentity alice, watchers from the file.
	var froms []string
	for _, m := range res.Messages() {
		if m.Direction == "sent" && m.Method == "SUBSCRIBE" {
			if !strings.HasPrefix(m.StartLine, "SUBSCRIBE sip:alice@127.0.0.1:") {
				t.Errorf("SUBSCRIBE start line %q, want sip:alice@...", m.StartLine)
			}
			froms = append(froms, strings.SplitN(m.Get("From"), ";", 2)[0])
		}
	}
	want := []string{"<sip:watcher1@127.0.0.1>", "<sip:watcher2@127.0.0.1>"}
	if strings.Join(froms, " ") != strings.Join(want, " ") {
		t.Errorf("SUBSCRIBE From %v, want %v", froms, want)
	}
}

func TestSIPpFailedCall(t *testing.T) {
	t.Parallel()
	RequireSIPp(t)
	target := startNotifier(t, 404)
	run := SIPp(t, SIPpOptions{
		Scenario:      "testdata/sipp/subscribe.xml",
		Target:        target,
		Vars:          map[string]string{"user": "bob"},
		InjectionFile: writeInjection(t, "watcher"),
		Timeout:       20 * time.Second,
	})
	res, err := run.Run()
	if err == nil {
		t.Fatal("run: got nil error, want a failed call")
	}
	if res.ExitCode != 1 || res.Successful != 0 || res.Failed != 1 {
		t.Fatalf("exit %d, %d successful, %d failed; want 1, 0, 1", res.ExitCode, res.Successful, res.Failed)
	}
	if !strings.Contains(res.Errors, "404") {
		t.Errorf("error log does not mention the 404:\n%s", res.Errors)
	}
}

func TestSIPpTimeout(t *testing.T) {
	t.Parallel()
	RequireSIPp(t)
	// Nothing answers on this port: the global timeout ends the run.
	run := SIPp(t, SIPpOptions{
		Scenario: "testdata/sipp/options.xml",
		Target:   hostPort(FreePort(t, "udp")),
		Timeout:  2 * time.Second,
	})
	start := time.Now()
	res, err := run.Run()
	if err == nil {
		t.Fatal("run: got nil error, want a timeout")
	}
	if res.ExitCode == 0 || res.Successful != 0 {
		t.Fatalf("exit %d, %d successful; want non-zero, 0", res.ExitCode, res.Successful)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Fatalf("run took %v, want about the 2s timeout", d)
	}
}

func TestSIPpStartWait(t *testing.T) {
	t.Parallel()
	RequireSIPp(t)
	// SIPp's built-in UAS waits for one call; a SIPp UAC makes it.
	uas := SIPp(t, SIPpOptions{Scenario: "uas", Timeout: 20 * time.Second})
	uas.Start()
	uac := SIPp(t, SIPpOptions{Scenario: "uac", Target: uas.LocalAddr(), Timeout: 20 * time.Second})
	if _, err := uac.Run(); err != nil {
		t.Fatalf("uac: %v", err)
	}
	res, err := uas.Wait()
	if err != nil {
		t.Fatalf("uas: %v", err)
	}
	if res.Successful != 1 {
		t.Fatalf("uas: %d successful calls, want 1", res.Successful)
	}
	if got := len(res.Received("INVITE")); got != 1 {
		t.Fatalf("uas received %d INVITEs, want 1", got)
	}
	if got := len(res.Received("BYE")); got != 1 {
		t.Fatalf("uas received %d BYEs, want 1", got)
	}
}
