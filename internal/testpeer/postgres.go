package testpeer

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDB is the database that Postgres creates.
const PostgresDB = "presenced_test"

// RequirePostgres returns the folder of the PostgreSQL server binaries
// (initdb, postgres), the newest of /usr/lib/postgresql/*/bin, or skips the
// test (fails it when PRESENCED_REQUIRE_PEERS=1).
func RequirePostgres(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return pgVersion(b) - pgVersion(a) })
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d
		}
	}
	// A non-Debian install keeps them in PATH.
	if p := lookBinary("initdb"); p != "" && lookBinary("postgres") != "" {
		return filepath.Dir(p)
	}
	missing(t, "postgresql not installed (apt-get install -y postgresql)")
	return ""
}

// pgVersion is the major version in /usr/lib/postgresql/VERSION/bin.
func pgVersion(bindir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(bindir)))
	return v
}

// Postgres starts a scratch PostgreSQL cluster on a free port of 127.0.0.1
// (unix sockets in its own folder only), creates the database PostgresDB
// and returns its DSN, postgres://postgres@127.0.0.1:PORT/presenced_test?sslmode=disable
// (trust authentication). The server is stopped (fast shutdown) and its
// folder removed at the end of the test. As root, initdb and the server run
// as the "postgres" user, which owns the folder.
func Postgres(t testing.TB) string {
	t.Helper()
	bindir := RequirePostgres(t)
	dir := shortTempDir(t, "pg")
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		cred = postgresCredential(t, dir)
	}
	data := filepath.Join(dir, "data")

	initdb := exec.Command(filepath.Join(bindir, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	runCmd(t, "initdb", 2*time.Minute, initdb)

	port := FreePort(t, "tcp")
	// The postmaster runs in the foreground as this test's child (what
	// pg_ctl start would detach), so it is stopped by its own pid and dies
	// with the test binary.
	cmd := exec.Command(filepath.Join(bindir, "postgres"), "-D", data,
		"-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "logging_collector=off")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// SIGINT: fast shutdown (clients are disconnected).
	p := startProcess(t, "postgres", syscall.SIGINT, 15*time.Second, cmd, filepath.Join(dir, "postgres.log"))

	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
	var conn *pgx.Conn
	err := pollUntil(60*time.Second, 50*time.Millisecond, func() (bool, error) {
		if err := p.deadErr(); err != nil {
			return false, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			return false, err
		}
		conn = c
		return true, nil
	})
	if err != nil {
		t.Fatalf("postgres on 127.0.0.1:%d: %v", port, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+PostgresDB); err != nil {
		t.Fatalf("postgres: create database: %v", err)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, PostgresDB)
}

// postgresCredential returns the credential of the postgres user (the
// server refuses to run as root) and gives it the folder.
func postgresCredential(t testing.TB, dir string) *syscall.Credential {
	t.Helper()
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("postgres: running as root needs the postgres user (apt-get install -y postgresql): %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("postgres: user postgres has uid %q gid %q", u.Uid, u.Gid)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		t.Fatalf("postgres: %v", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
