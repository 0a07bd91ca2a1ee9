// Package siptest is an in-Go SIP user agent for integration tests: it
// publishes, subscribes (keeping the client dialog: tags, route set,
// remote target, CSeq) and records the NOTIFYs it receives, over real
// sockets on 127.0.0.1. It is built on sipnet, whose transactions are
// tested on their own.
package siptest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/sipnet"
)

// UA is a test user agent listening on 127.0.0.1.
type UA struct {
	t     testing.TB
	Stack *sipnet.Stack
	Name  string // user part of its Contact

	mu       sync.Mutex
	notifies []*sip.Request
	others   []*sip.Request
	inbound  []*Inbound
	changed  chan struct{}
	answer   func(req *sip.Request) int
}

// Options configure a UA.
type Options struct {
	Transports []string // default udp only; "tcp" adds a TCP listener
	Name       string   // default "ua"
	T1         int      // ms; default 100 for fast retransmissions in tests
}

// New starts a UA; it is stopped at the end of the test.
func New(t testing.TB, o Options) *UA {
	t.Helper()
	if len(o.Transports) == 0 {
		o.Transports = []string{"udp"}
	}
	if o.Name == "" {
		o.Name = "ua"
	}
	cfg := sipnet.Default()
	cfg.Listen = nil
	for _, tr := range o.Transports {
		cfg.Listen = append(cfg.Listen, tr+":127.0.0.1:0")
	}
	cfg.Workers = 2
	cfg.UDPReceiveBuffer = 1 << 20
	cfg.T1 = 100
	if o.T1 > 0 {
		cfg.T1 = o.T1
	}
	st, err := sipnet.New(cfg, nil)
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	u := &UA{t: t, Stack: st, Name: o.Name, changed: make(chan struct{})}
	st.Handle(sip.NOTIFY, u.onRequest)
	for _, m := range []sip.RequestMethod{sip.MESSAGE, sip.INVITE, sip.BYE, sip.OPTIONS, sip.SUBSCRIBE, sip.PUBLISH} {
		st.Handle(m, u.onRequest)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatalf("siptest: start: %v", err)
	}
	t.Cleanup(func() {
		// Short grace: a test may have left a request unanswered on purpose.
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_ = st.Stop(ctx)
	})
	return u
}

// AnswerWith sets the status code the UA answers requests with (default
// 200), chosen per request.
func (u *UA) AnswerWith(f func(req *sip.Request) int) {
	u.mu.Lock()
	u.answer = f
	u.mu.Unlock()
}

func (u *UA) onRequest(tx *sipnet.ServerTx) {
	req := tx.Request()
	u.mu.Lock()
	code := 200
	if u.answer != nil {
		code = u.answer(req)
	}
	var in *Inbound
	switch req.Method {
	case sip.NOTIFY:
		if code > 0 && code < 300 {
			u.notifies = append(u.notifies, req)
		}
	case sip.SUBSCRIBE:
		u.others = append(u.others, req)
		if code == 200 {
			in = u.inboundFor(req, tx)
		}
	default:
		u.others = append(u.others, req)
	}
	close(u.changed)
	u.changed = make(chan struct{})
	u.mu.Unlock()
	if in != nil {
		res := tx.NewResponse(200, "OK")
		if to := res.To(); to != nil {
			to.Params.Remove("tag")
			to.Params.Add("tag", in.LocalTag)
		}
		exp := Header(req, "Expires")
		if exp == "" {
			exp = "3600"
		}
		res.AppendHeader(sip.NewHeader("Expires", exp))
		res.AppendHeader(&sip.ContactHeader{Address: u.Contact(tx.Transport())})
		_ = tx.Respond(res)
		return
	}
	if code > 0 {
		_ = tx.Reply(code, reasonFor(code))
	}
}

