package presence

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

func now() time.Time { return time.Now() }

// header returns the value of the first header named one of names
// (case-insensitive), without allocating.
func header(m interface{ Headers() []sip.Header }, names ...string) (string, bool) {
	for _, h := range m.Headers() {
		n := h.Name()
		for _, want := range names {
			if strings.EqualFold(n, want) {
				return h.Value(), true
			}
		}
	}
	return "", false
}

// eventHeader reads the Event header (compact form "o") and returns the
// package name and the id parameter. "dialog;sla" is the package name
// when the dialog event carries the sla parameter (draft-anil-sipping-bla).
func eventHeader(req *sip.Request) (name, id string, ok bool) {
	v, ok := header(req, "Event", "o")
	if !ok {
		return "", "", false
	}
	return parseEvent(v)
}

func parseEvent(v string) (name, id string, ok bool) {
	parts := strings.Split(v, ";")
	name = strings.ToLower(strings.TrimSpace(parts[0]))
	if name == "" {
		return "", "", false
	}
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "id":
			id = strings.Trim(strings.TrimSpace(val), `"`)
		case "sla":
			if name == "dialog" {
				name = "dialog;sla"
			}
		}
	}
	return name, id, true
}

// formatEvent builds an Event header value.
func formatEvent(name, id string) string {
	if id == "" {
		return name
	}
	return name + ";id=" + id
}

// expiresHeader returns the Expires value, -1 when absent, or an error for
// a malformed one.
func expiresHeader(req *sip.Request) (int, error) {
	v, ok := header(req, "Expires")
	if !ok {
		return -1, nil
	}
	v = strings.TrimSpace(v)
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		return 0, err
	}
	if n > 1<<31-1 {
		n = 1<<31 - 1
	}
	return int(n), nil
}

// contentType returns the media type of the body (lowercased, parameters
// dropped), "" without Content-Type.
func contentType(req *sip.Request) string {
	ct := req.ContentType()
	if ct == nil {
		if v, ok := header(req, "c"); ok {
			return mediaType(v)
		}
		return ""
	}
	return mediaType(ct.Value())
}

func mediaType(v string) string {
	v, _, _ = strings.Cut(v, ";")
	return strings.ToLower(strings.TrimSpace(v))
}

// phrase makes a reason phrase out of an error text: one line, printable,
// bounded, so a detail can travel in the status line ("400 Bad body:
// pidf: line 3: ...").
func phrase(prefix string, err error) string {
	s := prefix
	if err != nil {
		s += ": " + err.Error()
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			c = ' '
		}
		b = append(b, c)
	}
	return string(b)
}
