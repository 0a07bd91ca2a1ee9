package testpeer

import (
	"crypto/x509"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ProsodyOptions configure a Prosody server for the XMPP gateway tests.
type ProsodyOptions struct {
	// Users are registered on the virtual host example.com: user ->
	// password.
	Users map[string]string
	// ComponentDomain is the XEP-0114 component's domain; default
	// "sip.example.com".
	ComponentDomain string
	// ComponentSecret is its shared secret; default "gw-secret".
	ComponentSecret string
	// MoreComponents are further XEP-0114 component domains (domain ->
	// secret), on the same component port, e.g. for a second gateway.
	MoreComponents map[string]string
}

// ProsodyServer is a running Prosody.
type ProsodyServer struct {
	C2SAddr         string // client connections (StartTLS required), 127.0.0.1:port
	ComponentAddr   string // XEP-0114 component connections, 127.0.0.1:port
	Domain          string // the virtual host: "example.com"
	ComponentDomain string
	ComponentSecret string
	CertFile        string // self-signed certificate of Domain and ComponentDomain (PEM)
	Dir             string // scratch folder: config, certs, data, logs
	LogFile         string
	Pid             int
}

// ProsodyDomain is the virtual host of the Prosody peer.
const ProsodyDomain = "example.com"

// RequireProsody returns the paths of prosody, prosodyctl and openssl, or
// skips the test (fails it when PRESENCED_REQUIRE_PEERS=1).
func RequireProsody(t testing.TB) (prosody, prosodyctl, openssl string) {
	t.Helper()
	prosody = requireBinary(t, "prosody", "prosody", "prosody")
	prosodyctl = requireBinary(t, "prosodyctl", "prosodyctl", "prosody")
	openssl = requireBinary(t, "openssl", "openssl", "openssl")
	return prosody, prosodyctl, openssl
}

var (
	prosodyNameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	prosodySecretRE = regexp.MustCompile(`^[!#-\[\]-~]+$`) // printable ASCII but space, '"' and '\'
)

// Prosody starts Prosody (template testdata/prosody/prosody.cfg.lua.template)
// on free ports of 127.0.0.1 with a self-signed certificate, registers
// opts.Users, waits until its client and component ports accept
// connections, and stops it at the end of the test.
func Prosody(t testing.TB, opts ProsodyOptions) *ProsodyServer {
	t.Helper()
	prosody, prosodyctl, openssl := RequireProsody(t)
	if opts.ComponentDomain == "" {
		opts.ComponentDomain = "sip." + ProsodyDomain
	}
	if opts.ComponentSecret == "" {
		opts.ComponentSecret = "gw-secret"
	}
	if !prosodyNameRE.MatchString(opts.ComponentDomain) {
		t.Fatalf("prosody: bad component domain %q", opts.ComponentDomain)
	}
	if !prosodySecretRE.MatchString(opts.ComponentSecret) {
		t.Fatalf("prosody: component secret %q: want printable ASCII without space, quote or backslash", opts.ComponentSecret)
	}
	for d, secret := range opts.MoreComponents {
		if !prosodyNameRE.MatchString(d) || !prosodySecretRE.MatchString(secret) || d == opts.ComponentDomain {
			t.Fatalf("prosody: bad extra component %q (secret %q)", d, secret)
		}
	}
	for u := range opts.Users {
		if !prosodyNameRE.MatchString(u) {
			t.Fatalf("prosody: bad user name %q (lowercase letters, digits, '.', '_', '-')", u)
		}
	}

	dir := shortTempDir(t, "xmpp")
	for _, d := range []string{"data", "certs"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatalf("prosody: %v", err)
		}
	}
	c2sPort, compPort := FreePort(t, "tcp"), FreePort(t, "tcp")
	tmpl, err := fixtures.ReadFile("testdata/prosody/prosody.cfg.lua.template")
	if err != nil {
		t.Fatalf("prosody: %v", err)
	}
	cfg := strings.NewReplacer(
		"SCRATCH", dir,
		"C2S_PORT", strconv.Itoa(c2sPort),
		"COMPONENT_PORT", strconv.Itoa(compPort),
		"COMPONENT_DOMAIN", opts.ComponentDomain,
		"COMPONENT_SECRET", opts.ComponentSecret,
	).Replace(string(tmpl))
	for _, d := range slices.Sorted(maps.Keys(opts.MoreComponents)) {
		cfg += fmt.Sprintf("\nComponent %q\n    component_secret = %q\n", d, opts.MoreComponents[d])
	}
	cfgFile := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatalf("prosody: %v", err)
	}

	// One self-signed certificate for the virtual host and the component.
	crt := filepath.Join(dir, "certs", ProsodyDomain+".crt")
	key := filepath.Join(dir, "certs", ProsodyDomain+".key")
	runCmd(t, "prosody certificate", 30*time.Second, exec.Command(openssl, "req", "-x509",
		"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30",
		"-subj", "/CN="+ProsodyDomain,
		"-addext", "subjectAltName=DNS:"+ProsodyDomain+",DNS:"+opts.ComponentDomain,
		"-keyout", key, "-out", crt))

	for _, u := range slices.Sorted(maps.Keys(opts.Users)) {
		cmd := exec.Command(prosodyctl, "--config", cfgFile, "register", u, ProsodyDomain, opts.Users[u])
		cmd.Dir = dir
		runCmd(t, "prosodyctl register "+u, 60*time.Second, cmd)
	}

	out := filepath.Join(dir, "prosody.out")
	logFile := filepath.Join(dir, "prosody.log")
	cmd := exec.Command(prosody, "-F", "--config", cfgFile)
	cmd.Dir = dir
	p := startProcess(t, "prosody", syscall.SIGTERM, 10*time.Second, cmd, out, logFile)

	s := &ProsodyServer{
		C2SAddr:         hostPort(c2sPort),
		ComponentAddr:   hostPort(compPort),
		Domain:          ProsodyDomain,
		ComponentDomain: opts.ComponentDomain,
		ComponentSecret: opts.ComponentSecret,
		CertFile:        crt,
		Dir:             dir,
		LogFile:         logFile,
		Pid:             p.pid(),
	}
	err = pollUntil(30*time.Second, 50*time.Millisecond, func() (bool, error) {
		if err := p.deadErr(); err != nil {
			return false, err
		}
		for _, a := range []string{s.C2SAddr, s.ComponentAddr} {
			c, err := net.DialTimeout("tcp4", a, time.Second)
			if err != nil {
				return false, err
			}
			c.Close()
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("prosody on %s and %s: %v", s.C2SAddr, s.ComponentAddr, err)
	}
	return s
}

// CertPool returns a pool holding the server's self-signed certificate,
// for a client's tls.Config.RootCAs.
func (s *ProsodyServer) CertPool() (*x509.CertPool, error) {
	b, err := os.ReadFile(s.CertFile)
	if err != nil {
		return nil, fmt.Errorf("prosody cert: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("prosody cert: no certificate in %s", s.CertFile)
	}
	return pool, nil
}
