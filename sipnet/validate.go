package sipnet

import (
	"bytes"
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// checkRequest reports what makes a parsed request unacceptable: a code
// (400 or 505) and a reason phrase saying what is wrong, or 0.
func checkRequest(req *sip.Request) (int, string) {
	if !strings.EqualFold(req.SipVersion, "SIP/2.0") {
		return 505, "Version Not Supported"
	}
	if r := missingHeader(req); r != "" {
		return 400, "Bad Request (missing " + r + " header)"
	}
	if cseq := req.CSeq(); !strings.EqualFold(string(cseq.MethodName), string(req.Method)) {
		return 400, "Bad Request (CSeq method does not match the request)"
	}
	if r := repeatedHeader(req); r != "" {
		return 400, "Bad Request (more than one " + r + " header)"
	}
	if req.Recipient.Scheme == "" || (req.Recipient.Host == "" && req.Recipient.Raw() == "") {
		return 400, "Bad Request (malformed Request-URI)"
	}
	return 0, ""
}

// repeatedRawHeader scans the header section of a raw message (up to the
// first empty line) for a header that may appear once (RFC 3261 section 20)
// but appears more often, and names it; "" if none does. sipgo's parser
// keeps only the last of repeated Call-ID, From, To and CSeq rows, so the
// check needs the raw bytes (RFC 4475 torture test multi01 wants a 400).
func repeatedRawHeader(data []byte) string {
	_, r := rawHeaders(data)
	return r
}

// rawHeaders scans the header section of a raw message once, without
// allocating: the value of its (first) Call-ID, nil if it has none, and
// what repeatedRawHeader reports.
func rawHeaders(data []byte) (callID []byte, repeated string) {
	var nCallID, nFrom, nTo, nCSeq, nMaxFwd int
	first := true
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data
		if i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) == 0 {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue // folded continuation
		}
		if first {
			first = false // the start line
			continue
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			continue
		}
		name := bytes.TrimSpace(line[:c])
		switch {
		case bytes.EqualFold(name, []byte("call-id")) || bytes.EqualFold(name, []byte("i")):
			if nCallID == 0 {
				callID = bytes.TrimSpace(line[c+1:])
			}
			nCallID++
		case bytes.EqualFold(name, []byte("from")) || bytes.EqualFold(name, []byte("f")):
			nFrom++
		case bytes.EqualFold(name, []byte("to")) || bytes.EqualFold(name, []byte("t")):
			nTo++
		case bytes.EqualFold(name, []byte("cseq")):
			nCSeq++
		case bytes.EqualFold(name, []byte("max-forwards")):
			nMaxFwd++
		}
	}
	return callID, repeatedOf(nCallID, nFrom, nTo, nCSeq, nMaxFwd)
}

// rawMethod returns the method token of a raw request as sent: sipgo's
// parser upper-cases it, but methods are case-sensitive (RFC 3261 7.1), so
// "options" is an unknown extension method, not OPTIONS.
func rawMethod(data []byte) string {
	if i := bytes.IndexByte(data, ' '); i > 0 && i < 32 {
		return string(data[:i])
	}
	return ""
}

// repeatedHeader is repeatedRawHeader for a parsed request.
func repeatedHeader(req *sip.Request) string {
	var names []string
	for _, h := range req.Headers() {
		names = append(names, h.Name())
	}
	return repeatedName(names)
}

func repeatedName(names []string) string {
	var callID, from, to, cseq, maxfwd int
	for _, n := range names {
		switch strings.ToLower(n) {
		case "call-id", "i":
			callID++
		case "from", "f":
			from++
		case "to", "t":
			to++
		case "cseq":
			cseq++
		case "max-forwards":
			maxfwd++
		}
	}
	return repeatedOf(callID, from, to, cseq, maxfwd)
}

func repeatedOf(callID, from, to, cseq, maxfwd int) string {
	switch {
	case callID > 1:
		return "Call-ID"
	case from > 1:
		return "From"
	case to > 1:
		return "To"
	case cseq > 1:
		return "CSeq"
	case maxfwd > 1:
		return "Max-Forwards"
	}
	return ""
}

