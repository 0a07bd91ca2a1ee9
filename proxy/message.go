package proxy

import (
	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/sipnet"
)

// callInfo describes an initial INVITE for the dialog tracker.
func callInfo(tx *sipnet.ServerTx, req *sip.Request) dialog.CallInfo {
	f := req.From()
	ci := dialog.CallInfo{CallID: string(*req.CallID()), CallerTag: fromTag(f), CallerCSeq: req.CSeq().SeqNo}
	ci.Caller = dialog.Party{URI: f.Address.String(), Display: f.DisplayName}
	if c := req.Contact(); c != nil {
		ci.Caller.Target = c.Address.String()
	}
	vias := 0
	for _, h := range req.Headers() {
		switch h := h.(type) {
		case *sip.RecordRouteHeader:
			ci.CallerRoute = append(ci.CallerRoute, h.Value())
		case *sip.ViaHeader:
			vias++
		}
	}
	if vias == 1 {
		ci.CallerDest = tx.Transport() + ":" + tx.Source().String()
	}
	return ci
}

// buildForward copies req for target t (RFC 3261 16.6): the target's
// Request-URI, Route values (ours removed, Path added), Max-Forwards
// decremented, our Record-Route on top of the others (a second one for
// the inbound transport when the request changes transport). Header
// values are shared with req, which is not changed.
func (p *Proxy) buildForward(req *sip.Request, t target, recordRoute bool, inTr string, sf *self) *sip.Request {
	fwd := sip.NewRequest(req.Method, t.ruri)
	var rr []sip.Header
	if recordRoute {
		rr = append(rr, sf.recordRoute(t.tr))
		if inTr != t.tr {
			rr = append(rr, sf.recordRoute(inTr))
		}
	}
	var mf sip.MaxForwardsHeader
	if m := req.MaxForwards(); m != nil {
		mf = sip.MaxForwardsHeader(m.Val() - 1)
	} else {
		mf = sip.MaxForwardsHeader(p.cfg.MaxForwards)
	}
	hdrs := req.Headers()
	lastVia := -1
	for i, h := range hdrs {
		if _, ok := h.(*sip.ViaHeader); ok {
			lastVia = i
		}
	}
	rrDone, routesDone, mfDone := false, false, false
	addRR := func() {
		if !rrDone {
			rrDone = true
			for _, h := range rr {
				fwd.AppendHeader(h)
			}
		}
	}
	addRoutes := func() {
		if !routesDone {
			routesDone = true
			for _, r := range t.routes {
				fwd.AppendHeader(r)
			}
		}
	}
	for i, h := range hdrs {
		switch h.(type) {
		case *sip.RouteHeader:
			addRoutes()
		case *sip.RecordRouteHeader:
			addRR()
			fwd.AppendHeader(h)
		case *sip.MaxForwardsHeader:
			if !mfDone {
				mfDone = true
				fwd.AppendHeader(&mf)
			}
		default:
			fwd.AppendHeader(h)
		}
		if i == lastVia {
			addRR()
			addRoutes()
		}
	}
	addRR()
	addRoutes()
	if !mfDone {
		fwd.AppendHeader(&mf)
	}
	fwd.SetBody(req.Body())
	return fwd
}

// upstream is res as it goes upstream for req: our Via removed (16.7
// step 3). A response left without any Via (a broken downstream that
// answered with the Vias of a CANCEL) gets those of req, so that it still
// reaches the caller.
func upstream(res *sip.Response, req *sip.Request) *sip.Response {
	out := sip.NewResponse(res.StatusCode, res.Reason)
	vias := 0
	for _, h := range res.Headers() {
		if _, ok := h.(*sip.ViaHeader); ok {
			vias++
		}
	}
	if vias <= 1 {
		for _, h := range req.Headers() {
			if v, ok := h.(*sip.ViaHeader); ok {
				out.AppendHeader(v.Clone())
			}
		}
	}
	skipped := false
	for _, h := range res.Headers() {
		if _, ok := h.(*sip.ViaHeader); ok && (vias <= 1 || !skipped) {
			skipped = true
			continue
		}
		out.AppendHeader(h)
	}
	out.SetBody(res.Body())
	return out
}