// Inbound is a subscription a peer opened to the UA: the UA is its
// notifier (a phone pua_bla subscribes to).
type Inbound struct {
	Subscribe *sip.Request // the initial SUBSCRIBE
	Last      *sip.Request // the latest SUBSCRIBE of the dialog (read it with LastExpires)
	LocalTag  string       // our tag
	expires   []string     // the Expires of each SUBSCRIBE, in order
	CSeq      uint32       // of our last NOTIFY
	Source    netip.AddrPort
	Transport string
}

// inboundFor records a SUBSCRIBE in its inbound dialog (new or existing);
// u.mu is held.
func (u *UA) inboundFor(req *sip.Request, tx *sipnet.ServerTx) *Inbound {
	toTag, _ := req.To().Params.Get("tag")
	cid := string(*req.CallID())
	for _, in := range u.inbound {
		if string(*in.Subscribe.CallID()) == cid && (toTag == "" || toTag == in.LocalTag) {
			in.Last = req
			in.expires = append(in.expires, Header(req, "Expires"))
			return in
		}
	}
	in := &Inbound{Subscribe: req, Last: req, LocalTag: tag(), Source: tx.Source(), Transport: tx.Transport(), expires: []string{Header(req, "Expires")}}
	u.inbound = append(u.inbound, in)
	return in
}

// Expires returns the Expires header of every SUBSCRIBE of the inbound
// dialog so far, in order.
func (u *UA) Expires(in *Inbound) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), in.expires...)
}

// WaitInbound waits for the n-th (from 0) subscription opened to the UA.
func (u *UA) WaitInbound(timeout time.Duration, n int) *Inbound {
	u.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		u.mu.Lock()
		if len(u.inbound) > n {
			in := u.inbound[n]
			u.mu.Unlock()
			return in
		}
		ch := u.changed
		u.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			u.t.Fatalf("siptest: no subscription %d within %v", n, timeout)
			return nil
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

// Notify sends a NOTIFY in an inbound subscription dialog.
func (u *UA) Notify(ctx context.Context, in *Inbound, subState, contentType string, body []byte) (*sip.Response, error) {
	sub := in.Subscribe
	req := sip.NewRequest(sip.NOTIFY, sub.Contact().Address)
	from := &sip.FromHeader{Address: sub.To().Address, Params: sip.NewParams()}
	from.Params.Add("tag", in.LocalTag)
	to := &sip.ToHeader{Address: sub.From().Address, Params: sip.NewParams()}
	ftag, _ := sub.From().Params.Get("tag")
	to.Params.Add("tag", ftag)
	cid := *sub.CallID()
	u.mu.Lock()
	in.CSeq++
	cseq := in.CSeq
	u.mu.Unlock()
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.NOTIFY})
	req.AppendHeader(&sip.ContactHeader{Address: u.Contact(in.Transport)})
	req.AppendHeader(sip.NewHeader("Event", Header(sub, "Event")))
	req.AppendHeader(sip.NewHeader("Subscription-State", subState))
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
		req.SetBody(body)
	}
	return u.Stack.Do(ctx, req, sipnet.SendOptions{Destination: in.Source, Transport: in.Transport})
}

// Addr is the UA's address on transport.
func (u *UA) Addr(transport string) netip.AddrPort {
	a, ok := u.Stack.Addr(transport)
	if !ok {
		u.t.Fatalf("siptest: no %s listener", transport)
	}
	return a
}

// Contact is the UA's contact URI on transport.
func (u *UA) Contact(transport string) sip.Uri {
	return u.Stack.ContactURI(transport, u.Name)
}

// Notifies returns the NOTIFYs received so far (answered 2xx).
func (u *UA) Notifies() []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*sip.Request(nil), u.notifies...)
}

// Requests returns the requests other than NOTIFY received so far.
func (u *UA) Requests() []*sip.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*sip.Request(nil), u.others...)
}

