package xmpp

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/presenced/presenced/internal/sipaddr"
)

// Config is the xmpp section: the gateway's link to the XMPP server and
// the address mapping, with the parameters of OpenSIPS's xmpp module.
type Config struct {
	// Enabled runs the XMPP gateway. Default false.
	Enabled bool `yaml:"enabled"`
	// Backend is how the gateway joins the XMPP network: component
	// (XEP-0114, the only one implemented). Default component.
	Backend string `yaml:"backend"`
	// XMPPDomain is the component's domain: the XMPP server routes every
	// JID of this domain to the gateway, and SIP users appear in XMPP at
	// it. Default 127.0.0.1 (OpenSIPS's default).
	XMPPDomain string `yaml:"xmpp_domain"`
	// XMPPHost and XMPPPort are the XMPP server's component port.
	// Defaults 127.0.0.1 and 5347.
	XMPPHost string `yaml:"xmpp_host"`
	XMPPPort int    `yaml:"xmpp_port"`
	// XMPPPassword is the component's shared secret. Default "secret".
	XMPPPassword string `yaml:"xmpp_password"`
	// SIPDomain is the SIP domain of the SIP users the gateway exposes
	// (transparent mapping): sip:user@<sip_domain> is user@<xmpp_domain>
	// in XMPP. Default "": the same name on both sides (xmpp_domain).
	SIPDomain string `yaml:"sip_domain"`
	// OutboundProxy, when set, is the SIP URI every MESSAGE made from an
	// XMPP message goes to (loose routing); default: the location service
	// when the registrar runs, else the Request-URI's host.
	OutboundProxy string `yaml:"outbound_proxy"`
	// AddressMapping is transparent (RFC 7247: sip:user@domain is
	// user@domain) or encoded (OpenSIPS's legacy encoding: XMPP user
	// alice@example.org is sip:alice*example.org@<gateway_domain>, SIP user
	// sip:bob@example.net is bob*example.net@<xmpp_domain>). Default
	// transparent.
	AddressMapping string `yaml:"address_mapping"`
	// XMPPUserDomains are the XMPP server's domains (transparent
	// mapping): a SIP URI at one of them names an XMPP user, e.g.
	// sip:alice@example.com is alice@example.com.
	XMPPUserDomains []string `yaml:"xmpp_user_domains"`
	// GatewayDomain is the SIP host of XMPP users with the encoded
	// mapping (OpenSIPS's gateway_domain).
	GatewayDomain string `yaml:"gateway_domain"`
	// DomainSeparator replaces the "@" of an address inside the user
	// part with the encoded mapping. Default "*".
	DomainSeparator string `yaml:"domain_separator"`
	// MaxMessageSize is the largest instant message body carried either
	// way, in bytes; larger ones are refused (SIP 413, XMPP
	// policy-violation). Default 16384.
	MaxMessageSize int `yaml:"max_message_size"`
	// MaxStanzaSize is the most the gateway reads for one stanza, in
	// bytes; a larger one ends the link with a policy-violation stream
	// error and the link is opened again. Default 262144.
	MaxStanzaSize int `yaml:"max_stanza_size"`
	// SendQueue is how many stanzas may wait to be written while the link
	// is up; past it (and always while the link is down) stanzas are
	// dropped and counted. Default 4096.
	SendQueue int `yaml:"send_queue"`
	// ConnectTimeout bounds the connection and the handshake, in seconds.
	// Default 10.
	ConnectTimeout int `yaml:"connect_timeout"`
	// ReconnectMinMS and ReconnectMax bound the backoff between attempts
	// to open the link: it doubles from reconnect_min_ms (milliseconds)
	// up to reconnect_max (seconds), with jitter. Defaults 500 and 30.
	ReconnectMinMS int `yaml:"reconnect_min_ms"`
	ReconnectMax   int `yaml:"reconnect_max"`
	// KeepAlive is the idle time after which a whitespace keepalive is
	// written, in seconds; 0 sends none. Default 60.
	KeepAlive int `yaml:"keepalive"`
}

// Mapping modes.
const (
	MappingTransparent = "transparent"
	MappingEncoded     = "encoded"
)

