// Package sqlite is the embedded store backend: one SQLite file through
// modernc.org/sqlite (pure Go, no cgo).
//
// The file runs in WAL mode with synchronous=NORMAL: a crash never
// corrupts it and never leaves half a transaction; a power cut may lose
// the last transactions. All writes go through one writer connection
// (BEGIN IMMEDIATE); statements are prepared on it once, at Open, and
// bound to each transaction with tx.Stmt (a db.Prepare on the writer
// inside a transaction would wait forever for the one connection). Loads
// run on a separate pool of read-only connections, each in one read
// transaction, so they see a consistent snapshot while writes go on.
//
// Each domain has one file (presence.go, pua.go, usrloc.go, dialog.go):
// its schema migrations, its statements and its methods. The schema version of every domain is kept
// in schema_migrations (see store/internal/migrate).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/store/internal/migrate"
	"github.com/presenced/presenced/usrloc"

	_ "modernc.org/sqlite" // registers driver "sqlite"
)

// Options tunes a Store. The zero value gives the defaults.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock another
	// connection holds before failing with SQLITE_BUSY. Default 5s.
	BusyTimeout time.Duration
	// Readers bounds the reader connections. Default 4.
	Readers int
	// Logger receives what Open did (migrations). Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.BusyTimeout < 0 {
		return o, fmt.Errorf("busy timeout %v: want at least 0", o.BusyTimeout)
	}
	if o.Readers < 0 {
		return o, fmt.Errorf("readers %d: want at least 0", o.Readers)
	}
	if o.BusyTimeout == 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Readers == 0 {
		o.Readers = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Store is an open SQLite database. It is safe for concurrent use.
type Store struct {
	path    string
	writer  *sql.DB // one connection: every write transaction
	readers *sql.DB // read-only connections: loads
	stmts   []*sql.Stmt

	presence presenceStmts
	pua      puaStmts
	usrloc   usrlocStmts
	dialog   dialogStmts

	closeOnce sync.Once
	closeErr  error
}

var (
	_ presence.Store = (*Store)(nil)
	_ pua.Store      = (*Store)(nil)
	_ usrloc.Store   = (*Store)(nil)
	_ dialog.Store   = (*Store)(nil)
)

// domains lists the schema of every domain, in creation order.
func domains() []migrate.Domain {
	return []migrate.Domain{presenceSchema(), puaSchema(), usrlocSchema(), dialogSchema()}
}

// Open opens the database file at path, creating it if needed, and brings
// its schema up to date. It fails if the file's schema is newer than this
// binary.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	s, err := open(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	return s, nil
}

func open(ctx context.Context, path string, opts Options) (_ *Store, err error) {
	opts, err = opts.withDefaults()
	if err != nil {
		return nil, err
	}
	switch {
	case path == "":
		return nil, errors.New("empty path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		return nil, errors.New("want a file path (for a store in memory use backend memory)")
	case strings.Contains(path, "?"):
		return nil, errors.New("path must not contain '?'")
	}
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)

	s := &Store{path: path}
	defer func() {
		if err != nil {
			s.closeAll()
		}
	}()

	// The writer first: it creates the file and switches it to WAL, which
	// is persistent, before any reader opens it.
	s.writer, err = sql.Open("sqlite", path+"?_busy_timeout="+busy+
		"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	s.writer.SetMaxOpenConns(1)
	s.writer.SetMaxIdleConns(1)
	s.writer.SetConnMaxLifetime(0)
	s.writer.SetConnMaxIdleTime(0)
	var mode string
	if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return nil, err
	}
	if !strings.EqualFold(mode, "wal") {
		return nil, fmt.Errorf("journal mode %s: want wal", mode)
	}

	applied, err := migrate.Apply(ctx, s.writer, domains(), migrate.Options{})
	if err != nil {
		return nil, err
	}
	for _, a := range applied {
		opts.Logger.Info("schema migrated", "path", path, "domain", a.Domain, "from", a.From, "to", a.To)
	}

	s.readers, err = sql.Open("sqlite", path+"?_busy_timeout="+busy+"&_query_only=1")
	if err != nil {
		return nil, err
	}
	s.readers.SetMaxOpenConns(opts.Readers)
	s.readers.SetMaxIdleConns(opts.Readers)
	if err := s.readers.PingContext(ctx); err != nil {
		return nil, err
	}

	p := preparer{db: s.writer}
	s.presence.prepare(ctx, &p)
	s.pua.prepare(ctx, &p)
	s.usrloc.prepare(ctx, &p)
	s.dialog.prepare(ctx, &p)
	s.stmts = p.stmts
	if p.err != nil {
		return nil, p.err
	}
	return s, nil
}

// Close closes the database. Calls after the first return its result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if err := s.closeAll(); err != nil {
			s.closeErr = fmt.Errorf("close sqlite %s: %w", s.path, err)
		}
	})
	return s.closeErr
}

// closeAll closes whatever open got to open. The readers go before the
// writer so that the writer's close, the last, checkpoints the WAL into
// the file and removes it.
func (s *Store) closeAll() error {
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	if s.readers != nil {
		errs = append(errs, s.readers.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

// write runs fn in a transaction on the writer connection and commits it;
// any error rolls all of it back. op names the operation in errors.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		// When ctx ends, database/sql rolls the transaction back under
		// fn, which then fails with "statement is closed" or the like:
		// say why.
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			return fmt.Errorf("%s: %w: %v", op, cerr, err)
		}
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", op, err)
	}
	return nil
}

// execRows runs st in tx once per item, with the arguments args appends
// to row (or the error that refuses the item: the batch fails). The rows run
// with a context that cannot be cancelled, since with a cancellable one
// the driver starts a goroutine per statement to interrupt it; ctx is
// checked between rows instead, and a cancelled ctx still rolls the
// transaction back. A row that fails is named "what key: error".
func execRows[T any](ctx context.Context, tx *sql.Tx, st *sql.Stmt, what string, items []T,
	key func(T) string, args func(i int, v T, row []any) ([]any, error)) error {
	if len(items) == 0 {
		return nil
	}
	rctx := context.WithoutCancel(ctx)
	stmt := tx.StmtContext(rctx, st)
	var row []any // one row's arguments, reused
	for i, v := range items {
		var err error
		if row, err = args(i, v, row[:0]); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := stmt.ExecContext(rctx, row...); err != nil {
			return fmt.Errorf("%s %s: %w", what, key(v), err)
		}
	}
	return nil
}

// deleteByID runs st, a delete by id, for each of ids.
func deleteByID(ctx context.Context, tx *sql.Tx, st *sql.Stmt, what string, ids []string) error {
	return execRows(ctx, tx, st, what, ids, strconv.Quote, func(_ int, id string, row []any) ([]any, error) { return append(row, id), nil })
}

// read runs fn in one read transaction on a reader connection: every
// query in fn sees the same snapshot.
func (s *Store) read(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.readers.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%s: begin: %w", op, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// preparer prepares the statements of every domain on the writer, keeping
// the first error.
type preparer struct {
	db    *sql.DB
	stmts []*sql.Stmt
	err   error
}

func (p *preparer) prepare(ctx context.Context, query string) *sql.Stmt {
	if p.err != nil {
		return nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		p.err = fmt.Errorf("prepare %s: %w", query, err)
		return nil
	}
	p.stmts = append(p.stmts, st)
	return st
}
