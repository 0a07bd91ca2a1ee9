package proxy

import (
	"encoding/hex"
	"hash/fnv"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// inDialog routes a request within a dialog (To tag): along the route
// set when it carried a Route of ours (loose routing), else, for a dialog
// the tracker knows, to the other party; anything else gets 481.
func (p *Proxy) inDialog(tx *sipnet.ServerTx, rt routing, sf *self) {
	req := tx.Request()
	callID, ft, tt := string(*req.CallID()), fromTag(req.From()), toTag(req.To())
	if !rt.ours && len(rt.routes) == 0 {
		if _, known := p.peer(callID, ft, tt); !known || sf.isUs(&rt.ruri) {
			p.reply(tx, 481, "Call/Transaction Does Not Exist")
			return
		}
	}
	t := target{ruri: rt.ruri, routes: rt.routes}
	t.tr = transportOf(&t.ruri, t.routes)
	if len(t.routes) == 0 {
		p.natHop(&t, callID, ft, tt)
	}
	if p.dlg != nil {
		r := dialog.Request{Method: string(req.Method), CallID: callID, FromTag: ft, ToTag: tt, CSeq: req.CSeq().SeqNo}
		if c := req.Contact(); c != nil {
			r.Contact = c.Address.String()
		}
		p.dlg.InDialog(r)
	}
	p.forward(tx, rt, []target{t}, false)
}

func (p *Proxy) peer(callID, fromTag, toTag string) (dialog.Hop, bool) {
	if p.dlg == nil {
		return dialog.Hop{}, false
	}
	return p.dlg.Peer(callID, fromTag, toTag)
}

// natHop sends a request within a dialog, whose route set is used up, to
// the address the other party is reached at (its INVITE's source, its
// binding's Received) when it is behind a NAT (see behindNAT).
func (p *Proxy) natHop(t *target, callID, fromTag, toTag string) {
	hop, ok := p.peer(callID, fromTag, toTag)
	if !ok || hop.Dest == "" {
		return
	}
	tr, ap, ok := parseDest(hop.Dest)
	if !ok || !behindNAT(&t.ruri, ap) {
		return
	}
	t.opts = sipnet.SendOptions{Destination: ap, Transport: tr}
	t.tr = tr
}

// handleAck forwards the ACK of a 2xx along its route set, statelessly
// (RFC 3261 16.11), with a Via of ours whose branch derives from the
// ACK's own. The ACK of a non-2xx never gets here: the server
// transaction absorbs it. An ACK not routed through us is dropped.
func (p *Proxy) handleAck(tx *sipnet.ServerTx, sf *self) {
	req := tx.Request()
	if mf := req.MaxForwards(); mf != nil && mf.Val() == 0 {
		return
	}
	rt, ok := p.preprocess(req, sf)
	if !ok || req.CallID() == nil {
		return
	}
	callID, ft, tt := string(*req.CallID()), fromTag(req.From()), toTag(req.To())
	if !rt.ours && len(rt.routes) == 0 {
		if _, known := p.peer(callID, ft, tt); !known || sf.isUs(&rt.ruri) {
			return
		}
	}
	t := target{ruri: rt.ruri, routes: rt.routes}
	t.tr = transportOf(&t.ruri, t.routes)
	if len(t.routes) == 0 {
		p.natHop(&t, callID, ft, tt)
	}
	fwd := p.buildForward(req, t, false, tx.Transport(), sf)
	hp := sf.advertised(t.tr)
	branch := ""
	if v := req.Via(); v != nil {
		branch, _ = v.Params.Get("branch")
	}
	h := fnv.New64a()
	h.Write([]byte(branch))
	h.Write([]byte("/ack"))
	via := &sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: strings.ToUpper(t.tr),
		Host: hp.host, Port: hp.port, Params: sip.HeaderParams{{K: "branch", V: "z9hG4bK" + hex.EncodeToString(h.Sum(nil))}}}
	fwd.PrependHeader(via)
	p.forwarded.WithLabelValues("ACK").Inc()
	send := func() {
		if err := p.sip.SendStateless(fwd, t.opts); err != nil {
			p.log.Debug("ack not forwarded", "to", t.ruri.String(), "err", err)
		}
	}
	if t.tr == "udp" && (t.opts.Destination.IsValid() || isIPHop(&t.ruri, t.routes)) {
		send() // no lookup, no connect: it does not block
		return
	}
	p.spawn(send)
}

