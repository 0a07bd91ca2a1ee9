package proxy

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/usrloc"
)

// fakeSIP is a SIP layer that is bound to fixed addresses and sends
// nothing: enough for the routing decisions.
type fakeSIP struct {
	udp, tcp netip.AddrPort
	adv      string
}

func (f *fakeSIP) Handle(sip.RequestMethod, sipnet.Handler) {}
func (f *fakeSIP) Send(*sip.Request, sipnet.SendOptions, func(*sip.Response, error)) error {
	return sipnet.ErrStopped
}
func (f *fakeSIP) SendInvite(*sip.Request, sipnet.SendOptions, func(*sip.Response), func(error)) (*sipnet.ClientTx, error) {
	return nil, sipnet.ErrStopped
}
func (f *fakeSIP) SendStateless(sip.Message, sipnet.SendOptions) error { return sipnet.ErrStopped }
func (f *fakeSIP) Addr(tr string) (netip.AddrPort, bool) {
	if tr == "tcp" {
		return f.tcp, f.tcp.IsValid()
	}
	return f.udp, f.udp.IsValid()
}
func (f *fakeSIP) AdvertisedHostPort(tr string) string {
	if f.adv != "" {
		return f.adv
	}
	a, _ := f.Addr(tr)
	return a.String()
}

// fakeLoc answers lookups from a map.
type fakeLoc map[string][]usrloc.Binding

func (f fakeLoc) Lookup(_ context.Context, aor string) ([]usrloc.Binding, error) { return f[aor], nil }
func (f fakeLoc) Known(_ context.Context, aor string) (bool, error)              { return len(f[aor]) > 0, nil }

func newTestProxy(t *testing.T, cfg Config, domains []string, loc fakeLoc) *Proxy {
	t.Helper()
	f := &fakeSIP{udp: netip.MustParseAddrPort("192.0.2.10:5060"), tcp: netip.MustParseAddrPort("192.0.2.10:5060"), adv: "proxy.example.com:5060"}
	p, err := New(cfg, Deps{SIP: f, Locations: loc, Domains: sipaddr.NewDomains(domains)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Stop(context.Background()) })
	return p
}

func parseReq(t *testing.T, lines ...string) *sip.Request {
	t.Helper()
	raw := strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
	m, err := sip.NewParser().ParseSIP([]byte(raw))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return m.(*sip.Request)
}

func request(t *testing.T, method, ruri string, extra ...string) *sip.Request {
	lines := []string{
		method + " " + ruri + " SIP/2.0",
		"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-1",
		"From: <sip:alice@example.com>;tag=a",
		"To: <sip:bob@example.com>",
		"Call-ID: c1",
		"CSeq: 1 " + method,
	}
	return parseReq(t, append(lines, extra...)...)
}

func TestIsUs(t *testing.T) {
	p := newTestProxy(t, Default(), []string{"example.com"}, nil)
	sf := p.self.Load()
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"sip:192.0.2.10", true},
		{"sip:192.0.2.10:5060;lr", true},
		{"sip:192.0.2.10:5062", false},
		{"sip:proxy.example.com;lr", true},
		{"sip:PROXY.example.com.:5060", true},
		{"sip:example.com;lr", true}, // a served domain, no port
		{"sip:example.com:5080", false},
		{"sip:example.org", false},
		{"sip:[::ffff:192.0.2.10]:5060", true},
	} {
		var u sip.Uri
		if err := sip.ParseUri(tc.uri, &u); err != nil {
			t.Fatal(err)
		}
		if got := sf.isUs(&u); got != tc.want {
			t.Errorf("isUs(%s): got %v, want %v", tc.uri, got, tc.want)
		}
	}
}

func TestPreprocess(t *testing.T) {
	p := newTestProxy(t, Default(), nil, nil)
	sf := p.self.Load()
	for _, tc := range []struct {
		name   string
		req    *sip.Request
		ruri   string
		routes []string
		ours   bool
	}{
		{"no route", request(t, "INVITE", "sip:bob@example.com"), "sip:bob@example.com", nil, false},
		{"our route only", request(t, "BYE", "sip:bob@198.51.100.2", "Route: <sip:192.0.2.10;lr>"), "sip:bob@198.51.100.2", nil, true},
		{"double record-route of ours", request(t, "BYE", "sip:bob@198.51.100.2",
			"Route: <sip:proxy.example.com:5060;transport=tcp;lr>, <sip:proxy.example.com:5060;lr>", "Route: <sip:edge.example.net;lr>"),
			"sip:bob@198.51.100.2", []string{"<sip:edge.example.net;lr>"}, true},
		{"another hop first", request(t, "BYE", "sip:bob@198.51.100.2", "Route: <sip:edge.example.net;lr>", "Route: <sip:192.0.2.10;lr>"),
			"sip:bob@198.51.100.2", []string{"<sip:edge.example.net;lr>", "<sip:192.0.2.10;lr>"}, false},
		{"strict router before us", request(t, "BYE", "sip:192.0.2.10;lr", "Route: <sip:edge.example.net;lr>", "Route: <sip:bob@198.51.100.2>"),
			"sip:bob@198.51.100.2", []string{"<sip:edge.example.net;lr>"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, ok := p.preprocess(tc.req, sf)
			if !ok {
				t.Fatal("preprocess: not ok")
			}
			var routes []string
			for _, r := range rt.routes {
				routes = append(routes, r.Value())
			}
			if got := rt.ruri.String(); got != tc.ruri {
				t.Errorf("Request-URI: got %s, want %s", got, tc.ruri)
			}
			if diff := cmp.Diff(tc.routes, routes); diff != "" {
				t.Errorf("routes (-want +got):\n%s", diff)
			}
			if rt.ours != tc.ours {
				t.Errorf("ours: got %v, want %v", rt.ours, tc.ours)
			}
		})
	}
}

