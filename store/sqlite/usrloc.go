package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/presenced/presenced/store/internal/check"
	"github.com/presenced/presenced/store/internal/migrate"
	"github.com/presenced/presenced/store/internal/sqlcol"
	"github.com/presenced/presenced/usrloc"
)

// usrlocSchema is the location service's table, prefixed usrloc_. The
// registrar loads it whole at start; the index on aor serves the lookups
// of one address of record's bindings (and PostgreSQL's several nodes).
// The Path header values are a JSON array; q and reg_id are Go ints,
// which BIGINT holds.
func usrlocSchema() migrate.Domain {
	return migrate.Domain{Name: "usrloc", Steps: []migrate.Step{{
		Version:     1,
		Description: "usrloc bindings",
		Statements: []string{
			`CREATE TABLE usrloc_bindings (
				id         TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
				aor        TEXT   NOT NULL CHECK (aor <> ''),
				contact    TEXT   NOT NULL,
				q          BIGINT NOT NULL,
				expires    BIGINT,
				call_id    TEXT   NOT NULL,
				cseq       BIGINT NOT NULL,
				instance   TEXT   NOT NULL,
				reg_id     BIGINT NOT NULL,
				path       TEXT   NOT NULL,
				received   TEXT   NOT NULL,
				transport  TEXT   NOT NULL,
				user_agent TEXT   NOT NULL,
				updated    BIGINT
			)`,
			`CREATE INDEX usrloc_bindings_aor ON usrloc_bindings (aor)`,
		},
	}}}
}

// usrlocBindingsTable is the table as the statements see it; the column
// order is the order of the Exec arguments and Scan destinations below.
func usrlocBindingsTable() sqlcol.Table {
	return sqlcol.Table{
		Name: "usrloc_bindings",
		Key:  []string{"id"},
		Cols: []string{"aor", "contact", "q", "expires", "call_id", "cseq", "instance", "reg_id", "path",
			"received", "transport", "user_agent", "updated"},
	}
}

// usrlocStmts are the usrloc statements, prepared on the writer.
type usrlocStmts struct {
	putBinding, deleteBinding *sql.Stmt
}

func (st *usrlocStmts) prepare(ctx context.Context, p *preparer) {
	st.putBinding = p.prepare(ctx, usrlocBindingsTable().Upsert(sqlcol.Question))
	st.deleteBinding = p.prepare(ctx, usrlocBindingsTable().Delete(sqlcol.Question))
}

// WriteBindings applies b in one transaction: all of it or, when a row is
// invalid, a statement fails or ctx ends, none of it. The deletes run
// before the puts.
func (s *Store) WriteBindings(ctx context.Context, b *usrloc.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	return s.write(ctx, "write usrloc batch", func(tx *sql.Tx) error {
		return s.usrloc.write(ctx, tx, b)
	})
}

func (st *usrlocStmts) write(ctx context.Context, tx *sql.Tx, b *usrloc.Batch) error {
	if err := deleteByID(ctx, tx, st.deleteBinding, "delete binding", b.Delete); err != nil {
		return err
	}
	return execRows(ctx, tx, st.putBinding, "put binding", b.Put,
		func(v *usrloc.Binding) string { return strconv.Quote(v.ID) },
		func(i int, v *usrloc.Binding, row []any) ([]any, error) {
			if err := check.Binding(v); err != nil {
				return nil, check.PutError("binding", i, err)
			}
			path, err := sqlcol.Strings(v.Path)
			if err != nil {
				return nil, fmt.Errorf("put binding %q: path: %w", v.ID, err)
			}
			return append(row, v.ID, v.AOR, v.Contact, int64(v.Q), sqlcol.Time(v.Expires),
				v.CallID, int64(v.CSeq), v.Instance, int64(v.RegID), path, v.Received, v.Transport,
				v.UserAgent, sqlcol.Time(v.Updated)), nil
		})
}

// LoadBindings reads every binding, in one snapshot, in no particular
// order.
func (s *Store) LoadBindings(ctx context.Context) ([]*usrloc.Binding, error) {
	var out []*usrloc.Binding
	err := s.read(ctx, "load usrloc bindings", func(tx *sql.Tx) error {
		var err error
		out, err = loadBindings(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func loadBindings(ctx context.Context, tx *sql.Tx) ([]*usrloc.Binding, error) {
	rows, err := tx.QueryContext(ctx, usrlocBindingsTable().Select())
	if err != nil {
		return nil, fmt.Errorf("query bindings: %w", err)
	}
	defer rows.Close()
	var out []*usrloc.Binding
	var (
		path             string
		q, cseq, regID   int64
		expires, updated sql.NullInt64
	)
	for rows.Next() {
		v := &usrloc.Binding{}
		err := rows.Scan(&v.ID, &v.AOR, &v.Contact, &q, &expires, &v.CallID, &cseq, &v.Instance, &regID,
			&path, &v.Received, &v.Transport, &v.UserAgent, &updated)
		if err != nil {
			return nil, fmt.Errorf("read binding: %w", err)
		}
		if v.Q, err = sqlcol.Int("q", q); err != nil {
			return nil, fmt.Errorf("read binding %q: %w", v.ID, err)
		}
		if v.CSeq, err = sqlcol.Uint32("cseq", cseq); err != nil {
			return nil, fmt.Errorf("read binding %q: %w", v.ID, err)
		}
		if v.RegID, err = sqlcol.Int("reg id", regID); err != nil {
			return nil, fmt.Errorf("read binding %q: %w", v.ID, err)
		}
		if v.Path, err = sqlcol.FromStrings(path); err != nil {
			return nil, fmt.Errorf("read binding %q: path: %w", v.ID, err)
		}
		v.Expires = sqlcol.FromTime(expires)
		v.Updated = sqlcol.FromTime(updated)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read bindings: %w", err)
	}
	return out, nil
}
