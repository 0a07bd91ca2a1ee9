package proxy

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/usrloc"
)

// routing is a request's routing information after 16.4.
type routing struct {
	req    *sip.Request
	ruri   sip.Uri
	routes []*sip.RouteHeader // Route values left after ours
	ours   bool               // the request was addressed to us (a Route of ours, or our Record-Route as Request-URI)
}

// preprocess applies RFC 3261 16.4: a Request-URI that is a Record-Route
// value of ours (the previous hop is a strict router) is replaced by the
// last Route value; our own Route values at the top are removed. It
// reports false for a Route header that is not a SIP URI.
func (p *Proxy) preprocess(req *sip.Request, sf *self) (routing, bool) {
	rt := routing{req: req, ruri: req.Recipient}
	for _, h := range req.Headers() {
		if r, ok := h.(*sip.RouteHeader); ok {
			if r.Address.Host == "" {
				return rt, false
			}
			rt.routes = append(rt.routes, r)
		}
	}
	if sf.isOurRR(&rt.ruri) && len(rt.routes) > 0 {
		last := rt.routes[len(rt.routes)-1]
		rt.ruri = *last.Address.Clone()
		rt.routes = rt.routes[:len(rt.routes)-1]
		rt.ours = true
	}
	for len(rt.routes) > 0 && sf.isUs(&rt.routes[0].Address) {
		rt.routes = rt.routes[1:]
		rt.ours = true
	}
	return rt, true
}

// Wrap returns a handler for method that proxies the requests that are
// not for the local module and gives the others to local. A request is
// proxied when
//   - it has a Route for another hop (a Route of ours with more Route
//     values after it, or a first Route that is not ours);
//   - it is within a dialog (To tag) and its Request-URI is not us (a
//     request of a dialog between two user agents that we Record-Routed);
//   - it is out of dialog, its Request-URI is in a domain we neither
//     serve nor are, and foreign_domains is forward (refused ones stay
//     with the local module, which refuses them itself);
//   - it is out of dialog, not a SUBSCRIBE or PUBLISH (the presence
//     server is the authority for presentities in our domains), and its
//     Request-URI is the AOR of a registered user (MESSAGE, OPTIONS or
//     NOTIFY for a phone).
//
// Everything else (a request for our own Contact or address, SUBSCRIBE
// and PUBLISH to our presentities, OPTIONS to the server, an OPTIONS with
// Max-Forwards 0) goes to local. With local nil every request is proxied.
func (p *Proxy) Wrap(method sip.RequestMethod, local sipnet.Handler) sipnet.Handler {
	if local == nil {
		return p.handle
	}
	return func(tx *sipnet.ServerTx) {
		if p.proxies(tx.Request()) {
			p.handle(tx)
			return
		}
		local(tx)
	}
}

