package testpeer

import (
	"strconv"
	"strings"
)

// SIPMessage is one message of a SIPp message log (-trace_msg).
type SIPMessage struct {
	Time       string // SIPp's timestamp of the entry
	Direction  string // "sent" or "received"
	Transport  string // "UDP", "TCP", ...
	StartLine  string // "NOTIFY sip:... SIP/2.0" or "SIP/2.0 200 OK"
	Method     string // request method; "" for a response
	StatusCode int    // response status; 0 for a request
	Headers    []Header
	Body       string
	Raw        string // the message as logged
}

// Header is one header field, in the order of the message.
type Header struct {
	Name  string // as written, compact forms expanded ("i" -> "Call-ID")
	Value string
}

// Get returns the value of the first header called name (case-insensitive,
// compact forms accepted), or "".
func (m SIPMessage) Get(name string) string {
	if v := m.Values(name); len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns the values of all headers called name, in order.
func (m SIPMessage) Values(name string) []string {
	name = canonicalHeader(name)
	var out []string
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, name) {
			out = append(out, h.Value)
		}
	}
	return out
}

// CSeq returns the sequence number of the CSeq header (0 if absent).
func (m SIPMessage) CSeq() int {
	f := strings.Fields(m.Get("CSeq"))
	if len(f) == 0 {
		return 0
	}
	n, _ := strconv.Atoi(f[0])
	return n
}

// compactHeaders maps RFC 3261 (and extension) compact forms to full names.
var compactHeaders = map[string]string{
	"i": "Call-ID", "m": "Contact", "e": "Content-Encoding",
	"l": "Content-Length", "c": "Content-Type", "f": "From",
	"s": "Subject", "k": "Supported", "t": "To", "v": "Via",
	"o": "Event", "u": "Allow-Events", "r": "Refer-To",
	"b": "Referred-By", "x": "Session-Expires", "a": "Accept-Contact",
	"j": "Reject-Contact", "d": "Request-Disposition", "y": "Identity",
}

func canonicalHeader(name string) string {
	if full, ok := compactHeaders[strings.ToLower(name)]; ok {
		return full
	}
	return name
}

// logSeparator starts every entry of a SIPp message log.
const logSeparator = "-----------------------------------------------"

// ParseMessageLog splits a SIPp -trace_msg log into its messages, in log
// order. Entries that are not SIP messages are left out.
func ParseMessageLog(log string) []SIPMessage {
	var out []SIPMessage
	for _, entry := range splitEntries(log) {
		if m, ok := parseEntry(entry); ok {
			out = append(out, m)
		}
	}
	return out
}

// ReceivedRequests returns the requests of method (case-insensitive, e.g.
// "NOTIFY") that SIPp received, from a -trace_msg log.
func ReceivedRequests(log, method string) []SIPMessage {
	var out []SIPMessage
	for _, m := range ParseMessageLog(log) {
		if m.Direction == "received" && strings.EqualFold(m.Method, method) {
			out = append(out, m)
		}
	}
	return out
}

// splitEntries cuts the log at separator lines; each entry starts with
// the timestamp that follows the separator.
func splitEntries(log string) []string {
	var entries []string
	var cur *strings.Builder
	for line := range strings.SplitAfterSeq(log, "\n") {
		if strings.HasPrefix(line, logSeparator+" ") {
			entries = appendEntry(entries, cur)
			cur = &strings.Builder{}
			cur.WriteString(strings.TrimPrefix(line, logSeparator+" "))
			continue
		}
		if cur != nil {
			cur.WriteString(line)
		}
	}
	return appendEntry(entries, cur)
}

func appendEntry(entries []string, b *strings.Builder) []string {
	if b == nil {
		return entries
	}
	return append(entries, b.String())
}

// parseEntry parses "TIME\nUDP message sent (N bytes):\n\nMESSAGE\n\n" or
// "TIME\nUDP message received [N] bytes :\n\nMESSAGE\n\n".
func parseEntry(entry string) (SIPMessage, bool) {
	var m SIPMessage
	ts, rest, ok := strings.Cut(entry, "\n")
	if !ok {
		return m, false
	}
	m.Time = strings.TrimSpace(ts)
	what, msg, ok := strings.Cut(rest, "\n")
	if !ok {
		return m, false
	}
	f := strings.Fields(what)
	if len(f) < 3 || f[1] != "message" {
		return m, false
	}
	m.Transport = f[0]
	switch {
	case strings.HasPrefix(f[2], "sent"):
		m.Direction = "sent"
	case strings.HasPrefix(f[2], "received"):
		m.Direction = "received"
	default:
		return m, false
	}
	msg = strings.TrimLeft(msg, "\r\n")
	if !parseSIP(&m, msg) {
		return m, false
	}
	return m, true
}

// parseSIP fills start line, headers and body from the message text.
func parseSIP(m *SIPMessage, msg string) bool {
	head, body, found := strings.Cut(msg, "\r\n\r\n")
	if !found {
		head, body, _ = strings.Cut(msg, "\n\n")
	}
	lines := strings.Split(strings.ReplaceAll(head, "\r\n", "\n"), "\n")
	m.StartLine = strings.TrimSpace(lines[0])
	f := strings.Fields(m.StartLine)
	switch {
	case len(f) >= 2 && strings.HasPrefix(f[0], "SIP/"):
		code, err := strconv.Atoi(f[1])
		if err != nil {
			return false
		}
		m.StatusCode = code
	case len(f) == 3 && strings.HasPrefix(f[2], "SIP/"):
		m.Method = f[0]
	default:
		return false
	}
	for _, l := range lines[1:] {
		if l == "" {
			continue
		}
		if (l[0] == ' ' || l[0] == '\t') && len(m.Headers) > 0 {
			h := &m.Headers[len(m.Headers)-1]
			h.Value += " " + strings.TrimSpace(l)
			continue
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		m.Headers = append(m.Headers, Header{Name: canonicalHeader(strings.TrimSpace(name)), Value: strings.TrimSpace(value)})
	}
	if n, err := strconv.Atoi(m.Get("Content-Length")); err == nil && n >= 0 && n <= len(body) {
		body = body[:n]
	} else {
		body = strings.TrimRight(body, "\n")
	}
	m.Body = body
	if found {
		m.Raw = head + "\r\n\r\n" + body
	} else {
		m.Raw = head + "\n\n" + body
	}
	return true
}
