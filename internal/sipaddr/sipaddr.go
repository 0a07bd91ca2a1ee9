// Package sipaddr canonicalises SIP addresses of record and matches served
// domains. An AOR is compared as "sip:user@host": scheme sip (sips is
// folded into sip for lookups), the user part kept as is (RFC 3261 19.1.4
// compares it case-sensitively), the host lowercased, port and parameters
// dropped, as OpenSIPS and Kamailio key presentities and locations.
package sipaddr

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// AOR returns the canonical address of record of u.
func AOR(u sip.Uri) string {
	return Make(u.User, u.Host)
}

// Make builds the canonical AOR of user at host.
func Make(user, host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if user == "" {
		return "sip:" + host
	}
	return "sip:" + user + "@" + host
}

// Parse parses a URI given as text, with or without angle brackets and a
// display name ("Alice <sip:alice@example.com>;tag=x" works too), and
// returns it.
func Parse(s string) (sip.Uri, error) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		j := strings.IndexByte(s[i:], '>')
		if j < 0 {
			return sip.Uri{}, errors.New("unbalanced angle brackets")
		}
		s = s[i+1 : i+j]
	}
	var u sip.Uri
	if err := sip.ParseUri(s, &u); err != nil {
		return sip.Uri{}, err
	}
	if u.Host == "" {
		return sip.Uri{}, errors.New("no host")
	}
	if u.Scheme == "" {
		u.Scheme = "sip"
	}
	if u.Scheme != "sip" && u.Scheme != "sips" {
		return sip.Uri{}, errors.New("scheme " + u.Scheme + " is not sip or sips")
	}
	return u, nil
}

// ParseAOR parses s and returns its canonical AOR.
func ParseAOR(s string) (string, error) {
	u, err := Parse(s)
	if err != nil {
		return "", err
	}
	return AOR(u), nil
}

// Domain returns the host of a canonical AOR.
func Domain(aor string) string {
	s := strings.TrimPrefix(aor, "sip:")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// User returns the user part of a canonical AOR.
func User(aor string) string {
	s := strings.TrimPrefix(aor, "sip:")
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return ""
}

// Domains is the set of domains the daemon serves. The zero value and an
// empty list serve every domain.
type Domains struct {
	names map[string]bool
	ips   map[netip.Addr]bool
}

// NewDomains builds the set from config entries (hostnames or IP literals).
func NewDomains(list []string) *Domains {
	d := &Domains{names: map[string]bool{}, ips: map[netip.Addr]bool{}}
	for _, s := range list {
		s = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
		if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
			d.ips[a.Unmap()] = true
			continue
		}
		d.names[s] = true
	}
	return d
}

// Any reports whether every domain is served.
func (d *Domains) Any() bool {
	return d == nil || (len(d.names) == 0 && len(d.ips) == 0)
}

// Serves reports whether host is one of the served domains.
func (d *Domains) Serves(host string) bool {
	if d.Any() {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return d.ips[a.Unmap()]
	}
	return d.names[host]
}

// Match reports whether s matches the shell pattern p, where "*" matches
// any run of characters (including none) and "?" exactly one. Unlike
// path.Match, "*" also crosses "/" and "@", as URIs need.
func Match(p, s string) bool {
	// Iterative wildcard matching with backtracking on the last star.
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
