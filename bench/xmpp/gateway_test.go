package xmppbench

import (
	"net/netip"
	"testing"
)

// gateway is a server under test: a SIP presence server with the SIP-XMPP
// gateway, connected to the benchmark's Prosody as a component.
type gateway struct {
	name string
	sip  netip.AddrPort // its SIP address (UDP)
	pgid int            // its process group (the server and its children)
	// store says where it keeps its state, for the report
	store string
	// jidOfSIP is the JID under which SIP user sip:<user>@sip.example.com
	// appears on the XMPP side.
	jidOfSIP func(user string) string
	// uriOfXMPP is the SIP URI under which XMPP user <user>@example.com
	// appears on the SIP side.
	uriOfXMPP func(user string) string
	// noteOfShow, when set, is the PIDF note the gateway makes of an XMPP
	// presence's <show> (a gateway that drops the <status> text): an
	// XMPP change is then recognised in the SIP NOTIFY by that note.
	noteOfShow func(show string) string
	// inside, when set, reads the server's own latency histograms and
	// returns a function that reports what they observed since.
	inside func(b *testing.B) func(report func(format string, a ...any))
}
