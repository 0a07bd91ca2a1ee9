package xmpp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/netip"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/sipnet"
)

// ForXMPP reports whether a SIP request is addressed to an XMPP user (its
// Request-URI), so that a MESSAGE is the gateway's.
func (g *Gateway) ForXMPP(req *sip.Request) bool {
	return g.mapper.IsXMPPUser(req.Recipient.String())
}

// MessageHandler returns a MESSAGE handler that takes the requests for
// XMPP users and hands the others to next (404 when next is nil), so that
// the gateway and a proxy share the method.
func (g *Gateway) MessageHandler(next sipnet.Handler) sipnet.Handler {
	return func(tx *sipnet.ServerTx) {
		if g.ForXMPP(tx.Request()) {
			g.HandleMessage(tx)
			return
		}
		if next != nil {
			next(tx)
			return
		}
		if tx.RejectUnsupported() {
			return
		}
		_ = tx.Reply(404, "Not Found")
	}
}

// HandleMessage turns a SIP MESSAGE (RFC 3428) for an XMPP user into an
// XMPP chat message (OpenSIPS's xmpp_send_message()): text/plain, or the
// text/plain inside message/cpim. It answers 202 once the message is
// queued on the link, 503 while the link is down, and 4xx for what cannot
// be carried.
func (g *Gateway) HandleMessage(tx *sipnet.ServerTx) {
	if tx.RejectUnsupported() {
		return
	}
	code, reason, hdrs := g.messageToXMPP(tx.Request())
	if code >= 300 {
		g.c.msgs[msgSIPRefused].Add(1)
		g.log.Info("sip message refused", "to", tx.Request().Recipient.String(), "code", code, "reason", reason)
	} else {
		g.c.msgs[msgSIPToXMPP].Add(1)
	}
	_ = tx.Reply(code, reason, hdrs...)
}

func (g *Gateway) messageToXMPP(req *sip.Request) (int, string, []sip.Header) {
	from := req.From()
	if from == nil {
		return 400, "Bad Request (no From)", nil
	}
	to, err := g.mapper.SIPToJID(req.Recipient.String())
	if err != nil {
		if errors.Is(err, ErrMalformed) {
			return 484, "Address Incomplete (" + err.Error() + ")", nil
		}
		return 404, "Not Found", nil
	}
	if g.mapper.IsXMPPUser(from.Address.String()) {
		// The component may only speak for its own domain.
		return 403, "Forbidden (sender is an XMPP address)", nil
	}
	sender, err := g.mapper.SIPToJID(sipaddr.AOR(from.Address))
	if err != nil {
		return 403, "Forbidden (sender " + sipaddr.AOR(from.Address) + " has no XMPP address)", nil
	}
	body, code, reason := g.messageText(req)
	if code != 0 {
		hdrs := []sip.Header(nil)
		if code == 415 {
			hdrs = append(hdrs, sip.NewHeader("Accept", "text/plain, message/cpim"))
		}
		return code, reason, hdrs
	}
	id := "sip" + strconv.FormatUint(rand.Uint64(), 36)
	switch err := g.Send(Message{From: sender, To: to, ID: id, Type: "chat", Body: body}); {
	case errors.Is(err, ErrDown):
		return 503, "Service Unavailable (XMPP link down)", []sip.Header{sip.NewHeader("Retry-After", strconv.Itoa(max(1, g.cfg.ReconnectMax)))}
	case err != nil:
		return 503, "Service Unavailable (" + err.Error() + ")", []sip.Header{sip.NewHeader("Retry-After", "5")}
	}
	return 202, "Accepted", nil
}

// messageText extracts the text of a MESSAGE, or the status refusing it.
func (g *Gateway) messageText(req *sip.Request) (string, int, string) {
	body := req.Body()
	tooLarge := "Request Entity Too Large (over " + strconv.Itoa(g.cfg.MaxMessageSize) + " bytes)"
	if len(body) > g.cfg.MaxMessageSize+4096 {
		return "", 413, tooLarge
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	mt, params, err := mime.ParseMediaType(ct)
	if ct == "" {
		mt, err = "text/plain", nil
	}
	if err != nil {
		return "", 415, "Unsupported Media Type"
	}
	switch mt {
	case "text/plain":
	case "message/cpim":
		inner, ok := cpimText(body)
		if !ok {
			return "", 415, "Unsupported Media Type (message/cpim without text/plain)"
		}
		body, params = inner, nil
	default:
		return "", 415, "Unsupported Media Type"
	}
	if cs := strings.ToLower(params["charset"]); cs != "" && cs != "utf-8" && cs != "us-ascii" {
		return "", 415, "Unsupported Media Type (charset " + cs + ")"
	}
	if len(body) > g.cfg.MaxMessageSize {
		return "", 413, tooLarge
	}
	if !utf8.Valid(body) {
		return "", 400, "Bad Request (body is not UTF-8)"
	}
	text := strings.TrimRight(string(body), "\r\n")
	if strings.TrimSpace(text) == "" {
		return "", 400, "Bad Request (empty message)"
	}
	return text, 0, ""
}

// cpimText returns the text/plain body of a message/cpim document (RFC
// 3862): message headers, a blank line, MIME headers, a blank line, the
// content.
func cpimText(b []byte) ([]byte, bool) {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	_, rest, ok := strings.Cut(s, "\n\n")
	if !ok {
		return nil, false
	}
	head, content, ok := strings.Cut(rest, "\n\n")
	if !ok {
		return nil, false
	}
	for _, l := range strings.Split(head, "\n") {
		name, v, _ := strings.Cut(l, ":")
		if strings.EqualFold(strings.TrimSpace(name), "Content-Type") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(v))
			if err != nil || mt != "text/plain" {
				return nil, false
			}
			return []byte(content), true
		}
	}
	return []byte(content), true
}

