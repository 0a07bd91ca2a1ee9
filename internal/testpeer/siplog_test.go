package testpeer

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sampleLog is shaped like SIPp 3.6's -trace_msg output.
var sampleLog = strings.Join([]string{
	"----------------------------------------------- 2026-11-27 22:45:39.419837",
	"UDP message sent (200 bytes):",
	"",
	"SUBSCRIBE sip:alice@127.0.0.1:5060 SIP/2.0\r",
	"Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-1\r",
	"From: <sip:w@127.0.0.1>;tag=1\r",
	"To: <sip:alice@127.0.0.1>\r",
	"Call-ID: 1-1@127.0.0.1\r",
	"CSeq: 1 SUBSCRIBE\r",
	"Event: presence\r",
	"Content-Length: 0\r",
	"\r",
	"",
	"----------------------------------------------- 2026-11-27 22:45:39.419913",
	"UDP message received [300] bytes :",
	"",
	"SIP/2.0 200 OK\r",
	"v: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bK-1\r",
	"i: 1-1@127.0.0.1\r",
	"CSeq: 1 SUBSCRIBE\r",
	"l: 0\r",
	"\r",
	"",
	"----------------------------------------------- 2026-11-27 22:45:39.420966",
	"TCP message received [400] bytes :",
	"",
	"NOTIFY sip:w@127.0.0.1:5071 SIP/2.0\r",
	"Call-ID: 1-1@127.0.0.1\r",
	"CSeq: 7 NOTIFY\r",
	"Subscription-State: active;\r",
	" expires=60\r",
	"o: presence\r",
	"c: application/pidf+xml\r",
	"Content-Length: 12\r",
	"\r",
	"<presence/>\n",
	"",
	"----------------------------------------------- 2026-11-27 22:45:40.000000",
	"UDP message received [10] bytes :",
	"",
	"NOTIFY sip:w@127.0.0.1:5071 SIP/2.0\r",
	"Call-ID: 1-1@127.0.0.1\r",
	"CSeq: 8 NOTIFY\r",
	"Event: presence\r",
	"\r",
	"body without length",
	"",
	"",
}, "\n")

func TestParseMessageLog(t *testing.T) {
	msgs := ParseMessageLog(sampleLog)
	type summary struct {
		Time, Direction, Transport, Method string
		Status, CSeq                       int
		CallID, Event, SubState, Body      string
	}
	var got []summary
	for _, m := range msgs {
		got = append(got, summary{m.Time, m.Direction, m.Transport, m.Method, m.StatusCode, m.CSeq(),
			m.Get("call-id"), m.Get("Event"), m.Get("Subscription-State"), m.Body})
	}
	want := []summary{
		{"2026-11-27 22:45:39.419837", "sent", "UDP", "SUBSCRIBE", 0, 1, "1-1@127.0.0.1", "presence", "", ""},
		{"2026-11-27 22:45:39.419913", "received", "UDP", "", 200, 1, "1-1@127.0.0.1", "", "", ""},
		{"2026-11-27 22:45:39.420966", "received", "TCP", "NOTIFY", 0, 7, "1-1@127.0.0.1", "presence", "active; expires=60", "<presence/>\n"},
		{"2026-11-27 22:45:40.000000", "received", "UDP", "NOTIFY", 0, 8, "1-1@127.0.0.1", "presence", "", "body without length"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("ParseMessageLog mismatch (-want +got):\n%s", diff)
	}
	if got := msgs[2].Get("Content-Type"); got != "application/pidf+xml" {
		t.Errorf("compact c: got %q, want application/pidf+xml", got)
	}
	if got := msgs[1].Values("Via"); len(got) != 1 {
		t.Errorf("compact v: got %q, want one Via", got)
	}

	notifies := ReceivedRequests(sampleLog, "notify")
	if len(notifies) != 2 || notifies[0].CSeq() != 7 || notifies[1].CSeq() != 8 {
		t.Fatalf("ReceivedRequests(NOTIFY): got %d messages, want CSeq 7 and 8", len(notifies))
	}
	if got := ReceivedRequests(sampleLog, "SUBSCRIBE"); len(got) != 0 {
		t.Errorf("ReceivedRequests(SUBSCRIBE): got %d, want 0 (it was sent)", len(got))
	}
}

func TestParseMessageLogGarbage(t *testing.T) {
	for _, log := range []string{"", "no separator\n", "----------------------------------------------- x\n", "----------------------------------------------- x\nUDP message sent (1 bytes):\n\nnot sip\n"} {
		if got := ParseMessageLog(log); len(got) != 0 {
			t.Errorf("ParseMessageLog(%q): got %d messages, want 0", log, len(got))
		}
	}
}
