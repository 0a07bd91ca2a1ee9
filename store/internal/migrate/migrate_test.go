package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func step(v int, stmts ...string) Step {
	return Step{Version: v, Description: "step", Statements: stmts}
}

var (
	a1 = step(1, `CREATE TABLE a (x TEXT PRIMARY KEY)`)
	a2 = step(2, `ALTER TABLE a ADD COLUMN y BIGINT`, `CREATE INDEX a_y ON a (y)`)
	a3 = step(3, `CREATE TABLE a3 (z TEXT)`)
	b1 = step(1, `CREATE TABLE b (x TEXT PRIMARY KEY)`)
)

// recorded lists schema_migrations as "domain/version".
func recorded(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query(`SELECT domain, version FROM schema_migrations ORDER BY domain, version`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil
		}
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var d string
		var v int
		if err := rows.Scan(&d, &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s/%d", d, v))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func tableExists(t *testing.T, db *sql.DB, name string) bool {
	t.Helper()
	var n int
	err := db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = $1`, name).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)

	// runs is the sequence of Apply calls on one database, as successive
	// releases of the binary would make them.
	runs := []struct {
		name         string
		domains      []Domain
		wantApplied  []Applied
		wantErr      string
		wantRecorded []string
	}{
		{
			name:         "fresh database",
			domains:      []Domain{{Name: "a", Steps: []Step{a1, a2}}, {Name: "b", Steps: []Step{b1}}},
			wantApplied:  []Applied{{Domain: "a", From: 0, To: 2}, {Domain: "b", From: 0, To: 1}},
			wantRecorded: []string{"a/1", "a/2", "b/1"},
		},
		{
			name:         "same binary again",
			domains:      []Domain{{Name: "a", Steps: []Step{a1, a2}}, {Name: "b", Steps: []Step{b1}}},
			wantRecorded: []string{"a/1", "a/2", "b/1"},
		},
		{
			name:         "new step in one domain",
			domains:      []Domain{{Name: "a", Steps: []Step{a1, a2, a3}}, {Name: "b", Steps: []Step{b1}}},
			wantApplied:  []Applied{{Domain: "a", From: 2, To: 3}},
			wantRecorded: []string{"a/1", "a/2", "a/3", "b/1"},
		},
		{
			name:         "older binary",
			domains:      []Domain{{Name: "a", Steps: []Step{a1, a2}}},
			wantErr:      "a schema version 3 is newer than this binary's 2",
			wantRecorded: []string{"a/1", "a/2", "a/3", "b/1"},
		},
		{
			name: "failing step keeps nothing",
			domains: []Domain{
				{Name: "c", Steps: []Step{step(1, `CREATE TABLE c (x TEXT)`)}},
				{Name: "d", Steps: []Step{step(1, `CREATE TABLE d (x TEXT)`, `CREATE TABLE d (x TEXT)`)}},
			},
			wantErr:      "d version 1 statement 2",
			wantRecorded: []string{"a/1", "a/2", "a/3", "b/1"},
		},
		{
			name:         "steps misnumbered",
			domains:      []Domain{{Name: "e", Steps: []Step{step(2, `CREATE TABLE e (x TEXT)`)}}},
			wantErr:      "e step 0 has version 2, want 1",
			wantRecorded: []string{"a/1", "a/2", "a/3", "b/1"},
		},
		{
			name:         "step without statements",
			domains:      []Domain{{Name: "e", Steps: []Step{{Version: 1}}}},
			wantErr:      "e version 1 has no statement",
			wantRecorded: []string{"a/1", "a/2", "a/3", "b/1"},
		},
	}
	for _, r := range runs {
		// Sequential on purpose: each run starts from the previous one's database.
		got, err := Apply(ctx, db, r.domains, Options{})
		switch {
		case r.wantErr == "" && err != nil:
			t.Fatalf("%s: got error %v, want none", r.name, err)
		case r.wantErr != "" && (err == nil || !strings.Contains(err.Error(), r.wantErr)):
			t.Fatalf("%s: got error %v, want one containing %q", r.name, err, r.wantErr)
		}
		if diff := cmp.Diff(r.wantApplied, got); diff != "" {
			t.Errorf("%s: applied (-want +got):\n%s", r.name, diff)
		}
		if diff := cmp.Diff(r.wantRecorded, recorded(t, db)); diff != "" {
			t.Errorf("%s: schema_migrations (-want +got):\n%s", r.name, diff)
		}
	}
	for _, table := range []string{"a", "a3", "b"} {
		if !tableExists(t, db, table) {
			t.Errorf("table %s: got missing, want created", table)
		}
	}
	for _, table := range []string{"c", "d", "e"} {
		if tableExists(t, db, table) {
			t.Errorf("table %s: got created, want rolled back", table)
		}
	}
}

func TestApplyFailureOnFreshDatabaseKeepsNothing(t *testing.T) {
	db := openDB(t)
	domains := []Domain{{Name: "a", Steps: []Step{a1, step(2, `NOT SQL`)}}}
	if _, err := Apply(context.Background(), db, domains, Options{}); err == nil {
		t.Fatal("got no error, want one")
	}
	for _, table := range []string{"a", "schema_migrations"} {
		if tableExists(t, db, table) {
			t.Errorf("table %s: got created, want rolled back", table)
		}
	}
}

func TestApplyLock(t *testing.T) {
	db := openDB(t)
	domains := []Domain{{Name: "a", Steps: []Step{a1}}}
	_, err := Apply(context.Background(), db, domains, Options{Lock: `SELECT no_such_function()`})
	if err == nil || !strings.Contains(err.Error(), "migrate: lock") {
		t.Fatalf("got error %v, want a lock error", err)
	}
	if _, err := Apply(context.Background(), db, domains, Options{Lock: `SELECT 1`}); err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if got := recorded(t, db); len(got) != 1 {
		t.Errorf("got %v recorded, want a/1", got)
	}
}