func missingHeader(req *sip.Request) string {
	switch {
	case req.Via() == nil:
		return "Via"
	case req.From() == nil:
		return "From"
	case req.To() == nil:
		return "To"
	case req.CallID() == nil:
		return "Call-ID"
	case req.CSeq() == nil:
		return "CSeq"
	}
	return ""
}

// routableVia reports whether a request's top Via can carry a response.
func routableVia(req *sip.Request) bool {
	via := req.Via()
	return via != nil && via.Host != "" && via.Port >= 0 && via.Port < 65536
}

// salvageRequest rebuilds what it can of a request that did not parse, to
// answer it with a 400 saying what is wrong. Headers that do not parse are
// left out; the first such header names the problem. It returns nil for
// anything that is not a request.
func salvageRequest(data []byte, perr error) (*sip.Request, string) {
	head := data
	if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 {
		head = data[:i+2]
	}
	lines := splitHeaderLines(head)
	if len(lines) == 0 {
		return nil, ""
	}
	parts := strings.SplitN(lines[0], " ", 3)
	if len(parts) != 3 || len(parts[2]) < 4 || !strings.EqualFold(parts[2][:4], "SIP/") || parts[0] == "" {
		return nil, ""
	}
	req := sip.NewRequest(sip.RequestMethod(strings.ToUpper(parts[0])), sip.Uri{})
	req.SipVersion = parts[2]
	problem := ""
	if err := sip.ParseUri(parts[1], &req.Recipient); err != nil || req.Recipient.Wildcard {
		problem = "malformed Request-URI"
	}
	hp := sip.HeadersParser(sip.DefaultHeadersParser())
	var out []sip.Header
	for _, l := range lines[1:] {
		var err error
		n := len(out)
		out, err = hp.ParseHeader(out, []byte(l))
		if err != nil {
			out = out[:n]
			if problem == "" {
				name, _, _ := strings.Cut(l, ":")
				problem = "malformed " + headerName(strings.TrimSpace(name)) + " header"
			}
		}
	}
	for _, h := range out {
		req.AppendHeader(h)
	}
	if problem == "" {
		switch {
		case errors.Is(perr, sip.ErrParseReadBodyIncomplete):
			problem = "Content-Length larger than the body"
		case errors.Is(perr, sip.ErrParseLineNoCRLF), errors.Is(perr, sip.ErrParseEOF):
			problem = "truncated or badly terminated header"
		default:
			problem = "malformed message"
		}
	}
	return req, problem
}

// splitHeaderLines splits a header section at CRLF (or bare LF), joining
// folded lines.
func splitHeaderLines(head []byte) []string {
	var lines []string
	for _, l := range strings.Split(string(head), "\n") {
		l = strings.TrimSuffix(l, "\r")
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(lines) > 1 {
			lines[len(lines)-1] += " " + strings.TrimSpace(l)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}

// headerName returns the canonical name of a (possibly compact) header,
// for reason phrases.
func headerName(n string) string {
	switch strings.ToLower(n) {
	case "v", "via":
		return "Via"
	case "f", "from":
		return "From"
	case "t", "to":
		return "To"
	case "i", "call-id":
		return "Call-ID"
	case "cseq":
		return "CSeq"
	case "m", "contact":
		return "Contact"
	case "l", "content-length":
		return "Content-Length"
	case "c", "content-type":
		return "Content-Type"
	case "max-forwards":
		return "Max-Forwards"
	case "route":
		return "Route"
	case "record-route":
		return "Record-Route"
	}
	if len(n) > 32 || strings.ContainsFunc(n, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return "a"
	}
	return n
}

// isKeepalive reports a datagram of only CR, LF, spaces or NULs: the
// keep-alives phones send (RFC 5626 and older habits).
func isKeepalive(b []byte) bool {
	for _, c := range b {
		if c != '\r' && c != '\n' && c != ' ' && c != 0 {
			return false
		}
	}
	return true
}