// isIPHop reports whether the next hop of a request to u along routes is
// an IP address (no name to resolve).
func isIPHop(u *sip.Uri, routes []*sip.RouteHeader) bool {
	if len(routes) > 0 && routes[0].Address.UriParams.Has("lr") {
		u = &routes[0].Address
	}
	_, err := netip.ParseAddr(strings.Trim(u.Host, "[]"))
	return err == nil
}

// hangup sends a BYE to both parties of a dialog the tracker ended
// (maximum lifetime, dlg_end_dlg). It runs on a tracker goroutine and
// only starts transactions.
func (p *Proxy) hangup(r dialog.Record) {
	p.bye(r, true)
	p.bye(r, false)
}

// bye sends the BYE of one side of a dialog: to the callee as if from the
// caller, or to the caller as if from the callee (RFC 3261 12.2.1.1 and
// 15.1.1), along our route set toward that party.
func (p *Proxy) bye(r dialog.Record, toCallee bool) {
	target, routes, dest := r.Callee.Target, r.CalleeRoute, r.CalleeDest
	from, fromT, to, toT := r.Caller, r.CallerTag, r.Callee, r.CalleeTag
	cseq := r.CallerCSeq + 1
	if !toCallee {
		target, routes, dest = r.Caller.Target, r.CallerRoute, r.CallerDest
		from, fromT, to, toT = r.Callee, r.CalleeTag, r.Caller, r.CallerTag
		cseq = r.CalleeCSeq + 1
	}
	ruri, err := sipaddr.Parse(target)
	if err != nil {
		p.log.Warn("no target to send a bye to", "dialog", r.ID, "target", target)
		return
	}
	fu, err1 := sipaddr.Parse(from.URI)
	tu, err2 := sipaddr.Parse(to.URI)
	if err1 != nil || err2 != nil {
		p.log.Warn("no party uri for a bye", "dialog", r.ID)
		return
	}
	req := sip.NewRequest(sip.BYE, ruri)
	for _, rv := range routes {
		u, err := sipaddr.Parse(rv)
		if err != nil {
			continue
		}
		req.AppendHeader(&sip.RouteHeader{Address: u})
	}
	fh := &sip.FromHeader{DisplayName: from.Display, Address: fu, Params: sip.NewParams()}
	fh.Params.Add("tag", fromT)
	th := &sip.ToHeader{DisplayName: to.Display, Address: tu, Params: sip.NewParams()}
	th.Params.Add("tag", toT)
	cid := sip.CallIDHeader(r.CallID)
	mf := sip.MaxForwardsHeader(p.cfg.MaxForwards)
	req.AppendHeader(fh)
	req.AppendHeader(th)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.BYE})
	req.AppendHeader(&mf)
	var opts sipnet.SendOptions
	if len(routes) == 0 && dest != "" {
		if tr, ap, ok := parseDest(dest); ok && behindNAT(&ruri, ap) {
			opts = sipnet.SendOptions{Destination: ap, Transport: tr}
		}
	}
	id := r.ID
	err = p.sip.Send(req, opts, func(res *sip.Response, err error) {
		if err != nil {
			p.log.Info("bye of an ended dialog failed", "dialog", id, "err", err)
		}
	})
	if err != nil {
		p.log.Info("bye of an ended dialog not sent", "dialog", id, "err", err)
	}
}
