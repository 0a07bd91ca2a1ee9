package siptest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/sipnet"
)

// Phone is a test user agent that makes and takes calls: it answers
// INVITEs as its Behavior says (ring, answer, refuse, ring until
// CANCELled), keeps the dialogs of its calls, and sends ACK, BYE,
// re-INVITE and other requests within them. It records every request it
// receives.
type Phone struct {
	t     testing.TB
	Stack *sipnet.Stack
	Name  string

	mu       sync.Mutex
	behavior Behavior
	received []*sip.Request
	calls    []*Call // answered incoming calls
	changed  chan struct{}
}

// Behavior is how a Phone answers an INVITE outside a dialog.
type Behavior struct {
	Ring bool // send 180 Ringing first
	// Code is the final answer (200, 486, ...); 0 rings until the INVITE
	// is CANCELled (then 487).
	Code int
	// Delay is how long the phone waits before the final answer.
	Delay time.Duration
	// NoAnswer leaves the INVITE without any response at all.
	NoAnswer bool
}

// NewPhone starts a phone on 127.0.0.1 (UDP, and TCP when asked); it is
// stopped at the end of the test. It answers 200 at once until told
// otherwise (Answer).
func NewPhone(t testing.TB, name string, transports ...string) *Phone {
	t.Helper()
	if len(transports) == 0 {
		transports = []string{"udp"}
	}
	cfg := sipnet.Default()
	cfg.Listen = nil
	for _, tr := range transports {
		cfg.Listen = append(cfg.Listen, tr+":127.0.0.1:0")
	}
	cfg.Workers = 2
	cfg.UDPReceiveBuffer = 1 << 20
	cfg.T1 = 100
	st, err := sipnet.New(cfg, nil)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	p := &Phone{t: t, Stack: st, Name: name, behavior: Behavior{Code: 200}, changed: make(chan struct{})}
	st.Handle(sip.INVITE, p.onInvite)
	st.Handle(sip.ACK, p.onAck)
	for _, m := range []sip.RequestMethod{sip.BYE, sip.UPDATE, sip.PRACK, sip.INFO, sip.REFER, sip.MESSAGE, sip.OPTIONS, sip.NOTIFY} {
		st.Handle(m, p.onRequest)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatalf("siptest: start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_ = st.Stop(ctx)
	})
	return p
}

// Answer sets how the phone answers the next INVITEs.
func (p *Phone) Answer(b Behavior) {
	p.mu.Lock()
	p.behavior = b
	p.mu.Unlock()
}

// Addr is the phone's address on transport.
func (p *Phone) Addr(transport string) netip.AddrPort {
	a, ok := p.Stack.Addr(transport)
	if !ok {
		p.t.Fatalf("siptest: no %s listener", transport)
	}
	return a
}

// Contact is the phone's contact URI on transport.
func (p *Phone) Contact(transport string) sip.Uri { return p.Stack.ContactURI(transport, p.Name) }

// Register registers aor at the registrar with the phone's contact on
// transport (udp when empty) and returns the response.
func (p *Phone) Register(ctx context.Context, registrar netip.AddrPort, aor, transport string, extra ...string) (*sip.Response, error) {
	if transport == "" {
		transport = "udp"
	}
	u, err := parseURI(aor)
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: u.Host})
	appendDialogHeaders(req, u, tag(), u, "", tag()+"@siptest", 1, sip.REGISTER)
	c := p.Contact(transport)
	req.AppendHeader(&sip.ContactHeader{Address: c})
	req.AppendHeader(sip.NewHeader("Expires", "600"))
	for _, h := range extra {
		name, value := splitHeader(h)
		req.AppendHeader(sip.NewHeader(name, value))
	}
	return p.Stack.Do(ctx, req, sipnet.SendOptions{Destination: registrar, Transport: transport})
}

func (p *Phone) record(req *sip.Request) {
	p.mu.Lock()
	p.received = append(p.received, req)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Received returns the requests of method received so far ("" for all).
func (p *Phone) Received(method sip.RequestMethod) []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*sip.Request
	for _, r := range p.received {
		if method == "" || r.Method == method {
			out = append(out, r)
		}
	}
	return out
}

