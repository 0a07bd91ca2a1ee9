package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"

	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/xmpp"
)

// sectionValidator is what a section implements to be validated; its
// error texts start with the key path inside the section.
type sectionValidator interface {
	Validate() []error
}

// validate runs every section's Validate, then the checks that span
// sections, appending to errs. src is the decoder that read the file, to
// point the errors at its lines and to leave out those about values it
// already rejected; it is nil for a Config not read from a file.
func (c *Config) validate(src *decoder, errs *Errors) {
	v := reflect.ValueOf(c).Elem()
	fs := fieldsOf(v.Type())
	for _, name := range fs.names {
		f := v.FieldByIndex(fs.byName[name])
		var sv sectionValidator
		switch {
		case f.Kind() == reflect.Pointer && !f.IsNil():
			sv, _ = f.Interface().(sectionValidator)
		case f.Kind() != reflect.Pointer:
			sv, _ = f.Addr().Interface().(sectionValidator)
		}
		if sv == nil {
			continue
		}
		for _, err := range sv.Validate() {
			if err == nil {
				continue
			}
			key, msg := splitKey(err.Error())
			path := join(name, key)
			if src.rejected(path) {
				continue
			}
			errs.List = append(errs.List, &Error{Path: path, Line: src.lineOf(path), Msg: msg, Err: err})
		}
	}
	add := func(path, format string, a ...any) {
		if !src.rejected(path) {
			errs.add(path, src.lineOf(path), format, a...)
		}
	}
	c.checkDomains(add)
	if _, err := c.MemoryLimitBytes(); err != nil {
		add("memory_limit", "%v", err)
	}
	c.checkListeners(add)
	c.checkModules(add)
}

// checkModules reports a module switched on without a module it needs.
func (c *Config) checkModules(add func(path, format string, a ...any)) {
	if c.PUAMI.Enabled && !c.PUA.Enabled {
		add("pua_mi.enabled", "pua_mi needs the pua core: set pua.enabled: true")
	}
	if c.Registrar.Enabled && !c.Usrloc.Enabled {
		add("registrar.enabled", "the registrar needs the location service: set usrloc.enabled: true")
	}
	if c.PUADialogInfo.Enabled && (!c.PUA.Enabled || !c.Dialog.Enabled) {
		add("pua_dialoginfo.enabled", "pua_dialoginfo needs the pua core and dialog tracking: set pua.enabled and dialog.enabled")
	}
	if c.PUABLA.Enabled && (!c.PUA.Enabled || !c.Usrloc.Enabled) {
		add("pua_bla.enabled", "pua_bla needs the pua core and the location service: set pua.enabled and usrloc.enabled")
	}
	if c.PUABLA.Enabled && c.Presence.Enabled && c.PUABLA.HeaderName != c.Presence.SLA.SenderHeader {
		add("pua_bla.header_name", "%q differs from presence.sla.sender_header %q: phones would get their own state back", c.PUABLA.HeaderName, c.Presence.SLA.SenderHeader)
	}
	if c.PUAUsrloc.Enabled && (!c.PUA.Enabled || !c.Usrloc.Enabled) {
		add("pua_usrloc.enabled", "pua_usrloc needs the pua core and the location service: set pua.enabled and usrloc.enabled")
	}
	if c.Proxy.Enabled && !c.Usrloc.Enabled {
		add("proxy.enabled", "the proxy needs the location service: set usrloc.enabled: true")
	}
	c.checkXMPP(add)
}

// checkXMPP checks the presence gateway against the modules it needs and
// the domains the local presence server serves: XMPP users are
// presentities of this daemon when it is its own presence server.
func (c *Config) checkXMPP(add func(path, format string, a ...any)) {
	if !c.PUAXMPP.Enabled {
		return
	}
	if !c.PUA.Enabled || !c.XMPP.Enabled {
		add("pua_xmpp.enabled", "pua_xmpp needs the pua core and the XMPP gateway: set pua.enabled and xmpp.enabled")
		return
	}
	if !c.Presence.Enabled || c.PUA.PresenceServer != "" || len(c.Domains) == 0 {
		return
	}
	served := map[string]bool{}
	for _, d := range c.Domains {
		k, err := checkHost(d)
		if err == nil {
			served[k] = true
		}
	}
	check := func(path, d string) {
		if k, err := checkHost(d); err == nil && !served[k] {
			add(path, "%q is not in domains: the presence server would refuse the XMPP users' publications", d)
		}
	}
	if c.XMPP.AddressMapping == xmpp.MappingEncoded {
		check("xmpp.gateway_domain", c.XMPP.GatewayDomain)
		return
	}
	for i, d := range c.XMPP.XMPPUserDomains {
		check(fmt.Sprintf("xmpp.xmpp_user_domains[%d]", i), d)
	}
}