func TestProxiesRule(t *testing.T) {
	loc := fakeLoc{"sip:bob@example.com": {{Contact: "sip:bob@198.51.100.2:5062"}}}
	for _, foreign := range []string{"refuse", "forward"} {
		cfg := Default()
		cfg.ForeignDomains = foreign
		p := newTestProxy(t, cfg, []string{"example.com"}, loc)
		for _, tc := range []struct {
			name string
			req  *sip.Request
			want bool
		}{
			{"NOTIFY to our contact", request(t, "NOTIFY", "sip:pua@192.0.2.10:5060", "To: <sip:bob@example.com>;tag=x"), false},
			{"NOTIFY of a dialog between phones", request(t, "NOTIFY", "sip:bob@198.51.100.2:5062", "To: <sip:bob@example.com>;tag=x", "Route: <sip:192.0.2.10;lr>"), true},
			{"NOTIFY within a dialog not to us", request(t, "NOTIFY", "sip:bob@198.51.100.2:5062", "To: <sip:bob@example.com>;tag=x"), true},
			{"SUBSCRIBE refresh to our contact", request(t, "SUBSCRIBE", "sip:presence@192.0.2.10", "To: <sip:bob@example.com>;tag=x", "Route: <sip:192.0.2.10;lr>"), false},
			{"SUBSCRIBE to a registered presentity", request(t, "SUBSCRIBE", "sip:bob@example.com"), false},
			{"PUBLISH to a presentity", request(t, "PUBLISH", "sip:bob@example.com"), false},
			{"PUBLISH with a route onward", request(t, "PUBLISH", "sip:bob@example.com", "Route: <sip:192.0.2.10;lr>", "Route: <sip:ps.example.net;lr>"), true},
			{"MESSAGE to a registered user", request(t, "MESSAGE", "sip:bob@example.com"), true},
			{"MESSAGE to an unknown user", request(t, "MESSAGE", "sip:carol@example.com"), false},
			{"OPTIONS to the server", request(t, "OPTIONS", "sip:192.0.2.10"), false},
			{"OPTIONS to a registered user", request(t, "OPTIONS", "sip:bob@example.com"), true},
			{"OPTIONS with Max-Forwards 0", request(t, "OPTIONS", "sip:bob@example.com", "Max-Forwards: 0"), false},
			{"SUBSCRIBE to a foreign domain", request(t, "SUBSCRIBE", "sip:bob@example.org"), foreign == "forward"},
		} {
			t.Run(foreign+"/"+tc.name, func(t *testing.T) {
				if got := p.proxies(tc.req); got != tc.want {
					t.Errorf("proxies: got %v, want %v", got, tc.want)
				}
			})
		}
	}
}

