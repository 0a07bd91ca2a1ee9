package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/store/internal/check"
	"github.com/presenced/presenced/store/internal/migrate"
	"github.com/presenced/presenced/store/internal/sqlcol"
)

// dialogSchema is the dialog tracker's table, prefixed dialog_: the
// confirmed dialogs with what a BYE needs. The tracker loads it whole at
// start; the index on call_id serves PostgreSQL's several nodes. Route
// sets are JSON arrays; CSeqs fit BIGINT.
func dialogSchema() migrate.Domain {
	return migrate.Domain{Name: "dialog", Steps: []migrate.Step{{
		Version:     1,
		Description: "confirmed dialogs",
		Statements: []string{
			`CREATE TABLE dialog_dialogs (
				id             TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
				call_id        TEXT   NOT NULL CHECK (call_id <> ''),
				branch         BIGINT NOT NULL,
				caller_tag     TEXT   NOT NULL,
				callee_tag     TEXT   NOT NULL,
				caller_uri     TEXT   NOT NULL,
				caller_display TEXT   NOT NULL,
				caller_target  TEXT   NOT NULL,
				callee_uri     TEXT   NOT NULL,
				callee_display TEXT   NOT NULL,
				callee_target  TEXT   NOT NULL,
				state          TEXT   NOT NULL,
				created        BIGINT,
				confirmed      BIGINT,
				expires        BIGINT,
				caller_cseq    BIGINT NOT NULL,
				callee_cseq    BIGINT NOT NULL,
				caller_route   TEXT   NOT NULL,
				callee_route   TEXT   NOT NULL,
				caller_dest    TEXT   NOT NULL,
				callee_dest    TEXT   NOT NULL
			)`,
			`CREATE INDEX dialog_dialogs_call_id ON dialog_dialogs (call_id)`,
		},
	}}}
}

// dialogTable is the table as the statements see it; the column order is
// the order of the Exec arguments and Scan destinations below.
func dialogTable() sqlcol.Table {
	return sqlcol.Table{
		Name: "dialog_dialogs",
		Key:  []string{"id"},
		Cols: []string{"call_id", "branch", "caller_tag", "callee_tag",
			"caller_uri", "caller_display", "caller_target", "callee_uri", "callee_display", "callee_target",
			"state", "created", "confirmed", "expires", "caller_cseq", "callee_cseq",
			"caller_route", "callee_route", "caller_dest", "callee_dest"},
	}
}

// dialogStmts are the dialog statements, prepared on the writer.
type dialogStmts struct {
	putDialog, deleteDialog *sql.Stmt
}

func (st *dialogStmts) prepare(ctx context.Context, p *preparer) {
	st.putDialog = p.prepare(ctx, dialogTable().Upsert(sqlcol.Question))
	st.deleteDialog = p.prepare(ctx, dialogTable().Delete(sqlcol.Question))
}

// WriteDialogs applies b in one transaction: all of it or, when a row is
// invalid, a statement fails or ctx ends, none of it. The deletes run
// before the puts.
func (s *Store) WriteDialogs(ctx context.Context, b *dialog.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	return s.write(ctx, "write dialog batch", func(tx *sql.Tx) error {
		return s.dialog.write(ctx, tx, b)
	})
}

func (st *dialogStmts) write(ctx context.Context, tx *sql.Tx, b *dialog.Batch) error {
	if err := deleteByID(ctx, tx, st.deleteDialog, "delete dialog", b.Delete); err != nil {
		return err
	}
	return execRows(ctx, tx, st.putDialog, "put dialog", b.Put,
		func(v *dialog.Record) string { return strconv.Quote(v.ID) },
		func(i int, v *dialog.Record, row []any) ([]any, error) {
			if err := check.Dialog(v); err != nil {
				return nil, check.PutError("dialog", i, err)
			}
			callerRoute, err := sqlcol.Strings(v.CallerRoute)
			if err != nil {
				return nil, fmt.Errorf("put dialog %q: caller route: %w", v.ID, err)
			}
			calleeRoute, err := sqlcol.Strings(v.CalleeRoute)
			if err != nil {
				return nil, fmt.Errorf("put dialog %q: callee route: %w", v.ID, err)
			}
			return append(row, v.ID, v.CallID, int64(v.Branch), v.CallerTag, v.CalleeTag,
				v.Caller.URI, v.Caller.Display, v.Caller.Target, v.Callee.URI, v.Callee.Display, v.Callee.Target,
				string(v.State), sqlcol.Time(v.Created), sqlcol.Time(v.Confirmed), sqlcol.Time(v.Expires),
				int64(v.CallerCSeq), int64(v.CalleeCSeq), callerRoute, calleeRoute, v.CallerDest, v.CalleeDest), nil
		})
}

// LoadDialogs reads every dialog, in one snapshot, in no particular
// order.
func (s *Store) LoadDialogs(ctx context.Context) ([]*dialog.Record, error) {
	var out []*dialog.Record
	err := s.read(ctx, "load dialogs", func(tx *sql.Tx) error {
		var err error
		out, err = loadDialogs(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func loadDialogs(ctx context.Context, tx *sql.Tx) ([]*dialog.Record, error) {
	rows, err := tx.QueryContext(ctx, dialogTable().Select())
	if err != nil {
		return nil, fmt.Errorf("query dialogs: %w", err)
	}
	defer rows.Close()
	var out []*dialog.Record
	var (
		state                        string
		branch, callerSeq, calleeSeq int64
		created, confirmed, expires  sql.NullInt64
		callerRoute, calleeRoute     string
	)
	for rows.Next() {
		v := &dialog.Record{}
		err := rows.Scan(&v.ID, &v.CallID, &branch, &v.CallerTag, &v.CalleeTag,
			&v.Caller.URI, &v.Caller.Display, &v.Caller.Target, &v.Callee.URI, &v.Callee.Display, &v.Callee.Target,
			&state, &created, &confirmed, &expires, &callerSeq, &calleeSeq,
			&callerRoute, &calleeRoute, &v.CallerDest, &v.CalleeDest)
		if err != nil {
			return nil, fmt.Errorf("read dialog: %w", err)
		}
		v.State = dialog.State(state)
		if v.Branch, err = sqlcol.Int("branch", branch); err != nil {
			return nil, fmt.Errorf("read dialog %q: %w", v.ID, err)
		}
		if v.CallerCSeq, err = sqlcol.Uint32("caller cseq", callerSeq); err != nil {
			return nil, fmt.Errorf("read dialog %q: %w", v.ID, err)
		}
		if v.CalleeCSeq, err = sqlcol.Uint32("callee cseq", calleeSeq); err != nil {
			return nil, fmt.Errorf("read dialog %q: %w", v.ID, err)
		}
		if v.CallerRoute, err = sqlcol.FromStrings(callerRoute); err != nil {
			return nil, fmt.Errorf("read dialog %q: caller route: %w", v.ID, err)
		}
		if v.CalleeRoute, err = sqlcol.FromStrings(calleeRoute); err != nil {
			return nil, fmt.Errorf("read dialog %q: callee route: %w", v.ID, err)
		}
		v.Created = sqlcol.FromTime(created)
		v.Confirmed = sqlcol.FromTime(confirmed)
		v.Expires = sqlcol.FromTime(expires)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read dialogs: %w", err)
	}
	return out, nil
}
