package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/xmlstream"
	mxmpp "mellium.im/xmpp"
	"mellium.im/xmpp/component"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// Link states.
const (
	StateStopped    = "stopped"
	StateConnecting = "connecting"
	StateUp         = "up"
	StateDown       = "down" // waiting to reconnect
)

// Errors of Send.
var (
	ErrDown        = errors.New("xmpp link is down")
	ErrQueueFull   = errors.New("xmpp send queue is full")
	ErrForeignFrom = errors.New("stanza from outside the component's domain")
)

var errTooLarge = errors.New("stanza larger than max_stanza_size")

// queued is a stanza waiting for the writer, with when it was queued.
type queued struct {
	st Stanza
	at time.Time
}

// session is one established component stream.
type session struct {
	s    *mxmpp.Session
	conn net.Conn
	out  chan queued
	quit chan struct{} // closed to stop the writer
	done chan struct{} // closed when the writer ended
}

// run is the link goroutine: connect, serve until the stream ends, wait
// the backoff, again, until Stop. It owns the writer goroutine of each
// session.
func (g *Gateway) run() {
	defer close(g.done)
	attempt := 0
	for {
		up, err := g.connectAndServe()
		if g.stopping() {
			g.setState(StateStopped, nil, time.Time{})
			return
		}
		if up {
			attempt = 0
		}
		attempt++
		delay := g.backoff(attempt)
		g.setState(StateDown, err, time.Now().Add(delay))
		g.log.Warn("xmpp link down", "server", g.addr(), "err", err, "retry_in", delay.Round(time.Millisecond).String())
		t := time.NewTimer(delay)
		select {
		case <-g.stop:
			t.Stop()
			g.setState(StateStopped, nil, time.Time{})
			return
		case <-t.C:
		}
	}
}

// backoff is the wait before attempt n (1, 2, ...): doubling from
// reconnect_min_ms, capped at reconnect_max, minus up to a fifth of
// jitter.
func (g *Gateway) backoff(n int) time.Duration {
	d := time.Duration(g.cfg.ReconnectMinMS) * time.Millisecond << min(n-1, 20)
	d = min(d, time.Duration(g.cfg.ReconnectMax)*time.Second)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

func (g *Gateway) addr() string {
	return net.JoinHostPort(g.cfg.XMPPHost, strconv.Itoa(g.cfg.XMPPPort))
}

// connectAndServe opens one component session and serves it until it
// ends. up reports whether the handshake succeeded.
func (g *Gateway) connectAndServe() (up bool, err error) {
	g.setState(StateConnecting, nil, time.Time{})
	timeout := time.Duration(g.cfg.ConnectTimeout) * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Stop interrupts a connection attempt: the dial through ctx, the
	// handshake by closing the connection.
	var dialedMu sync.Mutex
	var dialed net.Conn
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go func() {
		select {
		case <-g.stop:
			cancel()
			dialedMu.Lock()
			if dialed != nil {
				dialed.Close()
			}
			dialedMu.Unlock()
		case <-stopWatch:
		}
	}()
	d := net.Dialer{KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", g.addr())
	if err != nil {
		g.c.connectFailed.Add(1)
		return false, fmt.Errorf("connect %s: %w", g.addr(), err)
	}
	dialedMu.Lock()
	dialed = conn
	dialedMu.Unlock()
	// The handshake is bounded by a deadline on the connection, not by a
	// context: mellium watches a context with a goroutine that, if it
	// sees the context done late, sets a past deadline on the connection
	// in use.
	_ = conn.SetDeadline(time.Now().Add(timeout))
	lc := &limitConn{Conn: conn, max: int64(g.cfg.MaxStanzaSize)}
	lc.reset()
	domain, err := jid.Parse(g.cfg.XMPPDomain)
	if err != nil {
		conn.Close()
		g.c.connectFailed.Add(1)
		return false, fmt.Errorf("component domain %q: %w", g.cfg.XMPPDomain, err)
	}
	s, err := component.NewSession(context.Background(), domain, []byte(g.cfg.XMPPPassword), lc)
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		conn.Close()
		g.c.connectFailed.Add(1)
		var se stream.Error
		if errors.As(err, &se) {
			return false, fmt.Errorf("handshake with %s refused: %s", g.addr(), streamErrorText(se))
		}
		return false, fmt.Errorf("handshake with %s: %w", g.addr(), err)
	}
	sess := &session{s: s, conn: conn, out: make(chan queued, g.cfg.SendQueue), quit: make(chan struct{}), done: make(chan struct{})}
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		_ = s.Close()
		conn.Close()
		return false, errors.New("stopped")
	}
	g.sess = sess
	g.mu.Unlock()
	g.c.connects.Add(1)
	g.setState(StateUp, nil, time.Time{})
	g.log.Info("xmpp link up", "server", g.addr(), "component", g.cfg.XMPPDomain)
	go g.write(sess)
	for _, h := range g.handlers {
		if h.Up != nil {
			h.Up()
		}
	}

	err = s.Serve(mxmpp.HandlerFunc(func(t xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		defer lc.reset()
		return g.receive(t, start)
	}))
	var syn *xml.SyntaxError
	switch {
	case err == nil:
		err = errors.New("stream closed by the server")
	case errors.As(err, &syn) && strings.Contains(syn.Msg, "unexpected EOF"), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("connection closed by the server without closing the stream: %w", err)
	case errors.Is(err, errTooLarge):
		err = fmt.Errorf("%w: stream closed with policy-violation", errTooLarge)
	default:
		var se stream.Error
		if errors.As(err, &se) {
			err = fmt.Errorf("stream error from the server: %s", streamErrorText(se))
		}
	}

	g.mu.Lock()
	g.sess = nil
	g.mu.Unlock()
	close(sess.quit)
	<-sess.done
	conn.Close()
	for _, h := range g.handlers {
		if h.Down != nil {
			h.Down(err)
		}
	}
	return true, err
}