// WaitNotify waits until a NOTIFY satisfying match has arrived (among all
// received, in order, skipping the first `after`) and returns it with its
// index. It fails the test after timeout.
func (u *UA) WaitNotify(timeout time.Duration, after int, match func(*sip.Request) bool) (*sip.Request, int) {
	u.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		u.mu.Lock()
		for i := after; i < len(u.notifies); i++ {
			if match == nil || match(u.notifies[i]) {
				n := u.notifies[i]
				u.mu.Unlock()
				return n, i
			}
		}
		ch := u.changed
		u.mu.Unlock()
		left := time.Until(deadline)
		if left <= 0 {
			all := u.Notifies()
			for j, n := range all[after:] {
				body := string(n.Body())
				if len(body) > 600 {
					body = body[:600] + "..."
				}
				u.t.Logf("siptest: NOTIFY %d: Subscription-State %q: %s", after+j, Header(n, "Subscription-State"), body)
			}
			u.t.Fatalf("siptest: no matching NOTIFY within %v (%d received, from %d shown above)", timeout, len(all), after)
			return nil, -1
		}
		select {
		case <-ch:
		case <-time.After(left):
		}
	}
}

// Request is what Send builds.
type Request struct {
	Method   sip.RequestMethod
	URI      string // Request-URI
	From, To string // URIs; From defaults to sip:<name>@127.0.0.1
	Headers  map[string]string
	// Extra are more headers, "Name: value", in order (several of a name
	// allowed).
	Extra []string
	// Contacts, when not nil, replace the UA's own Contact (an empty,
	// non-nil slice sends none).
	Contacts []string
	// CallID and CSeq, when set, replace the generated ones.
	CallID      string
	CSeq        uint32
	ContentType string
	Body        []byte
	Transport   string // default udp
}

// Send sends an out-of-dialog request to target and waits for the final
// response.
func (u *UA) Send(ctx context.Context, target netip.AddrPort, r Request) (*sip.Response, *sip.Request, error) {
	req, err := u.build(r)
	if err != nil {
		return nil, nil, err
	}
	res, err := u.Stack.Do(ctx, req, sipnet.SendOptions{Destination: target, Transport: r.Transport})
	return res, req, err
}

func (u *UA) build(r Request) (*sip.Request, error) {
	var ruri sip.Uri
	if err := sip.ParseUri(r.URI, &ruri); err != nil {
		return nil, fmt.Errorf("request uri %q: %w", r.URI, err)
	}
	from := r.From
	if from == "" {
		from = "sip:" + u.Name + "@127.0.0.1"
	}
	to := r.To
	if to == "" {
		to = r.URI
	}
	var fu, tu sip.Uri
	if err := sip.ParseUri(from, &fu); err != nil {
		return nil, err
	}
	if err := sip.ParseUri(to, &tu); err != nil {
		return nil, err
	}
	req := sip.NewRequest(r.Method, ruri)
	fh := &sip.FromHeader{Address: fu, Params: sip.NewParams()}
	fh.Params.Add("tag", tag())
	req.AppendHeader(fh)
	req.AppendHeader(&sip.ToHeader{Address: tu, Params: sip.NewParams()})
	callID := r.CallID
	if callID == "" {
		callID = tag() + "@siptest"
	}
	cid := sip.CallIDHeader(callID)
	req.AppendHeader(&cid)
	cseq := r.CSeq
	if cseq == 0 {
		cseq = 1
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: r.Method})
	tr := r.Transport
	if tr == "" {
		tr = "udp"
	}
	if r.Contacts == nil {
		req.AppendHeader(&sip.ContactHeader{Address: u.Contact(tr)})
	}
	for _, c := range r.Contacts {
		req.AppendHeader(sip.NewHeader("Contact", c))
	}
	for k, v := range r.Headers {
		req.AppendHeader(sip.NewHeader(k, v))
	}
	for _, h := range r.Extra {
		name, value, _ := strings.Cut(h, ":")
		req.AppendHeader(sip.NewHeader(strings.TrimSpace(name), strings.TrimSpace(value)))
	}
	if r.Body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", r.ContentType))
		req.SetBody(r.Body)
	}
	return req, nil
}

