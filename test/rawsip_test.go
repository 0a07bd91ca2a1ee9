package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/config"
	"github.com/presenced/presenced/server"
)

// This file holds what the bad-input and fuzz tests share: a daemon whose
// error logs are watched (a recovered panic is a failure even when the
// daemon keeps serving), and a raw SIP client that writes bytes with
// net.Dial and reads whatever comes back.

// logWatch is a slog handler that records every record at Error level or
// above and passes everything to next (nil: nowhere).
type logWatch struct {
	next  slog.Handler
	attrs []slog.Attr
	rec   *logRecords
}

type logRecords struct {
	mu     sync.Mutex
	errors []string
}

func (h *logWatch) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelError || (h.next != nil && h.next.Enabled(ctx, l))
}

func (h *logWatch) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		var b strings.Builder
		b.WriteString(r.Message)
		for _, a := range h.attrs {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		}
		r.Attrs(func(a slog.Attr) bool {
			fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
			return true
		})
		h.rec.mu.Lock()
		h.rec.errors = append(h.rec.errors, b.String())
		h.rec.mu.Unlock()
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *logWatch) WithAttrs(as []slog.Attr) slog.Handler {
	n := &logWatch{rec: h.rec, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
	if h.next != nil {
		n.next = h.next.WithAttrs(as)
	}
	return n
}

func (h *logWatch) WithGroup(name string) slog.Handler {
	n := &logWatch{rec: h.rec, attrs: h.attrs}
	if h.next != nil {
		n.next = h.next.WithGroup(name)
	}
	return n
}

// Errors returns the error records logged so far.
func (h *logWatch) Errors() []string {
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	return append([]string(nil), h.rec.errors...)
}

// startWatchedDaemon is startDaemon with the daemon's error logs recorded
// (see logWatch). With toTest false nothing is written to t.Log (a fuzz
// target must not log from the daemon's goroutines while it fuzzes).
func startWatchedDaemon(t testing.TB, yaml string, toTest bool) (*daemon, *logWatch) {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	w := &logWatch{rec: &logRecords{}}
	if toTest {
		level := slog.LevelWarn
		if os.Getenv("PRESENCED_TEST_DEBUG") != "" {
			level = slog.LevelDebug
		}
		w.next = slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})
	}
	srv, err := server.New(cfg, slog.New(w))
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	d := &daemon{t: t, srv: srv, cfg: cfg, MI: srv.MIAddr()}
	d.UDP, _ = srv.SIPAddr("udp")
	d.TCP, _ = srv.SIPAddr("tcp")
	t.Cleanup(func() { d.stop() })
	return d, w
}

// rawConn is a UDP or TCP socket to the daemon that sends bytes as they
// are and parses what comes back.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	tcp  bool
	rbuf []byte         // TCP: bytes read and not yet framed
	seen []*rawResponse // responses read while waiting for another one
}

func dialRaw(t testing.TB, network, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, tcp: strings.HasPrefix(network, "tcp")}
}

// Local is the socket's address, for Via and Contact.
func (r *rawConn) Local() string { return r.c.LocalAddr().String() }

func (r *rawConn) send(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatalf("write %d bytes: %v", len(b), err)
	}
}

// readMessage reads the next SIP message (a datagram, or one framed from
// the TCP stream by its Content-Length) until deadline.
func (r *rawConn) readMessage(deadline time.Time) ([]byte, error) {
	r.c.SetReadDeadline(deadline)
	buf := make([]byte, 65536)
	if !r.tcp {
		for {
			n, err := r.c.Read(buf)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				return buf[:n], nil
			}
		}
	}
	for {
		if m, rest, ok := rawFrame(r.rbuf); ok {
			r.rbuf = rest
			return m, nil
		}
		n, err := r.c.Read(buf)
		r.rbuf = append(r.rbuf, buf[:n]...)
		if err != nil {
			if m, rest, ok := rawFrame(r.rbuf); ok {
				r.rbuf = rest
				return m, nil
			}
			return nil, err
		}
	}
}