func streamErrorText(se stream.Error) string {
	if se.Text != nil {
		for _, t := range se.Text {
			if t.Value != "" {
				return se.Err + " (" + t.Value + ")"
			}
		}
	}
	return se.Err
}

// write is a session's writer goroutine: it writes the queued stanzas
// and the keepalives; it ends when quit is closed (dropping what is left)
// or when a write fails (closing the connection, which ends Serve).
func (g *Gateway) write(sess *session) {
	defer close(sess.done)
	var tick <-chan time.Time
	if g.cfg.KeepAlive > 0 {
		t := time.NewTicker(time.Duration(g.cfg.KeepAlive) * time.Second)
		defer t.Stop()
		tick = t.C
	}
	last := time.Now()
	fail := func(err error) {
		g.log.Warn("xmpp write failed", "err", err)
		g.c.setError(err)
		sess.conn.Close()
		<-sess.quit
		g.drain(sess)
	}
	for {
		select {
		case q := <-sess.out:
			st := q.st
			// The deadline is set on the connection, not through a context:
			// mellium's Encode watches a context with a goroutine that may,
			// once the context is cancelled, set a past write deadline
			// while the next write is under way (a spurious i/o timeout).
			_ = sess.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			err := sess.s.Encode(context.Background(), marshalable(st))
			if err != nil {
				g.c.dropped(dropWriteError)
				fail(fmt.Errorf("write %s: %w", st.kind(), err))
				return
			}
			g.c.sent(st.kind())
			last = time.Now()
			if g.writeTime != nil {
				g.writeTime.Observe(last.Sub(q.at).Seconds())
			}
		case now := <-tick:
			if now.Sub(last) < time.Duration(g.cfg.KeepAlive)*time.Second {
				continue
			}
			_ = sess.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			w := sess.s.TokenWriter()
			err := w.EncodeToken(xml.CharData(" "))
			if err == nil {
				err = w.Flush()
			}
			_ = w.Close()
			if err != nil {
				fail(fmt.Errorf("keepalive: %w", err))
				return
			}
			last = now
		case <-sess.quit:
			g.drain(sess)
			return
		}
	}
}

// drain drops what is left in a finished session's queue.
func (g *Gateway) drain(sess *session) {
	for {
		select {
		case <-sess.out:
			g.c.dropped(dropDown)
		default:
			return
		}
	}
}

// Send queues a stanza for the XMPP server. It never blocks: while the
// link is down, or when the queue is full, the stanza is dropped and
// counted and ErrDown or ErrQueueFull returned. The sender must be a JID
// of the component's domain.
func (g *Gateway) Send(st Stanza) error {
	from, _ := st.addrs()
	if !g.mapper.IsGatewayJID(from) {
		g.c.dropped(dropForeign)
		return fmt.Errorf("%w: %q", ErrForeignFrom, from)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sess == nil {
		g.c.dropped(dropDown)
		return ErrDown
	}
	select {
	case g.sess.out <- queued{st, time.Now()}:
		return nil
	default:
		g.c.dropped(dropQueueFull)
		return ErrQueueFull
	}
}

// Up reports whether the link is established.
func (g *Gateway) Up() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sess != nil
}

