package proxy

import (
	"errors"
	"hash/fnv"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
)

// self is what the proxy knows of its own addresses, fixed at Start.
type self struct {
	hosts   map[string]bool // lower-case names and IP addresses (no brackets)
	ports   map[int]bool
	domains *sipaddr.Domains
	adv     map[string]hostPort // advertised host and port, by transport
}

type hostPort struct {
	host string // IPv6 without brackets
	port int
}

// newSelf collects our addresses: every bound address (for a wildcard one,
// the loopback addresses and those of the interfaces), the advertised
// host, and their ports.
func newSelf(s SIP, domains *sipaddr.Domains) (*self, error) {
	sf := &self{hosts: map[string]bool{}, ports: map[int]bool{}, domains: domains, adv: map[string]hostPort{}}
	wildcard := false
	for _, tr := range []string{"udp", "tcp"} {
		if ap, ok := s.Addr(tr); ok {
			sf.ports[int(ap.Port())] = true
			a := ap.Addr().Unmap()
			if a.IsUnspecified() {
				wildcard = true
			} else {
				sf.hosts[a.String()] = true
			}
		}
		if hp := s.AdvertisedHostPort(tr); hp != "" {
			h, p, err := net.SplitHostPort(hp)
			if err != nil {
				continue
			}
			n, _ := strconv.Atoi(p)
			sf.hosts[normHost(h)] = true
			sf.ports[n] = true
			sf.adv[tr] = hostPort{host: h, port: n}
		}
	}
	if len(sf.adv) == 0 {
		return nil, errors.New("no sip listener")
	}
	if wildcard {
		sf.hosts["127.0.0.1"] = true
		sf.hosts["::1"] = true
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if pfx, err := netip.ParsePrefix(a.String()); err == nil {
					sf.hosts[pfx.Addr().Unmap().String()] = true
				}
			}
		}
	}
	return sf, nil
}

// normHost lower-cases a host, drops brackets and a final dot, and writes
// an IP address canonically.
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return h
}

func defaultPort(u *sip.Uri) int {
	if u.Port > 0 {
		return u.Port
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return 5061
	}
	return 5060
}

// isUs reports whether u names this proxy: one of our addresses and
// ports, or one of the explicitly served domains (with no port or ours).
func (sf *self) isUs(u *sip.Uri) bool {
	h := normHost(u.Host)
	if sf.hosts[h] && sf.ports[defaultPort(u)] {
		return true
	}
	return sf.domains != nil && !sf.domains.Any() && sf.domains.Serves(h) && (u.Port == 0 || sf.ports[u.Port])
}

// isOurRR reports whether u is a value we put in a Record-Route: us,
// no user part, lr. A strict router puts it in the Request-URI.
func (sf *self) isOurRR(u *sip.Uri) bool {
	return u.User == "" && u.UriParams.Has("lr") && sf.isUs(u)
}

// foreign reports whether u is for a domain we neither serve nor are.
func (sf *self) foreign(u *sip.Uri) bool {
	return !sf.isUs(u) && !sf.domains.Serves(u.Host)
}

// advertised returns our host and port for transport tr (the other
// transport's when we have no listener of tr).
func (sf *self) advertised(tr string) hostPort {
	if hp, ok := sf.adv[tr]; ok {
		return hp
	}
	for _, hp := range sf.adv {
		return hp
	}
	return hostPort{}
}

// recordRoute is our Record-Route value for transport tr.
func (sf *self) recordRoute(tr string) *sip.RecordRouteHeader {
	hp := sf.advertised(tr)
	u := sip.Uri{Scheme: "sip", Host: hp.host, Port: hp.port, UriParams: sip.NewParams()}
	if tr == "tcp" {
		u.UriParams.Add("transport", "tcp")
	}
	u.UriParams.Add("lr", "")
	return &sip.RecordRouteHeader{Address: u}
}

// hasOurVia reports whether a Via of the request names us (16.3 step 4).
func (sf *self) hasOurVia(req *sip.Request) bool {
	for _, h := range req.Headers() {
		v, ok := h.(*sip.ViaHeader)
		if !ok {
			continue
		}
		port := v.Port
		if port == 0 {
			port = 5060
		}
		if sf.hosts[normHost(v.Host)] && sf.ports[port] {
			return true
		}
	}
	return false
}

// loopKey hashes what a request that comes back to us unchanged keeps
// (RFC 3261 16.6 step 8 lists them): Request-URI, From and To tags,
// Call-ID, CSeq, Proxy-Require, Proxy-Authorization, Route.
func loopKey(req *sip.Request) string {
	h := fnv.New128a()
	h.Write([]byte(req.Recipient.String()))
	h.Write([]byte{0})
	h.Write([]byte(fromTag(req.From())))
	h.Write([]byte{0})
	h.Write([]byte(toTag(req.To())))
	h.Write([]byte{0})
	if c := req.CallID(); c != nil {
		h.Write([]byte(*c))
	}
	h.Write([]byte{0})
	if c := req.CSeq(); c != nil {
		h.Write([]byte(c.Value()))
	}
	for _, hd := range req.Headers() {
		switch strings.ToLower(hd.Name()) {
		case "proxy-require", "proxy-authorization", "route":
			h.Write([]byte{0})
			h.Write([]byte(hd.Value()))
		}
	}
	return string(h.Sum(nil))
}
