package sipnet

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

const magicCookie = "z9hG4bK"

// newBranch returns a fresh RFC 3261 branch: the magic cookie and 64
// random bits.
func newBranch() string {
	var b [len(magicCookie) + 16]byte
	copy(b[:], magicCookie)
	var r [8]byte
	putUint64(r[:], rand.Uint64())
	hex.Encode(b[len(magicCookie):], r[:])
	return string(b[:])
}

// newTag returns a random From/To tag.
func newTag() string {
	var r [8]byte
	putUint64(r[:], rand.Uint64())
	return hex.EncodeToString(r[:])
}

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// param returns the value of a header or URI parameter, with the name
// compared case-insensitively.
func param(p sip.HeaderParams, name string) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(strings.TrimSpace(kv.K), name) {
			return strings.TrimSpace(kv.V), true
		}
	}
	return "", false
}

// setParam sets a parameter, replacing one of the same name.
func setParam(p *sip.HeaderParams, name, value string) {
	for i, kv := range *p {
		if strings.EqualFold(strings.TrimSpace(kv.K), name) {
			(*p)[i] = sip.HeaderKV{K: name, V: value}
			return
		}
	}
	*p = append(*p, sip.HeaderKV{K: name, V: value})
}

// serverKey is the RFC 3261 17.2.3 key of a request's server transaction,
// for method (INVITE for an ACK or a CANCEL looking for its INVITE). A
// branch without the magic cookie falls back to the RFC 2543 fields
// (Request-URI, From tag, Call-ID, CSeq number, top Via); the To tag is
// left out there, so that the ACK of a non-2xx matches.
func serverKey(req *sip.Request, method sip.RequestMethod) string {
	via := req.Via()
	branch, _ := param(via.Params, "branch")
	var b strings.Builder
	if strings.HasPrefix(branch, magicCookie) {
		b.Grow(len(method) + len(via.Host) + len(branch) + 10)
		b.WriteString(string(method))
		b.WriteByte(' ')
		b.WriteString(via.Host)
		b.WriteByte(':')
		var n [20]byte
		b.Write(strconv.AppendInt(n[:0], int64(via.Port), 10))
		b.WriteByte(' ')
		b.WriteString(branch)
		return b.String()
	}
	b.WriteString("2543 ")
	b.WriteString(string(method))
	b.WriteByte(' ')
	b.WriteString(req.Recipient.String())
	b.WriteByte(' ')
	if f := req.From(); f != nil {
		tag, _ := param(f.Params, "tag")
		b.WriteString(tag)
	}
	b.WriteByte(' ')
	if c := req.CallID(); c != nil {
		b.WriteString(string(*c))
	}
	b.WriteByte(' ')
	if c := req.CSeq(); c != nil {
		b.WriteString(strconv.FormatUint(uint64(c.SeqNo), 10))
	}
	b.WriteByte(' ')
	b.WriteString(via.Transport)
	b.WriteByte(' ')
	b.WriteString(via.Host)
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(via.Port))
	return b.String()
}

// clientKey is the RFC 3261 17.1.3 key of a client transaction: our
// branch and the CSeq method.
func clientKey(branch string, method sip.RequestMethod) string {
	return string(method) + " " + branch
}

// writeMessage serialises m into buf. The body is appended as bytes (sip's
// StringWrite copies it into a string first).
func writeMessage(buf *bytes.Buffer, m sip.Message) {
	var hdrs []sip.Header
	switch m := m.(type) {
	case *sip.Request:
		m.StartLineWrite(buf)
		hdrs = m.Headers()
	case *sip.Response:
		m.StartLineWrite(buf)
		hdrs = m.Headers()
	}
	buf.WriteString("\r\n")
	for _, h := range hdrs {
		if v, ok := h.(*sip.ViaHeader); ok {
			writeVia(buf, v)
		} else {
			h.StringWrite(buf)
		}
		buf.WriteString("\r\n")
	}
	buf.WriteString("\r\n")
	buf.Write(m.Body())
}