// onMessage turns an XMPP message for a SIP user into a SIP MESSAGE, and
// a failure into an XMPP error to the sender. It runs on the link
// goroutine.
func (g *Gateway) onMessage(m Message) {
	bounce := func(cond, text string) {
		g.c.msgs[msgXMPPFailed].Add(1)
		g.log.Info("xmpp message refused", "from", m.From, "to", m.To, "condition", cond, "text", text)
		_ = g.Send(Message{From: m.To, To: m.From, ID: m.ID, Type: "error", Body: "", Error: &StanzaError{Condition: cond, Text: text}})
	}
	switch {
	case m.Type == "error":
		g.c.msgs[msgXMPPIgnored].Add(1)
		g.log.Debug("xmpp error message ignored", "from", m.From, "err", m.Error)
		return
	case m.Body == "":
		g.c.msgs[msgXMPPIgnored].Add(1) // chat states, receipts ...
		return
	case m.Type == "groupchat":
		bounce("not-acceptable", "groupchat is not carried to SIP")
		return
	case len(m.Body) > g.cfg.MaxMessageSize:
		bounce("policy-violation", fmt.Sprintf("message of %d bytes is over the gateway's limit of %d", len(m.Body), g.cfg.MaxMessageSize))
		return
	case g.sip == nil:
		bounce("service-unavailable", "no SIP side")
		return
	}
	to, err := g.mapper.JIDToSIP(m.To, true)
	if err != nil {
		bounce(conditionFor(err), err.Error())
		return
	}
	from, err := g.mapper.JIDToSIP(m.From, false)
	if err != nil || g.mapper.IsGatewayJID(m.From) {
		bounce("forbidden", fmt.Sprintf("sender %s has no SIP address at this gateway", m.From))
		return
	}
	req, opts, code, err := g.buildMessage(from, to, m)
	if err != nil {
		bounce(ConditionOf(code), err.Error())
		return
	}
	err = g.sip.Send(req, opts, func(res *sip.Response, err error) {
		switch {
		case err != nil:
			bounce("remote-server-timeout", "SIP: "+err.Error())
		case res.StatusCode >= 300:
			bounce(ConditionOf(res.StatusCode), fmt.Sprintf("SIP %d %s", res.StatusCode, res.Reason))
		default:
			g.c.msgs[msgXMPPToSIP].Add(1)
		}
	})
	if err != nil {
		bounce("remote-server-not-found", "SIP: "+err.Error())
	}
}

// buildMessage builds the MESSAGE for an XMPP message and chooses where
// it goes: the outbound proxy, else the registered contact of the
// recipient, else the Request-URI's host. code is the SIP status of a
// failure.
func (g *Gateway) buildMessage(from, to string, m Message) (*sip.Request, sipnet.SendOptions, int, error) {
	var opts sipnet.SendOptions
	tu, err := sipaddr.Parse(to)
	if err != nil {
		return nil, opts, 484, err
	}
	fu, err := sipaddr.Parse(from)
	if err != nil {
		return nil, opts, 484, err
	}
	ruri := tu
	var routes []string
	switch {
	case g.cfg.OutboundProxy != "":
		pu, _ := sipaddr.Parse(g.cfg.OutboundProxy)
		if _, ok := pu.UriParams.Get("lr"); !ok {
			if pu.UriParams == nil {
				pu.UriParams = sip.NewParams()
			}
			pu.UriParams.Add("lr", "")
		}
		routes = append(routes, "<"+pu.String()+">")
	case g.loc != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		bs, err := g.loc.Lookup(ctx, sipaddr.AOR(tu))
		cancel()
		if err != nil {
			return nil, opts, 500, fmt.Errorf("location lookup: %w", err)
		}
		if len(bs) == 0 {
			return nil, opts, 480, fmt.Errorf("%s is not registered", sipaddr.AOR(tu))
		}
		b := bs[0]
		cu, err := sipaddr.Parse(b.Contact)
		if err != nil {
			return nil, opts, 500, fmt.Errorf("contact %q: %w", b.Contact, err)
		}
		ruri = cu
		routes = append(routes, b.Path...)
		if ap, err := netip.ParseAddrPort(b.Received); err == nil {
			opts.Destination = ap
		}
		opts.Transport = strings.ToLower(b.Transport)
	}
	req := sip.NewRequest(sip.MESSAGE, ruri)
	for _, r := range routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	fh := &sip.FromHeader{Address: fu, Params: sip.NewParams()}
	fh.Params.Add("tag", strconv.FormatUint(rand.Uint64(), 36))
	req.AppendHeader(fh)
	tu.UriParams = nil
	req.AppendHeader(&sip.ToHeader{Address: tu, Params: sip.NewParams()})
	cid := sip.CallIDHeader(strconv.FormatUint(rand.Uint64(), 36) + strconv.FormatUint(rand.Uint64(), 36) + "@xmpp")
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.MESSAGE})
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain;charset=UTF-8"))
	req.SetBody([]byte(m.Body))
	return req, opts, 0, nil
}