// Default returns the defaults: off, OpenSIPS's values.
func Default() Config {
	return Config{
		Backend:         "component",
		XMPPDomain:      "127.0.0.1",
		XMPPHost:        "127.0.0.1",
		XMPPPort:        5347,
		XMPPPassword:    "secret",
		AddressMapping:  MappingTransparent,
		DomainSeparator: "*",
		MaxMessageSize:  16384,
		MaxStanzaSize:   262144,
		SendQueue:       4096,
		ConnectTimeout:  10,
		ReconnectMinMS:  500,
		ReconnectMax:    30,
		KeepAlive:       60,
	}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.Backend {
	case "component":
	case "server":
		add("backend: the server (s2s) backend is not implemented; use component")
	default:
		add("backend: want component, got %q", c.Backend)
	}
	if err := checkDomain(c.XMPPDomain); err != nil {
		add("xmpp_domain: %v", err)
	}
	if err := checkDomain(c.XMPPHost); err != nil {
		add("xmpp_host: %v", err)
	}
	if c.XMPPPort < 1 || c.XMPPPort > 65535 {
		add("xmpp_port: want 1..65535, got %d", c.XMPPPort)
	}
	if c.XMPPPassword == "" {
		add("xmpp_password: the component secret is required")
	}
	if c.SIPDomain != "" {
		if err := checkDomain(c.SIPDomain); err != nil {
			add("sip_domain: %v", err)
		}
	}
	if c.OutboundProxy != "" {
		if _, err := sipaddr.Parse(c.OutboundProxy); err != nil {
			add("outbound_proxy: %q is not a SIP URI: %v", c.OutboundProxy, err)
		}
	}
	seen := map[string]bool{}
	for i, d := range c.XMPPUserDomains {
		if err := checkDomain(d); err != nil {
			add("xmpp_user_domains[%d]: %v", i, err)
			continue
		}
		k := strings.ToLower(d)
		switch {
		case seen[k]:
			add("xmpp_user_domains[%d]: %q is listed twice", i, d)
		case k == strings.ToLower(c.XMPPDomain):
			add("xmpp_user_domains[%d]: %q is the gateway's own xmpp_domain", i, d)
		case c.AddressMapping == MappingTransparent && k == strings.ToLower(c.sipDomain()):
			add("xmpp_user_domains[%d]: %q is also the SIP users' domain; use address_mapping: encoded when SIP and XMPP share a domain", i, d)
		}
		seen[k] = true
	}
	switch c.AddressMapping {
	case MappingTransparent:
		if c.Enabled && len(c.XMPPUserDomains) == 0 {
			add("xmpp_user_domains: at least one XMPP domain is required with address_mapping transparent")
		}
	case MappingEncoded:
		if c.Enabled && c.GatewayDomain == "" {
			add("gateway_domain: required with address_mapping encoded")
		}
	default:
		add("address_mapping: want transparent or encoded, got %q", c.AddressMapping)
	}
	if c.GatewayDomain != "" {
		if err := checkDomain(c.GatewayDomain); err != nil {
			add("gateway_domain: %v", err)
		}
	}
	if len(c.DomainSeparator) != 1 || !strings.Contains("*%!#$+=~^|", c.DomainSeparator) {
		add("domain_separator: want one of * %% ! # $ + = ~ ^ |, got %q", c.DomainSeparator)
	}
	if c.MaxMessageSize < 1 || c.MaxMessageSize > 1<<20 {
		add("max_message_size: want 1..1048576 bytes, got %d", c.MaxMessageSize)
	}
	if c.MaxStanzaSize < 4096 || c.MaxStanzaSize > 16<<20 {
		add("max_stanza_size: want 4096..16777216 bytes, got %d", c.MaxStanzaSize)
	} else if c.MaxStanzaSize < c.MaxMessageSize {
		add("max_stanza_size: %d is below max_message_size %d", c.MaxStanzaSize, c.MaxMessageSize)
	}
	if c.SendQueue < 1 || c.SendQueue > 1<<20 {
		add("send_queue: want 1..1048576, got %d", c.SendQueue)
	}
	if c.ConnectTimeout < 1 || c.ConnectTimeout > 300 {
		add("connect_timeout: want 1..300 seconds, got %d", c.ConnectTimeout)
	}
	if c.ReconnectMinMS < 10 || c.ReconnectMinMS > 60000 {
		add("reconnect_min_ms: want 10..60000, got %d", c.ReconnectMinMS)
	}
	if c.ReconnectMax < 1 || c.ReconnectMax > 3600 {
		add("reconnect_max: want 1..3600 seconds, got %d", c.ReconnectMax)
	} else if c.ReconnectMax*1000 < c.ReconnectMinMS {
		add("reconnect_max: %d seconds is below reconnect_min_ms %d", c.ReconnectMax, c.ReconnectMinMS)
	}
	if c.KeepAlive < 0 || c.KeepAlive > 3600 {
		add("keepalive: want 0..3600 seconds, got %d", c.KeepAlive)
	}
	return errs
}

// sipDomain is the SIP users' domain: sip_domain, else xmpp_domain.
func (c *Config) sipDomain() string {
	if c.SIPDomain != "" {
		return c.SIPDomain
	}
	return c.XMPPDomain
}

// checkDomain accepts a DNS name or an IP address.
func checkDomain(s string) error {
	if s == "" {
		return fmt.Errorf("empty")
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	if len(s) > 253 {
		return fmt.Errorf("%q is longer than 253 characters", s)
	}
	for _, l := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("%q is not a domain name", s)
		}
		for i := 0; i < len(l); i++ {
			ch := l[i]
			alnum := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9'
			if !alnum && (ch != '-' || i == 0 || i == len(l)-1) {
				return fmt.Errorf("%q is not a domain name", s)
			}
		}
	}
	return nil
}
