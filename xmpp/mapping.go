package xmpp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/sipaddr"
)

// Mapping errors: an address that is not one of the gateway's (its XMPP
// error is item-not-found, its SIP status 404) and an address that cannot
// be written on the other side (jid-malformed, 484).
var (
	ErrNotMapped = errors.New("address not handled by the gateway")
	ErrMalformed = errors.New("address cannot be mapped")
)

// Mapper translates addresses between SIP URIs and JIDs (RFC 7247
// section 5), transparently or with OpenSIPS's legacy encoding.
//
// Transparent: an XMPP user alice@example.com is sip:alice@example.com
// (its domain listed in xmpp_user_domains); a SIP user
// sip:carol@<sip_domain> is carol@<xmpp_domain>. Encoded: an XMPP user
// alice@example.com is sip:alice*example.com@<gateway_domain>; a SIP user
// sip:carol@example.net is carol*example.net@<xmpp_domain>.
//
// Both ways the address of record is the bare JID; a resource travels as
// the GRUU "gr" URI parameter (RFC 5627), so a reply can reach the very
// client that wrote. Localparts are escaped per XEP-0106 and checked with
// the PRECIS profile of RFC 7622 (which lowercases them); SIP user parts
// are percent-decoded on the way in and percent-encoded where RFC 3261
// requires on the way out.
type Mapper struct {
	mode        string
	xmppDomain  string // the component's domain
	sipDomain   string // SIP users' domain (transparent)
	gateway     string // SIP host of XMPP users (encoded)
	sep         string
	userDomains map[string]bool
}

// NewMapper builds the mapper of a validated config.
func NewMapper(cfg Config) *Mapper {
	m := &Mapper{
		mode:        cfg.AddressMapping,
		xmppDomain:  strings.ToLower(cfg.XMPPDomain),
		sipDomain:   strings.ToLower(cfg.sipDomain()),
		gateway:     strings.ToLower(cfg.GatewayDomain),
		sep:         cfg.DomainSeparator,
		userDomains: map[string]bool{},
	}
	if m.sep == "" {
		m.sep = "*"
	}
	for _, d := range cfg.XMPPUserDomains {
		m.userDomains[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	return m
}

// Domain is the component's domain, the domain of every JID the gateway
// speaks for.
func (m *Mapper) Domain() string { return m.xmppDomain }

// IsXMPPUser reports whether a SIP URI names an XMPP user.
func (m *Mapper) IsXMPPUser(uri string) bool {
	u, err := sipaddr.Parse(uri)
	if err != nil {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Host, "."))
	if m.mode == MappingEncoded {
		return host == m.gateway && strings.Contains(u.User, m.sep)
	}
	return m.userDomains[host]
}

// IsGatewayJID reports whether a JID is one the gateway speaks for: a SIP
// user seen from XMPP.
func (m *Mapper) IsGatewayJID(j string) bool {
	_, d, _, err := jid.SplitString(j)
	return err == nil && strings.EqualFold(d, m.xmppDomain)
}

// SIPToJID maps a SIP URI to a JID: an XMPP user's URI to its JID, a SIP
// user's URI to the JID it has at the gateway. A "gr" parameter becomes
// the resource.
func (m *Mapper) SIPToJID(uri string) (string, error) {
	u, err := sipaddr.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrMalformed, uri, err)
	}
	user, err := url.PathUnescape(u.User)
	if err != nil {
		return "", fmt.Errorf("%w: %q: bad escape in the user part", ErrMalformed, uri)
	}
	if user == "" {
		return "", fmt.Errorf("%w: %q has no user part", ErrNotMapped, uri)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Host, "."))
	var local, domain string
	switch {
	case m.mode == MappingEncoded && host == m.gateway:
		// sip:alice*example.com@gateway -> alice@example.com
		i := strings.LastIndex(user, m.sep)
		if i <= 0 || i == len(user)-1 {
			return "", fmt.Errorf("%w: %q has no %q separating user and XMPP domain", ErrMalformed, uri, m.sep)
		}
		local, domain = escapeLocal(user[:i]), user[i+1:]
	case m.mode == MappingEncoded:
		// sip:bob@example.net -> bob*example.net@xmpp_domain
		local, domain = escapeLocal(user)+m.sep+host, m.xmppDomain
	case m.userDomains[host]:
		local, domain = escapeLocal(user), host
	case host == m.sipDomain:
		local, domain = escapeLocal(user), m.xmppDomain
	default:
		return "", fmt.Errorf("%w: %q is neither an XMPP domain nor the SIP domain %s", ErrNotMapped, uri, m.sipDomain)
	}
	res := ""
	if gr, ok := u.UriParams.Get("gr"); ok && gr != "" {
		res, err = url.QueryUnescape(gr)
		if err != nil {
			return "", fmt.Errorf("%w: %q: bad escape in gr", ErrMalformed, uri)
		}
	}
	j, err := jid.New(local, domain, res)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrMalformed, uri, err)
	}
	return j.String(), nil
}

// JIDToSIP maps a JID to a SIP URI: a SIP user's JID at the gateway to
// its URI, any other JID to the URI of that XMPP user. A resource becomes
// the "gr" parameter when withResource is set, and is dropped otherwise
// (addresses of record).
func (m *Mapper) JIDToSIP(j string, withResource bool) (string, error) {
	p, err := jid.Parse(j)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrMalformed, j, err)
	}
	local := jid.Unescape.String(p.Localpart())
	domain := p.Domainpart()
	if local == "" {
		return "", fmt.Errorf("%w: %q has no localpart", ErrNotMapped, j)
	}
	var user, host string
	switch {
	case domain == m.xmppDomain && m.mode == MappingEncoded:
		// bob*example.net@xmpp_domain -> sip:bob@example.net
		i := strings.LastIndex(local, m.sep)
		if i <= 0 || i == len(local)-1 {
			return "", fmt.Errorf("%w: %q has no %q separating user and SIP domain", ErrNotMapped, j, m.sep)
		}
		user, host = local[:i], local[i+1:]
		if checkDomain(host) != nil {
			return "", fmt.Errorf("%w: %q: %q is not a domain", ErrMalformed, j, host)
		}
	case domain == m.xmppDomain:
		user, host = local, m.sipDomain
	case m.mode == MappingEncoded:
		// alice@example.com -> sip:alice*example.com@gateway
		user, host = local+m.sep+domain, m.gateway
	case m.userDomains[domain]:
		user, host = local, domain
	default:
		return "", fmt.Errorf("%w: %q: domain %s is not an XMPP domain of the gateway", ErrNotMapped, j, domain)
	}
	u := sip.Uri{Scheme: "sip", User: escapeUser(user), Host: host}
	if r := p.Resourcepart(); withResource && r != "" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("gr", url.QueryEscape(r))
	}
	return u.String(), nil
}

// escapeLocal applies XEP-0106 to a SIP user part on its way to a
// localpart.
func escapeLocal(s string) string { return jid.Escape.String(s) }

// escapeUser percent-encodes what RFC 3261's "user" production does not
// allow: anything but unreserved characters and & = + $ , ; ? /.
func escapeUser(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()&=+$,;?/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}