// Dialog is the subscriber side of a subscription dialog.
type Dialog struct {
	ua        *UA
	CallID    string
	LocalTag  string
	RemoteTag string
	Local     sip.Uri // From
	Remote    sip.Uri // To
	Target    sip.Uri // remote target (Contact of the 200)
	RouteSet  []string
	CSeq      uint32
	Event     string
	Transport string
	Dest      netip.AddrPort
}

// Subscribe sends an initial SUBSCRIBE and, on 2xx, returns its dialog.
func (u *UA) Subscribe(ctx context.Context, target netip.AddrPort, r Request) (*sip.Response, *Dialog, error) {
	r.Method = sip.SUBSCRIBE
	req, err := u.build(r)
	if err != nil {
		return nil, nil, err
	}
	res, err := u.Stack.Do(ctx, req, sipnet.SendOptions{Destination: target, Transport: r.Transport})
	if err != nil || res.StatusCode >= 300 {
		return res, nil, err
	}
	d := &Dialog{
		ua: u, CallID: string(*req.CallID()), Local: req.From().Address, Remote: req.To().Address,
		CSeq: 1, Event: r.Headers["Event"], Transport: r.Transport, Dest: target,
	}
	d.LocalTag, _ = req.From().Params.Get("tag")
	d.RemoteTag, _ = res.To().Params.Get("tag")
	if c := res.Contact(); c != nil {
		d.Target = c.Address
	}
	rrs := res.GetHeaders("Record-Route")
	for i := len(rrs) - 1; i >= 0; i-- {
		d.RouteSet = append(d.RouteSet, rrs[i].Value())
	}
	return res, d, nil
}

// Request sends an in-dialog request (SUBSCRIBE refresh or unsubscribe)
// with the given headers.
func (d *Dialog) Request(ctx context.Context, method sip.RequestMethod, headers map[string]string) (*sip.Response, error) {
	d.CSeq++
	req := sip.NewRequest(method, d.Target)
	for _, r := range d.RouteSet {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	fh := &sip.FromHeader{Address: d.Local, Params: sip.NewParams()}
	fh.Params.Add("tag", d.LocalTag)
	th := &sip.ToHeader{Address: d.Remote, Params: sip.NewParams()}
	th.Params.Add("tag", d.RemoteTag)
	cid := sip.CallIDHeader(d.CallID)
	req.AppendHeader(fh)
	req.AppendHeader(th)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.CSeq, MethodName: method})
	tr := d.Transport
	if tr == "" {
		tr = "udp"
	}
	req.AppendHeader(&sip.ContactHeader{Address: d.ua.Contact(tr)})
	for k, v := range headers {
		req.AppendHeader(sip.NewHeader(k, v))
	}
	return d.ua.Stack.Do(ctx, req, sipnet.SendOptions{Destination: d.Dest, Transport: d.Transport})
}

// Header returns the value of a header of m (case-insensitive), "" if absent.
func Header(m interface{ Headers() []sip.Header }, name string) string {
	for _, h := range m.Headers() {
		if strings.EqualFold(h.Name(), name) {
			return h.Value()
		}
	}
	return ""
}

// CSeq returns the CSeq number of m.
func CSeq(m interface{ CSeq() *sip.CSeqHeader }) uint32 {
	if c := m.CSeq(); c != nil {
		return c.SeqNo
	}
	return 0
}

// InDialog returns a matcher for NOTIFYs of dialog d.
func InDialog(d *Dialog) func(*sip.Request) bool {
	return func(r *sip.Request) bool {
		if r.CallID() == nil || string(*r.CallID()) != d.CallID {
			return false
		}
		to, _ := r.To().Params.Get("tag")
		from, _ := r.From().Params.Get("tag")
		return to == d.LocalTag && from == d.RemoteTag
	}
}

func tag() string {
	return strconv.FormatUint(rand.Uint64(), 36)
}

func reasonFor(code int) string {
	switch code {
	case 200:
		return "OK"
	case 408:
		return "Request Timeout"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 500:
		return "Server Internal Error"
	}
	return "Status " + strconv.Itoa(code)
}