// checkDomains checks that each served domain is a hostname or an IP
// literal, given once (compared as internal/sipaddr matches them: case
// and a trailing dot aside, IPv4-mapped IPv6 as IPv4).
func (c *Config) checkDomains(add func(path, format string, a ...any)) {
	first := map[string]int{}
	for i, d := range c.Domains {
		path := fmt.Sprintf("domains[%d]", i)
		k, err := checkHost(d)
		if err != nil {
			add(path, "want a hostname or IP address, got %q: %v", d, err)
			continue
		}
		if j, dup := first[k]; dup {
			add(path, "%q is already domains[%d]", d, j)
			continue
		}
		first[k] = i
	}
}

// checkHost accepts an RFC 3261 hostname (a trailing dot allowed), an
// IPv4 address, or an IPv6 address with or without brackets, and returns
// its canonical form.
func checkHost(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("empty")
	}
	ip := s
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		ip = s[1 : len(s)-1]
	}
	if a, err := netip.ParseAddr(ip); err == nil {
		if a.Zone() != "" {
			return "", fmt.Errorf("zone %q not allowed", a.Zone())
		}
		if ip != s && !a.Is6() {
			return "", fmt.Errorf("brackets are for IPv6 only")
		}
		return a.Unmap().String(), nil
	}
	name := strings.TrimSuffix(s, ".")
	if len(name) > 253 {
		return "", fmt.Errorf("longer than 253 characters")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 {
			return "", fmt.Errorf("label %q is not 1 to 63 characters", l)
		}
		for j := 0; j < len(l); j++ {
			ch := l[j]
			alnum := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9'
			if !alnum && (ch != '-' || j == 0 || j == len(l)-1) {
				return "", fmt.Errorf("bad character %q in label %q", ch, l)
			}
		}
	}
	if top := labels[len(labels)-1]; top[0] >= '0' && top[0] <= '9' {
		return "", fmt.Errorf("top label %q starts with a digit", top)
	}
	return strings.ToLower(name), nil
}

// socket is one address the daemon binds, for the overlap check.
type socket struct {
	path      string // "sip.listen[1]", "mi.listen"
	transport string // "udp" or "tcp"
	addr      netip.AddrPort
}

// checkListeners reports two sockets that cannot both be bound: same
// transport and port, and the same address, or one a wildcard covering
// the other (on Linux a "::" wildcard covers IPv4 too). Port 0 never
// clashes. Malformed addresses are left to the sections' Validate.
func (c *Config) checkListeners(add func(path, format string, a ...any)) {
	var socks []socket
	for i, l := range c.SIP.Listen {
		la, err := sipnet.ParseListen(l)
		if err != nil {
			continue
		}
		socks = append(socks, socket{fmt.Sprintf("sip.listen[%d]", i), la.Transport, la.Addr})
	}
	if c.MI.Enabled {
		if ap, err := netip.ParseAddrPort(c.MI.Listen); err == nil {
			socks = append(socks, socket{"mi.listen", "tcp", ap})
		}
	}
	for i, s := range socks {
		for _, o := range socks[:i] {
			if s.transport == o.transport && overlap(s.addr, o.addr) {
				add(s.path, "%s %s clashes with %s (%s %s)", s.transport, s.addr, o.path, o.transport, o.addr)
				break
			}
		}
	}
}

func overlap(a, b netip.AddrPort) bool {
	if a.Port() == 0 || a.Port() != b.Port() {
		return false
	}
	x, y := a.Addr().Unmap(), b.Addr().Unmap()
	covers := func(w, o netip.Addr) bool {
		return w.IsUnspecified() && (w.Is6() || o.Is4())
	}
	return x == y || covers(x, y) || covers(y, x)
}

// splitKey splits a section's error text "key.path[2]: message" into its
// key path and message; a text not starting with a key path has none.
func splitKey(s string) (key, msg string) {
	k, m, ok := strings.Cut(s, ": ")
	if !ok || k == "" {
		return "", s
	}
	for _, ch := range k {
		if !('a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9' || strings.ContainsRune("_.[]", ch)) {
			return "", s
		}
	}
	return k, m
}

// lineOf returns the line that set path, or else that of the list item
// holding it ("presence.authorization.rules[2]" for its ".action"), or 0.
func (d *decoder) lineOf(path string) int {
	if d == nil {
		return 0
	}
	if l, ok := d.lines[path]; ok {
		return l
	}
	for p := parent(path); p != ""; p = parent(p) {
		if strings.HasSuffix(p, "]") {
			if l, ok := d.lines[p]; ok {
				return l
			}
		}
	}
	return 0
}

// rejected reports whether the decoder rejected the value at path or at
// one of its parents.
func (d *decoder) rejected(path string) bool {
	if d == nil {
		return false
	}
	for p := path; p != ""; p = parent(p) {
		if d.failed[p] {
			return true
		}
	}
	return false
}

// parent returns the path one key or index up: "a.b[2]" for "a.b[2].c",
// "a.b" for "a.b[2]", "" for "a".
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i > 0 {
		return path[:i]
	}
	return ""
}