// proxies is the rule of Wrap.
func (p *Proxy) proxies(req *sip.Request) bool {
	sf := p.self.Load()
	if sf == nil {
		return false
	}
	if mf := req.MaxForwards(); req.Method == sip.OPTIONS && mf != nil && mf.Val() == 0 {
		return false
	}
	rt, ok := p.preprocess(req, sf)
	if !ok {
		return false
	}
	if len(rt.routes) > 0 {
		return true
	}
	ruri := &rt.ruri
	if toTag(req.To()) != "" {
		return !sf.isUs(ruri)
	}
	if sf.foreign(ruri) {
		// Refused foreign domains stay with the local module, which
		// refuses them as it did without a proxy.
		return p.cfg.ForeignDomains == "forward"
	}
	if req.Method == sip.SUBSCRIBE || req.Method == sip.PUBLISH || ruri.User == "" {
		return false
	}
	if s := strings.ToLower(ruri.Scheme); s != "sip" && s != "sips" {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	bs, err := p.loc.Lookup(ctx, sipaddr.AOR(*ruri))
	return err == nil && len(bs) > 0
}

// target is one place a request is forwarded to.
type target struct {
	ruri   sip.Uri
	routes []*sip.RouteHeader // Route values to put (Path, or those left)
	opts   sipnet.SendOptions
	tr     string // the transport it leaves over
	callee dialog.Party
	dest   string // "transport:ip:port" when opts.Destination is set
}

// transportOf is the transport a request to u (or to its first Route)
// leaves over.
func transportOf(u *sip.Uri, routes []*sip.RouteHeader) string {
	if len(routes) > 0 && routes[0].Address.UriParams.Has("lr") {
		u = &routes[0].Address
	}
	if v, ok := u.UriParams.Get("transport"); ok && strings.EqualFold(v, "tcp") {
		return "tcp"
	}
	return "udp"
}

// maxBranches caps parallel forking.
const maxBranches = 32

// inDialogOnly are the methods that exist only within a dialog.
func inDialogOnly(m sip.RequestMethod) bool {
	return m == sip.BYE || m == sip.PRACK || m == sip.UPDATE || m == sip.INFO || m == sip.ACK
}

// initial routes a request outside any dialog (16.5): along its Route
// values when some are left, to the Request-URI of a foreign domain, or
// to the registered contacts of the Request-URI's AOR.
func (p *Proxy) initial(tx *sipnet.ServerTx, rt routing, sf *self) {
	req := tx.Request()
	if inDialogOnly(req.Method) {
		p.reply(tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	to := req.To()
	foreign := sf.foreign(&rt.ruri)
	if foreign && p.cfg.ForeignDomains == "refuse" {
		p.reply(tx, 403, "Forbidden (domain not served)")
		return
	}
	if len(rt.routes) > 0 || foreign {
		t := target{ruri: rt.ruri, routes: rt.routes, tr: transportOf(&rt.ruri, rt.routes)}
		t.callee = dialog.Party{URI: uriText(&rt.ruri), Display: to.DisplayName, Target: uriText(&rt.ruri)}
		p.forward(tx, rt, []target{t}, true)
		return
	}
	if s := strings.ToLower(rt.ruri.Scheme); s != "sip" && s != "sips" {
		p.reply(tx, 416, "Unsupported URI Scheme")
		return
	}
	aor := sipaddr.AOR(rt.ruri)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	bs, err := p.loc.Lookup(ctx, aor)
	if err != nil {
		p.log.Error("location lookup failed", "aor", aor, "err", err)
		p.reply(tx, 500, "Server Internal Error")
		return
	}
	var targets []target
	for _, b := range bs {
		if t, ok := bindingTarget(b); ok && len(targets) < maxBranches {
			t.callee = dialog.Party{URI: aor, Display: to.DisplayName, Target: t.callee.Target}
			targets = append(targets, t)
		}
	}
	if len(targets) == 0 {
		known := len(bs) > 0
		if !known {
			known, _ = p.loc.Known(ctx, aor)
		}
		if known {
			p.reply(tx, 480, "Temporarily Unavailable")
		} else {
			p.reply(tx, 404, "Not Found")
		}
		return
	}
	p.forward(tx, rt, targets, true)
}

// bindingTarget turns a binding into a target: its contact as the
// Request-URI, its Path as Route values (RFC 3327), and, when it has no
// Path and its contact's host is another IP address than the one it
// registered from (NAT), that address (Received, port included) over the
// transport it registered on. Contacts
// we cannot reach (sips, transports other than UDP and TCP) are skipped.
func bindingTarget(b usrloc.Binding) (target, bool) {
	u, err := sipaddr.Parse(b.Contact)
	if err != nil || !strings.EqualFold(u.Scheme, "sip") {
		return target{}, false
	}
	if v, ok := u.UriParams.Get("transport"); ok && !strings.EqualFold(v, "udp") && !strings.EqualFold(v, "tcp") {
		return target{}, false
	}
	t := target{ruri: u}
	for _, pv := range b.Path {
		pu, err := sipaddr.Parse(pv)
		if err != nil {
			return target{}, false
		}
		t.routes = append(t.routes, &sip.RouteHeader{Address: pu})
	}
	t.tr = transportOf(&t.ruri, t.routes)
	t.callee.Target = uriText(&u)
	if len(t.routes) == 0 && b.Received != "" {
		if src, err := netip.ParseAddrPort(b.Received); err == nil && behindNAT(&u, src) {
			tr := strings.ToLower(b.Transport)
			if tr != "tcp" {
				tr = "udp"
			}
			t.opts = sipnet.SendOptions{Destination: src, Transport: tr}
			t.tr = tr
			t.dest = tr + ":" + src.String()
		}
	}
	return t, true
}

func uriText(u *sip.Uri) string { return u.String() }

// parseDest parses "transport:ip:port".
func parseDest(d string) (string, netip.AddrPort, bool) {
	tr, ap, ok := strings.Cut(d, ":")
	if !ok {
		return "", netip.AddrPort{}, false
	}
	a, err := netip.ParseAddrPort(ap)
	if err != nil {
		return "", netip.AddrPort{}, false
	}
	return tr, a, true
}

// behindNAT reports whether a party whose target is u but whose requests
// come from src sits behind a NAT: u's host is an IP address other than
// src's. A host name is resolved as it reads; the same host with another
// port is taken as it reads too (a phone's TCP connections leave from
// other ports than it listens on; a third party registering for a phone
// on its own host).
func behindNAT(u *sip.Uri, src netip.AddrPort) bool {
	ip, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	return err == nil && ip.Unmap() != src.Addr().Unmap()
}
