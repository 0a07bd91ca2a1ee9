// Package xmpptest is an XMPP client for the gateway's tests and
// benchmarks: it logs in to an XMPP server over c2s (StartTLS, SASL SCRAM
// or PLAIN, resource binding) with mellium.im/xmpp, sends presence and
// message stanzas, and records those it receives.
//
// Goroutines: each client has one goroutine serving its stream; it ends
// when the stream ends (Close, or the server going away).
package xmpptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	mxmpp "mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/testpeer"
	"github.com/presenced/presenced/xmpp"
)

// Options say where and as whom to log in.
type Options struct {
	Addr     string // c2s address, host:port
	Domain   string // the user's domain (and TLS server name)
	User     string
	Password string
	Resource string         // requested resource; "" lets the server choose
	Roots    *x509.CertPool // trusted roots for StartTLS; nil: the system's
	// OnStanza, when set, is called on the client's goroutine for every
	// presence or message received, with the time it was read.
	OnStanza func(s xmpp.Stanza, at time.Time)
	// NoRecord keeps received stanzas out of Stanzas (benchmarks).
	NoRecord bool
}

// Client is a logged-in XMPP client.
type Client struct {
	JID  string // full JID bound
	Bare string

	opts    Options
	sess    *mxmpp.Session
	conn    net.Conn
	wmu     sync.Mutex // serialises Send's deadline and write
	mu      sync.Mutex
	got     []xmpp.Stanza
	changed chan struct{}
	done    chan struct{}
	err     error // Serve's result, set before done is closed
}

// Connect logs in and starts serving the stream.
func Connect(ctx context.Context, o Options) (*Client, error) {
	origin, err := jid.New(o.User, o.Domain, o.Resource)
	if err != nil {
		return nil, fmt.Errorf("xmpptest: jid: %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("xmpptest: dial %s: %w", o.Addr, err)
	}
	tlsCfg := &tls.Config{ServerName: o.Domain, RootCAs: o.Roots, MinVersion: tls.VersionTLS12}
	bind := mxmpp.BindResource()
	if o.Resource != "" {
		bind = mxmpp.BindCustom(func(jid.JID, string) (jid.JID, error) { return origin, nil })
	}
	// ctx bounds the login through a deadline on the connection: mellium
	// may apply a context's deadline late, to the session's later reads
	// and writes.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	s, err := mxmpp.NewClientSession(context.Background(), origin.Bare(), conn,
		mxmpp.StartTLS(tlsCfg),
		mxmpp.SASL("", o.Password, sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1Plus, sasl.ScramSha1, sasl.Plain),
		bind,
	)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("xmpptest: login %s@%s: %w", o.User, o.Domain, err)
	}
	// Ask for the roster: the server then counts this resource as
	// interested and delivers subscription approvals to it (RFC 6121
	// section 2.1.6).
	rosterGet := `<iq type='get' id='roster1'><query xmlns='jabber:iq:roster'/></iq>`
	if err := s.Send(context.Background(), xml.NewDecoder(strings.NewReader(rosterGet))); err != nil {
		conn.Close()
		return nil, fmt.Errorf("xmpptest: roster get: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	c := &Client{
		JID: s.LocalAddr().String(), Bare: s.LocalAddr().Bare().String(),
		opts: o, sess: s, conn: conn, changed: make(chan struct{}), done: make(chan struct{}),
	}
	go func() {
		err := s.Serve(mxmpp.HandlerFunc(c.handle))
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
		c.notify()
	}()
	return c, nil
}

// Dial is Connect failing t on error; the client is closed at the end of
// the test.
func Dial(t testing.TB, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (c *Client) handle(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	if start.Name.Local == "iq" {
		// Acknowledge roster pushes (and any other set).
		var id, typ string
		for _, a := range start.Attr {
			switch a.Name.Local {
			case "id":
				id = a.Value
			case "type":
				typ = a.Value
			}
		}
		if typ != "set" {
			return nil
		}
		res := xml.StartElement{Name: xml.Name{Local: "iq"}, Attr: []xml.Attr{{Name: xml.Name{Local: "type"}, Value: "result"}, {Name: xml.Name{Local: "id"}, Value: id}}}
		if err := t.EncodeToken(res); err != nil {
			return err
		}
		return t.EncodeToken(res.End())
	}
	if start.Name.Local != "presence" && start.Name.Local != "message" {
		return nil
	}
	st, err := xmpp.Decode(xmlstream.MultiReader(xmlstream.Token(*start), t))
	if st == nil {
		return err
	}
	now := time.Now()
	if c.opts.OnStanza != nil {
		c.opts.OnStanza(st, now)
	}
	if !c.opts.NoRecord {
		c.mu.Lock()
		c.got = append(c.got, st)
		c.mu.Unlock()
		c.notify()
	}
	return nil
}

func (c *Client) notify() {
	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

// Send writes a stanza; its From is the server's to set.
func (c *Client) Send(st xmpp.Stanza) error {
	b, err := xmpp.Encode(st)
	if err != nil {
		return err
	}
	// A deadline on the connection rather than a context: mellium may
	// apply a cancelled context's past deadline to the next write.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.sess.Send(context.Background(), xml.NewDecoder(bytes.NewReader(b)))
}

// Presence sends an available presence (show and status may be empty),
// or unavailable when show is "unavailable".
func (c *Client) Presence(show, status string) error {
	p := xmpp.Presence{Show: show, Status: status}
	if show == xmpp.Unavailable {
		p = xmpp.Presence{Type: xmpp.Unavailable, Status: status}
	}
	return c.Send(p)
}

// Stanzas returns what was received so far.
func (c *Client) Stanzas() []xmpp.Stanza {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]xmpp.Stanza(nil), c.got...)
}