// rawFrame cuts one message off a TCP stream (leading CRLFs skipped).
func rawFrame(b []byte) (msg, rest []byte, ok bool) {
	b = bytes.TrimLeft(b, "\r\n")
	i := bytes.Index(b, []byte("\r\n\r\n"))
	if i < 0 {
		return nil, b, false
	}
	head := b[:i+4]
	n := 0
	for _, l := range strings.Split(string(head), "\r\n") {
		k, v, _ := strings.Cut(l, ":")
		if k = strings.TrimSpace(strings.ToLower(k)); k == "content-length" || k == "l" {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if len(b) < len(head)+n {
		return nil, b, false
	}
	return b[:len(head)+n], b[len(head)+n:], true
}

// rawResponse is a response as the daemon sent it: its status line and
// headers, read without a SIP parser so that a response echoing a
// malformed header is still seen.
type rawResponse struct {
	Code    int
	Reason  string
	Headers map[string][]string // by lower-case name, compact forms expanded
	Body    string
	Raw     string
}

// Get returns the first value of a header, "" if absent.
func (r *rawResponse) Get(name string) string {
	if r == nil {
		return ""
	}
	if v := r.Headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (r *rawResponse) String() string {
	if r == nil {
		return "no response"
	}
	return strconv.Itoa(r.Code) + " " + r.Reason
}

var compactNames = map[string]string{"i": "call-id", "v": "via", "f": "from", "t": "to", "m": "contact", "l": "content-length", "c": "content-type", "o": "event"}

// parseRawMessage reads a start line and headers; req is true for a
// request (nil response).
func parseRawMessage(b []byte) (res *rawResponse, req bool) {
	head, body, _ := strings.Cut(string(b), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	if !strings.HasPrefix(lines[0], "SIP/2.0 ") {
		return nil, true
	}
	f := strings.SplitN(lines[0], " ", 3)
	res = &rawResponse{Headers: map[string][]string{}, Body: body, Raw: string(b)}
	res.Code, _ = strconv.Atoi(f[1])
	if len(f) == 3 {
		res.Reason = f[2]
	}
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if c, ok := compactNames[k]; ok {
			k = c
		}
		res.Headers[k] = append(res.Headers[k], strings.TrimSpace(v))
	}
	return res, false
}

// response returns the final response whose Call-ID is callID ("" for
// any), skipping provisional ones and requests, from those already read
// or the next ones; it returns nil when none came before timeout (or the
// daemon closed the TCP connection). Final responses to other requests
// are kept in r.seen.
func (r *rawConn) response(callID string, timeout time.Duration) *rawResponse {
	r.t.Helper()
	for i, res := range r.seen {
		if callID == "" || res.Get("Call-ID") == callID {
			r.seen = append(r.seen[:i:i], r.seen[i+1:]...)
			return res
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		b, err := r.readMessage(deadline)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return nil
			}
			if r.tcp {
				return nil
			}
			r.t.Fatalf("read: %v", err)
		}
		res, isReq := parseRawMessage(b)
		if isReq {
			continue // a request (a NOTIFY to a Contact of ours): not what we wait for
		}
		if res.Code == 0 {
			r.t.Fatalf("the daemon sent a response without a status code:\n%s", b)
		}
		if res.Code < 200 {
			continue
		}
		if callID != "" && res.Get("Call-ID") != callID {
			r.seen = append(r.seen, res)
			continue
		}
		return res
	}
}

// expectNothing fails the test if any response other than those already
// consumed arrives within grace: what was sent before was dropped, as it
// should be. Responses from before (in r.seen) count too.
func (r *rawConn) expectNothing(grace time.Duration) {
	r.t.Helper()
	if len(r.seen) > 0 {
		r.t.Fatalf("got %s, want no response (a drop):\n%s", r.seen[0], r.seen[0].Raw)
	}
	if b, err := r.readMessage(time.Now().Add(grace)); err == nil {
		r.t.Fatalf("got a message, want no response (a drop):\n%s", b)
	}
}

// ping sends an OPTIONS on this socket and waits for its answer; it
// fails the test unless it is a 200.
func (r *rawConn) ping(timeout time.Duration) {
	r.t.Helper()
	id := "ping-" + rawID()
	r.send(rawReq("OPTIONS", "sip:ping@127.0.0.1", id, r.Local(), r.transport(), nil, ""))
	res := r.response(id, timeout)
	if res == nil {
		r.t.Fatalf("OPTIONS: no answer within %v: the daemon stopped serving", timeout)
	}
	if res.Code != 200 {
		r.t.Fatalf("OPTIONS: got %s, want 200", res)
	}
}

func (r *rawConn) transport() string {
	if r.tcp {
		return "TCP"
	}
	return "UDP"
}

func rawID() string { return strconv.FormatUint(rand.Uint64(), 36) }

// rawReq builds a request: the request line, the usual headers (Via with
// rport to local, Max-Forwards, From with a tag, To, Call-ID, CSeq 1
// method), then extra, then Content-Length and body. An extra header
// "-Name" removes the usual header Name; "Name: value" with a usual name
// replaces it; "+Name: value" is added after the usual one.
func rawReq(method, ruri, callID, local, transport string, extra []string, body string) []byte {
	usual := []string{
		"Via: SIP/2.0/" + transport + " " + local + ";branch=z9hG4bK-" + rawID() + ";rport",
		"Max-Forwards: 70",
		"From: <sip:tester@127.0.0.1>;tag=" + rawID(),
		"To: " + "<" + ruri + ">",
		"Call-ID: " + callID,
		"CSeq: 1 " + method,
	}
	name := func(h string) string {
		n, _, _ := strings.Cut(h, ":")
		return strings.ToLower(strings.TrimSpace(strings.TrimPrefix(n, "-")))
	}
	var rest []string
	setCL := true
	for _, e := range extra {
		if add, ok := strings.CutPrefix(e, "+"); ok {
			rest = append(rest, add)
			continue
		}
		replaced := false
		for i, u := range usual {
			if u != "" && name(u) == name(e) {
				usual[i] = ""
				if !strings.HasPrefix(e, "-") {
					usual[i] = e
				}
				replaced = true
			}
		}
		if name(e) == "content-length" {
			setCL = false
		}
		if !replaced && !strings.HasPrefix(e, "-") {
			rest = append(rest, e)
		}
	}
	var b strings.Builder
	b.WriteString(method + " " + ruri + " SIP/2.0\r\n")
	for _, h := range append(usual, rest...) {
		if h != "" {
			b.WriteString(h + "\r\n")
		}
	}
	if setCL {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return []byte(b.String())
}