// receive reads one top-level element of the stream. Stanzas that do not
// make sense are logged, counted and, when they can be, answered with an
// error; only a broken stream (bad XML, an oversized stanza) ends it.
func (g *Gateway) receive(t xml.TokenReader, start *xml.StartElement) error {
	switch start.Name.Local {
	case "presence", "message":
	case "iq":
		// Not read here: the session answers get and set with
		// service-unavailable.
		g.c.received("iq")
		return nil
	default:
		g.c.received("other")
		g.log.Debug("xmpp element ignored", "element", start.Name.Local)
		return nil
	}
	st, err := Decode(xmlstream.MultiReader(xmlstream.Token(*start), t))
	if st == nil {
		return readError(err)
	}
	g.c.received(st.kind())
	from, to := st.addrs()
	if err == nil {
		err = g.checkAddrs(from, to)
	}
	switch s := st.(type) {
	case Presence:
		if err != nil {
			g.malformed("presence", from, to, err)
			if s.Type != TypeError && g.bounceable(from, to) {
				_ = g.Send(Presence{From: bareOf(to), To: from, ID: s.ID, Type: TypeError, Error: &StanzaError{Condition: conditionFor(err), Text: err.Error()}})
			}
			return nil
		}
		for _, h := range g.handlers {
			if h.Presence != nil {
				h.Presence(s)
			}
		}
	case Message:
		if err != nil {
			g.malformed("message", from, to, err)
			if s.Type != "error" && g.bounceable(from, to) {
				_ = g.Send(Message{From: to, To: from, ID: s.ID, Type: "error", Error: &StanzaError{Condition: conditionFor(err), Text: err.Error()}})
			}
			return nil
		}
		g.onMessage(s)
	}
	return nil
}

// readError turns a failure to read a stanza into the error ending the
// stream.
func readError(err error) error {
	if errors.Is(err, errTooLarge) {
		return fmt.Errorf("%w: %w", stream.PolicyViolation, errTooLarge)
	}
	return fmt.Errorf("read stanza: %w", err)
}

// checkAddrs checks a received stanza's addresses: a valid sender, and a
// recipient at the component's domain (the XMPP server routes nothing
// else here).
func (g *Gateway) checkAddrs(from, to string) error {
	if from == "" {
		return errors.New("no from address")
	}
	if _, err := jid.Parse(from); err != nil {
		return fmt.Errorf("%w: from %q: %v", ErrMalformed, from, err)
	}
	if _, err := jid.Parse(to); err != nil {
		return fmt.Errorf("%w: to %q: %v", ErrMalformed, to, err)
	}
	if !g.mapper.IsGatewayJID(to) {
		return fmt.Errorf("%w: to %q is not at %s", ErrNotMapped, to, g.mapper.Domain())
	}
	return nil
}

// bounceable reports whether an error can be sent back: a valid sender
// and a recipient of ours to send it from.
func (g *Gateway) bounceable(from, to string) bool {
	if _, err := jid.Parse(from); err != nil {
		return false
	}
	return g.mapper.IsGatewayJID(to)
}

func (g *Gateway) malformed(kind, from, to string, err error) {
	g.c.malformed.Add(1)
	g.c.setError(fmt.Errorf("malformed %s from %q: %w", kind, from, err))
	g.log.Warn("xmpp stanza refused", "kind", kind, "from", from, "to", to, "err", err)
}

// conditionFor is the stanza error condition of a refusal.
func conditionFor(err error) string {
	switch {
	case errors.Is(err, ErrNotMapped):
		return "item-not-found"
	case errors.Is(err, ErrMalformed):
		return "jid-malformed"
	}
	return "bad-request"
}

// bareOf strips the resource of a JID string.
func bareOf(j string) string {
	if i := strings.IndexByte(j, '/'); i >= 0 {
		return j[:i]
	}
	return j
}

// limitConn caps what is read for one stanza: reset is called after each
// one; reading more than max before the next reset fails.
type limitConn struct {
	net.Conn
	max  int64
	mu   sync.Mutex
	left int64
}

func (c *limitConn) reset() {
	c.mu.Lock()
	c.left = c.max
	c.mu.Unlock()
}

func (c *limitConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	left := c.left
	c.mu.Unlock()
	if left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(b)) > left {
		b = b[:left]
	}
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.left -= int64(n)
	c.mu.Unlock()
	if err != nil && !errors.Is(err, io.EOF) {
		return n, err
	}
	return n, err
}