// ErrTimeout is Next's error when nothing matched in time.
var ErrTimeout = errors.New("xmpptest: no matching stanza in time")

// Next waits for a received stanza satisfying match, among those after
// index after, and returns it with its index.
func (c *Client) Next(timeout time.Duration, after int, match func(xmpp.Stanza) bool) (xmpp.Stanza, int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		for i := after; i < len(c.got); i++ {
			if match == nil || match(c.got[i]) {
				st := c.got[i]
				c.mu.Unlock()
				return st, i, nil
			}
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return nil, -1, fmt.Errorf("%w (%s, %d received)", ErrTimeout, c.Bare, len(c.Stanzas()))
		}
	}
}

// Wait is Next failing t on timeout.
func (c *Client) Wait(t testing.TB, timeout time.Duration, after int, what string, match func(xmpp.Stanza) bool) (xmpp.Stanza, int) {
	t.Helper()
	st, i, err := c.Next(timeout, after, match)
	if err != nil {
		t.Fatalf("%s waiting for %s: %v; got %v", c.Bare, what, err, c.Stanzas())
	}
	return st, i
}

// Done is closed when the stream has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close ends the stream and the connection and waits for the client's
// goroutine.
func (c *Client) Close() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	closed := make(chan struct{})
	go func() {
		_ = c.sess.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
	}
	select {
	case <-c.done:
	case <-time.After(2 * time.Second):
	}
	c.conn.Close()
	<-c.done
	return nil
}

// PresenceFrom returns a matcher of presences of type typ from the bare
// JID from (any resource).
func PresenceFrom(from, typ string) func(xmpp.Stanza) bool {
	return func(s xmpp.Stanza) bool {
		p, ok := s.(xmpp.Presence)
		return ok && p.Type == typ && bare(p.From) == from
	}
}

func bare(j string) string {
	if i := bytes.IndexByte([]byte(j), '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// RestartProsody stops a Prosody of internal/testpeer with sig (SIGTERM:
// a clean shutdown that tells contacts its users left; SIGKILL: a crash
// that tells nobody), waits for it to exit, and starts it again on the
// same configuration, ports and data; the new process is stopped at the
// end of the test. It returns once both ports accept connections again.
func RestartProsody(t testing.TB, s *testpeer.ProsodyServer, sig syscall.Signal) {
	t.Helper()
	if err := syscall.Kill(s.Pid, sig); err != nil {
		t.Fatalf("restart prosody: signal %d: %v", s.Pid, err)
	}
	waitUntil(t, 15*time.Second, "prosody to stop", func() bool {
		for _, a := range []string{s.C2SAddr, s.ComponentAddr} {
			if c, err := net.DialTimeout("tcp4", a, 200*time.Millisecond); err == nil {
				c.Close()
				return false
			}
		}
		return syscall.Kill(s.Pid, 0) != nil
	})
	bin, err := exec.LookPath("prosody")
	if err != nil {
		t.Fatalf("restart prosody: %v", err)
	}
	out, err := os.OpenFile(filepath.Join(s.Dir, "prosody.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("restart prosody: %v", err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "-F", "--config", filepath.Join(s.Dir, "prosody.cfg.lua"))
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("restart prosody: %v", err)
	}
	exited := make(chan struct{})
	// Owned by the test: ends when the process exits, which the cleanup
	// waits for.
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.Pid = cmd.Process.Pid
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	waitUntil(t, 30*time.Second, "prosody to listen again", func() bool {
		for _, a := range []string{s.C2SAddr, s.ComponentAddr} {
			c, err := net.DialTimeout("tcp4", a, time.Second)
			if err != nil {
				return false
			}
			c.Close()
		}
		return true
	})
}

// waitUntil polls cond every 20 ms until it holds, failing t after
// timeout.
func waitUntil(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SendRaw writes raw XML (one element).
func (c *Client) SendRaw(x string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return c.sess.Send(context.Background(), xml.NewDecoder(strings.NewReader(x)))
}