// WaitRequest waits until n requests of method have arrived and returns
// the n-th.
func (p *Phone) WaitRequest(timeout time.Duration, method sip.RequestMethod, n int) *sip.Request {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		var got []*sip.Request
		for _, r := range p.received {
			if r.Method == method {
				got = append(got, r)
			}
		}
		ch := p.changed
		p.mu.Unlock()
		if len(got) >= n {
			return got[n-1]
		}
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("siptest: %s got %d %s within %v, want %d", p.Name, len(got), method, timeout, n)
			return nil
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

// WaitCall waits for the n-th incoming call the phone answered with a 2xx
// and returns its dialog.
func (p *Phone) WaitCall(timeout time.Duration, n int) *Call {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		calls := len(p.calls)
		var c *Call
		if calls >= n {
			c = p.calls[n-1]
		}
		ch := p.changed
		p.mu.Unlock()
		if c != nil {
			return c
		}
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("siptest: %s answered %d calls within %v, want %d", p.Name, calls, timeout, n)
			return nil
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

func (p *Phone) onInvite(tx *sipnet.ServerTx) {
	req := tx.Request()
	p.record(req)
	if req.To().Params.Has("tag") {
		// A re-INVITE: accept it.
		res := tx.NewResponse(200, "OK")
		res.AppendHeader(&sip.ContactHeader{Address: p.Contact(tx.Transport())})
		_ = tx.Respond(res)
		return
	}
	p.mu.Lock()
	b := p.behavior
	p.mu.Unlock()
	if b.NoAnswer {
		return
	}
	contact := &sip.ContactHeader{Address: p.Contact(tx.Transport())}
	if b.Ring {
		res := tx.NewResponse(180, "Ringing")
		res.AppendHeader(contact)
		_ = tx.Respond(res)
	}
	final := func() {
		res := tx.NewResponse(b.Code, "")
		if b.Code < 300 {
			res.AppendHeader(contact)
			p.mu.Lock()
			p.calls = append(p.calls, uasCall(p, req, res, tx.Source(), tx.Transport()))
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
		_ = tx.Respond(res)
	}
	if b.Code == 0 {
		go func() { // ends with the INVITE: CANCEL, or the stack stopping
			<-tx.Canceled()
			_ = tx.Reply(487, "Request Terminated")
		}()
		return
	}
	if b.Delay > 0 {
		time.AfterFunc(b.Delay, final)
		return
	}
	final()
}

func (p *Phone) onAck(tx *sipnet.ServerTx) { p.record(tx.Request()) }

func (p *Phone) onRequest(tx *sipnet.ServerTx) {
	p.record(tx.Request())
	_ = tx.Reply(200, "OK")
}

// Call is one side of an INVITE dialog.
type Call struct {
	ua        *sipnet.Stack
	phone     *Phone
	CallID    string
	LocalTag  string
	RemoteTag string
	Local     sip.Uri
	Remote    sip.Uri
	Target    sip.Uri  // the remote target
	RouteSet  []string // Route values, first hop first
	CSeq      uint32   // the last local CSeq
	Transport string
	Dest      netip.AddrPort // where requests go when the route set is empty
}

func uasCall(p *Phone, req *sip.Request, res *sip.Response, src netip.AddrPort, tr string) *Call {
	c := &Call{ua: p.Stack, phone: p, CallID: string(*req.CallID()), Local: req.To().Address, Remote: req.From().Address,
		CSeq: 1000, Transport: tr, Dest: src}
	c.LocalTag, _ = res.To().Params.Get("tag")
	c.RemoteTag, _ = req.From().Params.Get("tag")
	if ct := req.Contact(); ct != nil {
		c.Target = ct.Address
	}
	for _, h := range req.GetHeaders("Record-Route") {
		c.RouteSet = append(c.RouteSet, h.Value())
	}
	return c
}

// Outgoing is a call the phone is making.
type Outgoing struct {
	phone  *Phone
	ct     *sipnet.ClientTx
	req    *sip.Request
	dest   netip.AddrPort
	tr     string
	mu     sync.Mutex
	resps  []*sip.Response
	change chan struct{}
	ended  bool
	err    error
}

// Invite calls uri through the proxy at dest (udp when transport is
// empty), with extra headers ("Name: value"; a Max-Forwards replaces the
// usual one).
func (p *Phone) Invite(dest netip.AddrPort, uri, transport string, extra ...string) (*Outgoing, error) {
	if transport == "" {
		transport = "udp"
	}
	ru, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	from := sip.Uri{Scheme: "sip", User: p.Name, Host: "127.0.0.1"}
	req := sip.NewRequest(sip.INVITE, ru)
	appendDialogHeaders(req, from, tag(), ru, "", tag()+"@siptest-call", 1, sip.INVITE)
	req.AppendHeader(&sip.ContactHeader{Address: p.Contact(transport)})
	for _, h := range extra {
		name, value := splitHeader(h)
		if strings.EqualFold(name, "Max-Forwards") {
			req.RemoveHeader("Max-Forwards") // replaced, not repeated
		}
		req.AppendHeader(sip.NewHeader(name, value))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"))
	o := &Outgoing{phone: p, req: req, dest: dest, tr: transport, change: make(chan struct{})}
	ct, err := p.Stack.SendInvite(req, sipnet.SendOptions{Destination: dest, Transport: transport}, o.onResponse, o.onDone)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.ct = ct
	o.mu.Unlock()
	return o, nil
}

// CallID is the call's Call-ID.
func (o *Outgoing) CallID() string { return string(*o.req.CallID()) }

func (o *Outgoing) onResponse(res *sip.Response) {
	o.mu.Lock()
	o.resps = append(o.resps, res)
	close(o.change)
	o.change = make(chan struct{})
	o.mu.Unlock()
}

func (o *Outgoing) onDone(err error) {
	o.mu.Lock()
	o.ended, o.err = true, err
	close(o.change)
	o.change = make(chan struct{})
	o.mu.Unlock()
}

// Responses returns the responses received so far.
func (o *Outgoing) Responses() []*sip.Response {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.resps)
}

// Wait waits for a response satisfying match and returns it.
func (o *Outgoing) Wait(timeout time.Duration, match func(*sip.Response) bool) (*sip.Response, error) {
	deadline := time.Now().Add(timeout)
	for {
		o.mu.Lock()
		for _, r := range o.resps {
			if match(r) {
				o.mu.Unlock()
				return r, nil
			}
		}
		ch, ended, err := o.change, o.ended, o.err
		o.mu.Unlock()
		if ended {
			if err == nil {
				err = errors.New("transaction ended")
			}
			return nil, fmt.Errorf("no matching response: %w", err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("no matching response within %v", timeout)
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

// Ringing waits for a 180-199.
func (o *Outgoing) Ringing(timeout time.Duration) (*sip.Response, error) {
	return o.Wait(timeout, func(r *sip.Response) bool { return r.StatusCode >= 180 && r.StatusCode < 200 })
}

// Cancel CANCELs the INVITE.
func (o *Outgoing) Cancel() {
	o.mu.Lock()
	ct := o.ct
	o.mu.Unlock()
	ct.Cancel()
}

// Final waits for the final response; for a 2xx it sends the ACK and
// returns the dialog.
func (o *Outgoing) Final(timeout time.Duration) (*sip.Response, *Call, error) {
	res, err := o.Wait(timeout, func(r *sip.Response) bool { return r.StatusCode >= 200 })
	if err != nil || res.StatusCode >= 300 {
		return res, nil, err
	}
	c := o.dialogOf(res)
	return res, c, c.ack(1, nil)
}

func (o *Outgoing) dialogOf(res *sip.Response) *Call {
	c := &Call{ua: o.phone.Stack, phone: o.phone, CallID: o.CallID(), Local: o.req.From().Address, Remote: o.req.To().Address,
		CSeq: 1, Transport: o.tr, Dest: o.dest}
	c.LocalTag, _ = o.req.From().Params.Get("tag")
	c.RemoteTag, _ = res.To().Params.Get("tag")
	if ct := res.Contact(); ct != nil {
		c.Target = ct.Address
	}
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		c.RouteSet = append(c.RouteSet, rrs[i].Value())
	}
	return c
}

// newRequest builds a request within the dialog (RFC 3261 12.2.1.1).
func (c *Call) newRequest(method sip.RequestMethod, cseq uint32) *sip.Request {
	req := sip.NewRequest(method, c.Target)
	for _, r := range c.RouteSet {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	appendDialogHeaders(req, c.Local, c.LocalTag, c.Remote, c.RemoteTag, c.CallID, cseq, method)
	return req
}

// opts sends to the first Route when there is one, else to Dest.
func (c *Call) opts() sipnet.SendOptions {
	o := sipnet.SendOptions{Transport: c.Transport}
	if len(c.RouteSet) == 0 {
		o.Destination = c.Dest
	}
	return o
}

func (c *Call) ack(cseq uint32, extra []string) error {
	req := c.newRequest(sip.ACK, cseq)
	for _, h := range extra {
		name, value := splitHeader(h)
		req.AppendHeader(sip.NewHeader(name, value))
	}
	return c.ua.SendStateless(req, c.opts())
}

// Request sends a request within the dialog (BYE, INFO, UPDATE, ...) and
// waits for its final response.
func (c *Call) Request(ctx context.Context, method sip.RequestMethod, extra ...string) (*sip.Response, error) {
	c.CSeq++
	req := c.newRequest(method, c.CSeq)
	for _, h := range extra {
		name, value := splitHeader(h)
		req.AppendHeader(sip.NewHeader(name, value))
	}
	if c.phone != nil && (method == sip.UPDATE || method == sip.REFER) {
		req.AppendHeader(&sip.ContactHeader{Address: c.phone.Contact(c.transport())})
	}
	return c.ua.Do(ctx, req, c.opts())
}

// Bye hangs up.
func (c *Call) Bye(ctx context.Context) (*sip.Response, error) { return c.Request(ctx, sip.BYE) }

// Reinvite sends a re-INVITE, waits for its final response and ACKs a
// 2xx.
func (c *Call) Reinvite(timeout time.Duration) (*sip.Response, error) {
	c.CSeq++
	cseq := c.CSeq
	req := c.newRequest(sip.INVITE, cseq)
	req.AppendHeader(&sip.ContactHeader{Address: c.phone.Contact(c.transport())})
	o := &Outgoing{phone: c.phone, req: req, change: make(chan struct{})}
	ct, err := c.ua.SendInvite(req, c.opts(), o.onResponse, o.onDone)
	if err != nil {
		return nil, err
	}
	o.ct = ct
	res, err := o.Wait(timeout, func(r *sip.Response) bool { return r.StatusCode >= 200 })
	if err != nil {
		return nil, err
	}
	if res.StatusCode < 300 {
		return res, c.ack(cseq, nil)
	}
	return res, nil
}

func (c *Call) transport() string {
	if c.Transport == "" {
		return "udp"
	}
	return c.Transport
}

func appendDialogHeaders(req *sip.Request, from sip.Uri, fromTag string, to sip.Uri, toTag, callID string, cseq uint32, method sip.RequestMethod) {
	fh := &sip.FromHeader{Address: from, Params: sip.NewParams()}
	fh.Params.Add("tag", fromTag)
	th := &sip.ToHeader{Address: to, Params: sip.NewParams()}
	if toTag != "" {
		th.Params.Add("tag", toTag)
	}
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(fh)
	req.AppendHeader(th)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
}

func parseURI(s string) (sip.Uri, error) {
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return u, fmt.Errorf("uri %q: %w", s, err)
	}
	return u, nil
}

func splitHeader(h string) (string, string) {
	name, value, _ := strings.Cut(h, ":")
	return strings.TrimSpace(name), strings.TrimSpace(value)
}

// Tag returns the tag of a From or To header value.
func Tag(params sip.HeaderParams) string {
	t, _ := params.Get("tag")
	return t
}
