// Package testpeer starts real SIP, XMPP and SQL peers for tests: SIPp
// (Debian sip-tester), Kamailio 5.6 as a reference presence server, Prosody
// as the XMPP server of the gateway, and a scratch PostgreSQL cluster.
//
// Every peer listens on 127.0.0.1 only, on ports from FreePort, keeps its
// files in a temporary folder of the test, and is stopped by its pid in a
// t.Cleanup (SIGTERM, then SIGKILL to its process group after a grace
// period). Peers also get a parent-death signal, so a test binary that dies
// without running its cleanups (a -timeout panic) does not leave them behind.
//
// When a peer's binary is missing the test is skipped with the apt-get
// command that installs it, unless PRESENCED_REQUIRE_PEERS=1 is set (as CI
// does), in which case the test fails instead.
//
// Goroutines: each started process has one goroutine waiting for it; it ends
// when the process exits, which the cleanup waits for.
package testpeer