func TestBuildForward(t *testing.T) {
	p := newTestProxy(t, Default(), nil, nil)
	sf := p.self.Load()
	req := request(t, "INVITE", "sip:bob@example.com",
		"Route: <sip:192.0.2.10;lr>",
		"Record-Route: <sip:edge.example.net;lr>",
		"Max-Forwards: 10",
		"Contact: <sip:alice@198.51.100.1>")
	var u sip.Uri
	sip.ParseUri("sip:bob@198.51.100.2:5062;transport=tcp", &u)
	tg := target{ruri: u, routes: []*sip.RouteHeader{{Address: sip.Uri{Scheme: "sip", Host: "pathproxy.example.net", UriParams: sip.HeaderParams{{K: "lr"}}}}}, tr: "tcp"}
	fwd := p.buildForward(req, tg, true, "udp", sf)
	var got []string
	for _, h := range fwd.Headers() {
		switch h.Name() {
		case "Via", "Route", "Record-Route", "Max-Forwards":
			got = append(got, h.Name()+": "+h.Value())
		}
	}
	want := []string{
		"Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-1",
		"Record-Route: <sip:proxy.example.com:5060;transport=tcp;lr>",
		"Record-Route: <sip:proxy.example.com:5060;lr>",
		"Route: <sip:pathproxy.example.net;lr>",
		"Record-Route: <sip:edge.example.net;lr>",
		"Max-Forwards: 9",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if fwd.Recipient.String() != "sip:bob@198.51.100.2:5062;transport=tcp" {
		t.Errorf("Request-URI: got %s", fwd.Recipient.String())
	}
	if req.Recipient.String() != "sip:bob@example.com" || len(req.GetHeaders("Route")) != 1 {
		t.Errorf("the received request changed: %s", req.String())
	}
}

func TestBindingTarget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		b      usrloc.Binding
		ok     bool
		dest   string
		routes int
	}{
		{"plain", usrloc.Binding{Contact: "<sip:bob@198.51.100.2:5062>", Received: "198.51.100.2:5062", Transport: "udp"}, true, "", 0},
		{"same host, other port", usrloc.Binding{Contact: "sip:bob@198.51.100.2:5062", Received: "198.51.100.2:40000", Transport: "tcp"}, true, "", 0},
		{"behind nat", usrloc.Binding{Contact: "sip:bob@10.0.0.7:5062", Received: "203.0.113.9:40000", Transport: "udp"}, true, "udp:203.0.113.9:40000", 0},
		{"behind nat over tcp", usrloc.Binding{Contact: "sip:bob@10.0.0.7:5062;transport=tcp", Received: "203.0.113.9:40001", Transport: "tcp"}, true, "tcp:203.0.113.9:40001", 0},
		{"host name", usrloc.Binding{Contact: "sip:bob@phone.example.com", Received: "203.0.113.9:40000", Transport: "udp"}, true, "", 0},
		{"path wins over nat", usrloc.Binding{Contact: "sip:bob@10.0.0.7", Received: "203.0.113.9:40000", Path: []string{"<sip:edge.example.net;lr>", "<sip:p2.example.net;lr>"}}, true, "", 2},
		{"sips", usrloc.Binding{Contact: "sips:bob@198.51.100.2"}, false, "", 0},
		{"websocket", usrloc.Binding{Contact: "sip:bob@198.51.100.2;transport=ws"}, false, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, ok := bindingTarget(tc.b)
			if ok != tc.ok {
				t.Fatalf("usable: got %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if tg.dest != tc.dest || len(tg.routes) != tc.routes {
				t.Errorf("got dest %q and %d routes, want %q and %d", tg.dest, len(tg.routes), tc.dest, tc.routes)
			}
		})
	}
}

func TestPrefer(t *testing.T) {
	best := func(canceled bool, codes ...int) int {
		b := 0
		for _, c := range codes {
			if b == 0 || prefer(c, canceled) < prefer(b, canceled) {
				b = c
			}
		}
		return b
	}
	for _, tc := range []struct {
		name     string
		codes    []int
		canceled bool
		want     int
	}{
		{"6xx wins", []int{302, 486, 603}, false, 603},
		{"lowest class", []int{500, 486, 302}, false, 302},
		{"4xx prefers 407", []int{486, 407, 404}, false, 407},
		{"after cancel 487", []int{486, 487}, true, 487},
		{"first of a class", []int{486, 480}, false, 486},
	} {
		if got := best(tc.canceled, tc.codes...); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestUpstream(t *testing.T) {
	req := request(t, "INVITE", "sip:bob@example.com")
	raw := "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKours\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-1\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:bob@example.com>;tag=b\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	m, _ := sip.NewParser().ParseSIP([]byte(raw))
	up := upstream(m.(*sip.Response), req)
	if vias := up.GetHeaders("Via"); len(vias) != 1 || !strings.Contains(vias[0].Value(), "198.51.100.1") {
		t.Errorf("Vias: got %v, want the caller's only", vias)
	}
	// A response that kept only our Via (answered with a CANCEL's Vias)
	// gets the request's.
	raw = strings.Replace(raw, "Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-1\r\n", "", 1)
	m, _ = sip.NewParser().ParseSIP([]byte(raw))
	up = upstream(m.(*sip.Response), req)
	if vias := up.GetHeaders("Via"); len(vias) != 1 || !strings.Contains(vias[0].Value(), "198.51.100.1") {
		t.Errorf("repaired Vias: got %v, want the caller's", vias)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want int
	}{
		{"default", Default(), 0},
		{"everything wrong", Config{MaxForwards: 0, ForeignDomains: "relay", TimerC: 0}, 3},
	} {
		if got := len(tc.cfg.Validate()); got != tc.want {
			t.Errorf("%s: got %d problems, want %d", tc.name, got, tc.want)
		}
	}
}
