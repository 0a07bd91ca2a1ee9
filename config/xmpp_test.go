package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestXMPPChecks: pua_xmpp needs pua and xmpp, and the local presence
// server must serve the XMPP users' domain.
func TestXMPPChecks(t *testing.T) {
	const gw = "xmpp: {enabled: true, xmpp_domain: sip.example.com, xmpp_user_domains: [example.com]}\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"enabled and served", gw + "pua_xmpp: {enabled: true}\ndomains: [sip.example.com, example.com]\n", nil},
		{"any domain served", gw + "pua_xmpp: {enabled: true}\n", nil},
		{"without xmpp", "pua_xmpp: {enabled: true}\n",
			[]string{"pua_xmpp.enabled: pua_xmpp needs the pua core and the XMPP gateway: set pua.enabled and xmpp.enabled (line 1)"}},
		{"without pua", gw + "pua_xmpp: {enabled: true}\npua: {enabled: false}\npua_mi: {enabled: false}\npua_usrloc: {enabled: false}\npua_dialoginfo: {enabled: false}\n",
			[]string{"pua_xmpp.enabled: pua_xmpp needs the pua core and the XMPP gateway: set pua.enabled and xmpp.enabled (line 2)"}},
		{"xmpp domain not served", gw + "pua_xmpp: {enabled: true}\ndomains: [sip.example.com]\n",
			[]string{`xmpp.xmpp_user_domains[0]: "example.com" is not in domains: the presence server would refuse the XMPP users' publications (line 1)`}},
		{"remote presence server", gw + "pua_xmpp: {enabled: true}\ndomains: [sip.example.com]\npua: {presence_server: \"sip:192.0.2.1\"}\n", nil},
		{"encoded gateway domain not served", "xmpp: {enabled: true, xmpp_domain: sip.example.com, address_mapping: encoded, gateway_domain: gw.example.com}\npua_xmpp: {enabled: true}\ndomains: [sip.example.com]\n",
			[]string{`xmpp.gateway_domain: "gw.example.com" is not in domains: the presence server would refuse the XMPP users' publications (line 1)`}},
		{"transparent without user domains", "xmpp: {enabled: true}\n",
			[]string{"xmpp.xmpp_user_domains: at least one XMPP domain is required with address_mapping transparent"}},
		{"shared domain", "xmpp: {enabled: true, xmpp_domain: sip.example.com, sip_domain: example.com, xmpp_user_domains: [example.com]}\n",
			[]string{`xmpp.xmpp_user_domains[0]: "example.com" is also the SIP users' domain; use address_mapping: encoded when SIP and XMPP share a domain (line 1)`}},
		{"server backend", "xmpp: {backend: server}\n",
			[]string{"xmpp.backend: the server (s2s) backend is not implemented; use component (line 1)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