// writeVia writes a Via header as sip's StringWrite does, without its
// allocations (it builds the value as a string and parses the host as an
// IP on every call).
func writeVia(buf *bytes.Buffer, v *sip.ViaHeader) {
	buf.WriteString("Via: ")
	buf.WriteString(v.ProtocolName)
	buf.WriteByte('/')
	buf.WriteString(v.ProtocolVersion)
	buf.WriteByte('/')
	buf.WriteString(v.Transport)
	buf.WriteByte(' ')
	if strings.IndexByte(v.Host, ':') >= 0 && !strings.HasPrefix(v.Host, "[") {
		buf.WriteByte('[')
		buf.WriteString(v.Host)
		buf.WriteByte(']')
	} else {
		buf.WriteString(v.Host)
	}
	if v.Port > 0 {
		var n [20]byte
		buf.WriteByte(':')
		buf.Write(strconv.AppendInt(n[:0], int64(v.Port), 10))
	}
	for _, kv := range v.Params {
		buf.WriteByte(';')
		buf.WriteString(kv.K)
		if kv.V == "" {
			continue
		}
		if strings.ContainsAny(kv.V, " \t") {
			buf.WriteString("=\"")
			buf.WriteString(kv.V)
			buf.WriteByte('"')
		} else {
			buf.WriteByte('=')
			buf.WriteString(kv.V)
		}
	}
}

// ensureContentLength makes the Content-Length header match the body.
func ensureContentLength(m sip.Message) {
	body := m.Body()
	if cl := m.ContentLength(); cl != nil && int(*cl) == len(body) {
		return
	}
	m.SetBody(body)
}

// dialogCreating reports the methods whose 2xx and 18x carry the
// request's Record-Route (RFC 3261 12.1.1, RFC 6665, RFC 3515).
func dialogCreating(m sip.RequestMethod) bool {
	return m == sip.INVITE || m == sip.SUBSCRIBE || m == sip.REFER
}

// newResponse builds a response to req per RFC 3261 8.2.6. It tolerates
// missing headers, so that it can answer a request that failed validation.
func newResponse(req *sip.Request, code int, reason, toTag, server string) *sip.Response {
	if reason == "" {
		reason = reasonPhrase(code)
	}
	res := sip.NewResponse(code, reason)
	copyRR := dialogCreating(req.Method) && ((code >= 180 && code < 190) || (code >= 200 && code < 300))
	for _, h := range req.Headers() {
		switch h := h.(type) {
		case *sip.ViaHeader:
			res.AppendHeader(h.Clone())
		case *sip.RecordRouteHeader:
			if copyRR {
				res.AppendHeader(h.Clone())
			}
		}
	}
	if h := req.From(); h != nil {
		res.AppendHeader(sip.HeaderClone(h))
	}
	if h := req.To(); h != nil {
		to := sip.HeaderClone(h).(*sip.ToHeader)
		if code != 100 && toTag != "" {
			if _, ok := param(to.Params, "tag"); !ok {
				if to.Params == nil {
					to.Params = sip.NewParams()
				}
				to.Params.Add("tag", toTag)
			}
		}
		res.AppendHeader(to)
	}
	if h := req.CallID(); h != nil {
		res.AppendHeader(sip.HeaderClone(h))
	}
	if h := req.CSeq(); h != nil {
		res.AppendHeader(sip.HeaderClone(h))
	}
	if code == 100 {
		for _, h := range req.Headers() {
			if strings.EqualFold(h.Name(), "Timestamp") {
				res.AppendHeader(sip.NewHeader("Timestamp", h.Value()))
			}
		}
	}
	if server != "" {
		res.AppendHeader(sip.NewHeader("Server", server))
	}
	// Appended rather than SetBody(nil): SetBody looks the header up by
	// lowering every header name, which allocates.
	cl := sip.ContentLengthHeader(0)
	res.AppendHeader(&cl)
	return res
}

func reasonPhrase(code int) string {
	switch code {
	case 100:
		return "Trying"
	case 180:
		return "Ringing"
	case 181:
		return "Call Is Being Forwarded"
	case 182:
		return "Queued"
	case 183:
		return "Session Progress"
	case 200:
		return "OK"
	case 202:
		return "Accepted"
	case 204:
		return "No Notification"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 407:
		return "Proxy Authentication Required"
	case 408:
		return "Request Timeout"
	case 412:
		return "Conditional Request Failed"
	case 413:
		return "Request Entity Too Large"
	case 415:
		return "Unsupported Media Type"
	case 420:
		return "Bad Extension"
	case 423:
		return "Interval Too Brief"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 482:
		return "Loop Detected"
	case 483:
		return "Too Many Hops"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 489:
		return "Bad Event"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 505:
		return "Version Not Supported"
	case 513:
		return "Message Too Large"
	case 603:
		return "Decline"
	}
	switch code / 100 {
	case 1:
		return "Progress"
	case 2:
		return "OK"
	case 3:
		return "Redirect"
	case 4:
		return "Client Error"
	case 5:
		return "Server Error"
	}
	return "Failure"
}
