package xmppbench

import (
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/testpeer"
	"github.com/presenced/presenced/xmpp"
)

// kamailioDomain is the component domain of Kamailio's xmpp module on the
// benchmark's Prosody (presenced's is the default sip.example.com).
const kamailioDomain = "kam.example.com"

// kamailioGateway is the host of the XMPP users' SIP URIs (the xmpp
// module's gateway_domain), pointed at Kamailio in its DNS cache. It has
// no port: the presence server keeps a watcher as user@host, and
// pua_xmpp matches its NOTIFYs to its subscriptions by that URI.
const kamailioGateway = "kamgw.example.com"

// kamailioShowNotes is what Kamailio 5.6's pua_xmpp (build_pidf) writes
// as the PIDF note of an available XMPP presence: the <show> mapped to a
// text; the <status> text is dropped.
var kamailioShowNotes = map[string]string{
	xmpp.ShowAway: "away",
	xmpp.ShowXA:   "Away",
	xmpp.ShowDND:  "Busy (DND)",
	xmpp.ShowChat: "Online",
}

// startKamailio starts Kamailio 5.6 with kamailio/xmpp.cfg (presence
// server + pua + xmpp component + pua_xmpp) on s, stopped at the end of
// b; skips b when Kamailio or one of its modules is missing.
func startKamailio(b *testing.B, s *testpeer.ProsodyServer) *gateway {
	b.Helper()
	_, port, _ := net.SplitHostPort(s.ComponentAddr)
	sipPort := testpeer.FreePort(b, "udp+tcp")
	// Kamailio 5.6.3's xmpp module dies on the first XML element it
	// parses unless its expat callbacks get the attribute list they expect
	// (kamailio/attsfix.c); BENCH_XMPP_KAMAILIO_STOCK=1 runs it without.
	var env []string
	if os.Getenv("BENCH_XMPP_KAMAILIO_STOCK") == "" {
		shim := filepath.Join(b.TempDir(), "attsfix.so")
		if out, err := exec.Command("cc", "-shared", "-fPIC", "-O2", "-o", shim, "kamailio/attsfix.c", "-ldl").CombinedOutput(); err != nil {
			b.Skipf("kamailio: cannot build the xmpp module's shim (needs cc and libexpat1-dev; BENCH_XMPP_KAMAILIO_STOCK=1 runs without it): %v\n%s", err, out)
		}
		env = append(env, "LD_PRELOAD="+shim)
	}
	loglevel := "0"
	if os.Getenv("BENCH_XMPP_KAMAILIO_DEBUG") != "" {
		loglevel = "3"
	}
	defines := map[string]string{
		"GWDOMAIN":   strconv.Quote(kamailioGateway),
		"XMPPDOMAIN": strconv.Quote(kamailioDomain),
		"XMPPPORT":   port,
		"XMPPSECRET": strconv.Quote(s.ComponentSecret),
		"LOGLEVEL":   loglevel,
		"SUBSDBMODE": "3",
	}
	for _, d := range strings.Fields(os.Getenv("BENCH_XMPP_KAMAILIO_DEFINES")) {
		name, value, _ := strings.Cut(d, "=")
		defines[name] = value
	}
	k := testpeer.Kamailio(b, testpeer.KamailioOptions{
		ConfigFile: "kamailio/xmpp.cfg",
		Port:       sipPort,
		Modules:    []string{"presence.so", "presence_xml.so", "pua.so", "pua_xmpp.so", "xmpp.so"},
		Env:        env,
		ShmMiB:     256,
		PkgMiB:     16,
		Defines:    defines,
	})
	// pua sends the gateway's SUBSCRIBEs to the SIP users' domain itself
	// (its outbound_proxy covers PUBLISH only), and the presence server
	// its NOTIFYs to the gateway domain: point both at this server in
	// Kamailio's own DNS cache (SRV for the port, then A).
	kamcmd, err := exec.LookPath("kamcmd")
	if err != nil {
		b.Skipf("kamailio: kamcmd not found (apt-get install -y kamailio): %v", err)
	}
	ctl := "unix:" + filepath.Join(k.Dir, "kamailio_ctl")
	for _, args := range [][]string{
		{"dns.add_a", kamailioGateway, "86400", "127.0.0.1", "2"}, // 2: permanent
		{"dns.add_srv", "_sip._udp." + sipDomain, "86400", "0", "0", strconv.Itoa(sipPort), kamailioGateway, "2"},
		{"dns.add_srv", "_sip._udp." + kamailioGateway, "86400", "0", "0", strconv.Itoa(sipPort), kamailioGateway, "2"},
	} {
		if out, err := exec.Command(kamcmd, append([]string{"-s", ctl}, args...)...).CombinedOutput(); err != nil || len(out) > 0 {
			b.Fatalf("kamcmd %v: %v %s", args, err, out)
		}
	}
	b.Cleanup(func() {
		if path := os.Getenv("BENCH_XMPP_KAMAILIO_LOG"); path != "" {
			_ = os.WriteFile(path, []byte(k.Log()), 0o644)
		}
	})
	return &gateway{
		name:  "kamailio",
		store: "db_text; subscriptions DB-only (SUBSDBMODE " + defines["SUBSDBMODE"] + ")",
		sip:   netip.MustParseAddrPort(k.Addr),
		pgid:  k.Pid,
		// the legacy encoding: the other side's domain goes into the user
		// part after the separator '*'
		jidOfSIP:   func(user string) string { return user + "*" + sipDomain + "@" + kamailioDomain },
		uriOfXMPP:  func(user string) string { return "sip:" + user + "*" + s.Domain + "@" + kamailioGateway },
		noteOfShow: func(show string) string { return kamailioShowNotes[show] },
	}
}
