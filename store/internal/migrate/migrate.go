// Package migrate brings a SQL database's schema up to date. Each domain
// (presence, usrloc, pua, dialog) owns a list of steps numbered 1, 2, ...;
// the table schema_migrations records which steps of which domain ran, so
// domains evolve independently and a binary refuses a database newer than
// itself. The SQL it issues runs on SQLite and PostgreSQL alike.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Step is one schema change of a domain.
type Step struct {
	Version     int      // 1 for the first step of the domain, then 2, 3, ...
	Description string   // a few words, recorded in schema_migrations
	Statements  []string // run in order, in the migration transaction
}

// Domain is the ordered list of schema changes of one domain.
type Domain struct {
	Name  string
	Steps []Step // Steps[i].Version == i+1
}

// Latest is the version the domain's schema has after all its steps.
func (d Domain) Latest() int { return len(d.Steps) }

// Applied reports a domain whose schema Apply changed.
type Applied struct {
	Domain   string
	From, To int // versions before and after
}

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	domain      TEXT    NOT NULL,
	version     INTEGER NOT NULL,
	description TEXT    NOT NULL,
	applied     BIGINT  NOT NULL,
	PRIMARY KEY (domain, version)
)`

// Options adjusts Apply to a backend.
type Options struct {
	// Lock, when not empty, is run first in the migration transaction to
	// keep concurrent migrators apart (PostgreSQL:
	// SELECT pg_advisory_xact_lock(...)). SQLite needs none: its write
	// transaction is exclusive.
	Lock string
}

// Apply runs, in one transaction, every step of domains the database has
// not recorded yet, and records them. It fails, changing nothing, when a
// domain's steps are not numbered 1..n or when the database holds a
// version of a domain newer than its steps. db must not be used by
// anything else during the call when it is limited to one connection.
func Apply(ctx context.Context, db *sql.DB, domains []Domain, opts Options) (applied []Applied, err error) {
	for _, d := range domains {
		if err := d.check(); err != nil {
			return nil, err
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if opts.Lock != "" {
		if _, err := tx.ExecContext(ctx, opts.Lock); err != nil {
			return nil, fmt.Errorf("migrate: lock: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, createTable); err != nil {
		return nil, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, d := range domains {
		from, err := current(ctx, tx, d.Name)
		if err != nil {
			return nil, err
		}
		if from > d.Latest() {
			return nil, fmt.Errorf("migrate: %s schema version %d is newer than this binary's %d", d.Name, from, d.Latest())
		}
		if from == d.Latest() {
			continue
		}
		for _, st := range d.Steps[from:] {
			if err := run(ctx, tx, d.Name, st); err != nil {
				return nil, err
			}
		}
		applied = append(applied, Applied{Domain: d.Name, From: from, To: d.Latest()})
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: commit: %w", err)
	}
	return applied, nil
}

func (d Domain) check() error {
	if d.Name == "" {
		return fmt.Errorf("migrate: domain without name")
	}
	for i, st := range d.Steps {
		if st.Version != i+1 {
			return fmt.Errorf("migrate: %s step %d has version %d, want %d", d.Name, i, st.Version, i+1)
		}
		if len(st.Statements) == 0 {
			return fmt.Errorf("migrate: %s version %d has no statement", d.Name, st.Version)
		}
	}
	return nil
}

func current(ctx context.Context, tx *sql.Tx, domain string) (int, error) {
	var v sql.NullInt64
	err := tx.QueryRowContext(ctx,
		`SELECT MAX(version) FROM schema_migrations WHERE domain = $1`, domain).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("migrate: read %s version: %w", domain, err)
	}
	return int(v.Int64), nil
}

func run(ctx context.Context, tx *sql.Tx, domain string, st Step) error {
	for i, q := range st.Statements {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate: %s version %d statement %d: %w", domain, st.Version, i+1, err)
		}
	}
	_, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (domain, version, description, applied) VALUES ($1, $2, $3, $4)`,
		domain, st.Version, st.Description, time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("migrate: record %s version %d: %w", domain, st.Version, err)
	}
	return nil
}
