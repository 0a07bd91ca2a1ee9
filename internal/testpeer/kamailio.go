package testpeer

import (
	"bytes"
	"embed"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

//go:embed testdata/kamailio/*.cfg testdata/prosody/prosody.cfg.lua.template
var fixtures embed.FS

// KamailioOptions select the Kamailio configuration to start.
type KamailioOptions struct {
	// Config is "presence" (default): testdata/kamailio/presence.cfg, a
	// presence server only, db_text scratch tables, UDP; or "full":
	// testdata/kamailio/full.cfg, registrar + stateful proxy + dialog +
	// presence + pua_usrloc + pua_dialoginfo, sqlite scratch database, UDP
	// and TCP, serving the domain 127.0.0.1.
	Config string
	// Port is the SIP port on 127.0.0.1; 0 picks a free one.
	Port int
	// ConfigFile, when set, is a configuration of the caller's, started
	// like "presence" (Config is then ignored): it gets the defines
	// LISTEN, SRVADDR, DBURL (db_text copies of the Debian tables of the
	// presence and pua modules) and CTLSOCK, plus Defines.
	ConfigFile string
	// Defines are more -A NAME=value defines (value as Kamailio wants it,
	// quotes included for strings), for ConfigFile.
	Defines map[string]string
	// Modules are module files (e.g. "xmpp.so") that must be installed;
	// without them the test is skipped (or fails, PRESENCED_REQUIRE_PEERS).
	Modules []string
	// ShmMiB and PkgMiB are Kamailio's -m and -M; default 64 and 8.
	ShmMiB, PkgMiB int
	// Env are more NAME=value environment variables of the server
	// process (not of the config check), e.g. LD_PRELOAD.
	Env []string
}

// KamailioServer is a running Kamailio.
type KamailioServer struct {
	Addr    string // 127.0.0.1:Port
	Port    int
	Dir     string // runtime folder: config copy, scratch DB, pid file, log
	LogFile string // Kamailio's stderr (-E)
	Pid     int    // main process
}

// kamailioModulesDirs are where Debian (and a source install) put modules.
var kamailioModulesDirs = []string{
	"/usr/lib/*/kamailio/modules", "/usr/lib/kamailio/modules",
	"/usr/local/lib*/kamailio/modules",
}

// hasKamailioModule reports whether a module .so is installed.
func hasKamailioModule(name string) bool {
	for _, d := range kamailioModulesDirs {
		if m, _ := filepath.Glob(filepath.Join(d, name)); len(m) > 0 {
			return true
		}
	}
	return false
}

// RequireKamailio returns the path of kamailio after checking that the
// modules of config ("presence" or "full") are installed, or skips the test
// (fails it when PRESENCED_REQUIRE_PEERS=1).
func RequireKamailio(t testing.TB, config string) string {
	t.Helper()
	bin := requireBinary(t, "kamailio", "kamailio", "kamailio kamailio-presence-modules")
	if !hasKamailioModule("presence.so") {
		missing(t, "kamailio presence modules not installed (apt-get install -y kamailio-presence-modules)")
	}
	if config == "full" {
		if !hasKamailioModule("db_sqlite.so") {
			missing(t, "kamailio sqlite modules not installed (apt-get install -y kamailio-sqlite-modules)")
		}
		requireBinary(t, "sqlite3", "sqlite3", "sqlite3")
		if kamailioSchemaDir() == "" {
			missing(t, "kamailio sqlite schema (presence-create.sql) not found (apt-get install -y kamailio-sqlite-modules)")
		}
	}
	return bin
}

// kamailioSchemaDir is the folder of the sqlite table definitions
// (KAMAILIO_SQLITE_SCHEMA_DIR overrides it); "" if not found.
func kamailioSchemaDir() string {
	dirs := []string{os.Getenv("KAMAILIO_SQLITE_SCHEMA_DIR"), "/usr/share/kamailio/db_sqlite", "/usr/local/share/kamailio/db_sqlite"}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "presence-create.sql")); err == nil {
			return d
		}
	}
	return ""
}

// kamailioDBTextDir is the folder of the db_text table templates.
func kamailioDBTextDir() string {
	for _, d := range []string{"/usr/share/kamailio/dbtext/kamailio", "/usr/local/share/kamailio/dbtext/kamailio"} {
		if _, err := os.Stat(filepath.Join(d, "version")); err == nil {
			return d
		}
	}
	return ""
}

// Kamailio starts Kamailio 5.6 on 127.0.0.1 with one of the project's
// configurations (as bench/run-anchor.sh and peers/kamailio/start-full.sh
// start it), waits until its UDP port answers an OPTIONS with 200, and
// stops it at the end of the test.
func Kamailio(t testing.TB, opts KamailioOptions) *KamailioServer {
	t.Helper()
	if opts.Config == "" || opts.ConfigFile != "" {
		opts.Config = "presence"
	}
	if opts.Config != "presence" && opts.Config != "full" {
		t.Fatalf("kamailio: unknown config %q (want presence or full)", opts.Config)
	}
	bin := RequireKamailio(t, opts.Config)
	for _, m := range opts.Modules {
		if !hasKamailioModule(m) {
			missing(t, fmt.Sprintf("kamailio module %s not installed (apt-get install -y %s)", m, kamailioModulePackage(m)))
		}
	}
	if opts.Port == 0 {
		opts.Port = FreePort(t, "udp+tcp")
	}
	dir := shortTempDir(t, "kam")
	cfg := filepath.Join(dir, opts.Config+".cfg")
	if opts.ConfigFile != "" {
		b, err := os.ReadFile(opts.ConfigFile)
		if err != nil {
			t.Fatalf("kamailio: %v", err)
		}
		cfg = filepath.Join(dir, filepath.Base(opts.ConfigFile))
		if err := os.WriteFile(cfg, b, 0o644); err != nil {
			t.Fatalf("kamailio: %v", err)
		}
	} else {
		writeFixture(t, "testdata/kamailio/"+opts.Config+".cfg", cfg)
	}

	addr := hostPort(opts.Port)
	srvaddr := fmt.Sprintf(`SRVADDR="sip:%s"`, addr)
	var defs []string
	switch opts.Config {
	case "presence":
		db := filepath.Join(dir, "db")
		copyDBText(t, db)
		defs = []string{
			"-A", "LISTEN=udp:" + addr,
			"-A", srvaddr,
			"-A", fmt.Sprintf(`DBURL="text://%s"`, db),
			"-A", fmt.Sprintf(`CTLSOCK="unix:%s"`, filepath.Join(dir, "kamailio_ctl")),
		}
	case "full":
		db := filepath.Join(dir, "ref.sqlite")
		createSQLiteDB(t, db)
		defs = []string{
			"-A", fmt.Sprintf(`DBURL="sqlite://%s"`, db),
			"-A", "LISTEN_UDP=udp:" + addr,
			"-A", "LISTEN_TCP=tcp:" + addr,
			"-A", "LISTEN_ALIAS=" + addr,
			"-A", srvaddr,
		}
	}

	for _, name := range slices.Sorted(maps.Keys(opts.Defines)) {
		defs = append(defs, "-A", name+"="+opts.Defines[name])
	}
	if opts.ShmMiB == 0 {
		opts.ShmMiB = 64
	}
	if opts.PkgMiB == 0 {
		opts.PkgMiB = 8
	}

	// Syntax check first, so a broken config fails with Kamailio's words.
	check := exec.Command(bin, append([]string{"-c", "-f", cfg}, defs...)...)
	check.Dir = dir
	runCmd(t, "kamailio config check", 30*time.Second, check)

	logFile := filepath.Join(dir, "kamailio.log")
	args := append([]string{"-DD", "-E", "-f", cfg, "-m", strconv.Itoa(opts.ShmMiB), "-M", strconv.Itoa(opts.PkgMiB),
		"-P", filepath.Join(dir, "kamailio.pid"), "-Y", dir}, defs...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if len(opts.Env) > 0 {
		cmd.Env = append(os.Environ(), opts.Env...)
	}
	p := startProcess(t, "kamailio", syscall.SIGTERM, 10*time.Second, cmd, logFile)

	err := pollUntil(20*time.Second, 50*time.Millisecond, func() (bool, error) {
		if err := p.deadErr(); err != nil {
			return false, err
		}
		code, err := PingOptions(addr, 200*time.Millisecond)
		if err != nil {
			return false, err
		}
		if code != 200 {
			return false, fmt.Errorf("OPTIONS got %d", code)
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("kamailio %s on %s: %v", opts.Config, addr, err)
	}
	return &KamailioServer{Addr: addr, Port: opts.Port, Dir: dir, LogFile: logFile, Pid: p.pid()}
}

// Log returns what Kamailio has logged so far.
func (k *KamailioServer) Log() string {
	b, _ := os.ReadFile(k.LogFile)
	return string(b)
}

// writeFixture copies an embedded fixture to dst.
func writeFixture(t testing.TB, name, dst string) {
	t.Helper()
	b, err := fixtures.ReadFile(name)
	if err != nil {
		t.Fatalf("read fixture %s: %v", name, err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatalf("write %s: %v", dst, err)
	}
}

// kamailioModulePackage names the Debian package of a module file.
func kamailioModulePackage(module string) string {
	switch module {
	case "xmpp.so":
		return "kamailio-xmpp-modules"
	case "db_sqlite.so":
		return "kamailio-sqlite-modules"
	}
	return "kamailio-presence-modules"
}

// copyDBText copies the Debian db_text templates of the tables that the
// presence and pua modules use into dir (as bench/run-anchor.sh does).
func copyDBText(t testing.TB, dir string) {
	t.Helper()
	src := kamailioDBTextDir()
	if src == "" {
		missing(t, "kamailio db_text templates not found (apt-get install -y kamailio)")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("kamailio db: %v", err)
	}
	for _, table := range []string{"version", "presentity", "watchers", "active_watchers", "xcap", "pua"} {
		b, err := os.ReadFile(filepath.Join(src, table))
		if err != nil {
			t.Fatalf("kamailio db: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, table), b, 0o644); err != nil {
			t.Fatalf("kamailio db: %v", err)
		}
	}
}

// createSQLiteDB creates the scratch database of full.cfg from the
// package's schema, in WAL mode (as peers/kamailio/start-full.sh does).
func createSQLiteDB(t testing.TB, db string) {
	t.Helper()
	schema := kamailioSchemaDir()
	var sql bytes.Buffer
	sql.WriteString("PRAGMA journal_mode=WAL;\n")
	for _, f := range []string{"standard-create.sql", "presence-create.sql"} {
		b, err := os.ReadFile(filepath.Join(schema, f))
		if err != nil {
			t.Fatalf("kamailio schema: %v", err)
		}
		sql.Write(b)
		if !strings.HasSuffix(sql.String(), "\n") {
			sql.WriteByte('\n')
		}
	}
	cmd := exec.Command(lookBinary("sqlite3"), db)
	cmd.Stdin = &sql
	runCmd(t, "create kamailio sqlite db", 30*time.Second, cmd)
}
