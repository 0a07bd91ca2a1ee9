package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/store/internal/check"
	"github.com/presenced/presenced/store/internal/migrate"
	"github.com/presenced/presenced/store/internal/sqlcol"
)

// puaSchema is the pua core's tables, prefixed pua_ to keep them apart
// from the presence server's. The pua reads them only whole, at start, so
// they have no index but their key. Header and route lists are JSON
// arrays; the To URI is to_uri, TO being reserved in SQL.
func puaSchema() migrate.Domain {
	return migrate.Domain{Name: "pua", Steps: []migrate.Step{{
		Version:     1,
		Description: "pua publications and subscriptions",
		Statements: []string{
			`CREATE TABLE pua_publications (
				id            TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
				presentity    TEXT NOT NULL,
				event         TEXT NOT NULL,
				source        TEXT NOT NULL,
				owner_id      TEXT NOT NULL,
				etag          TEXT NOT NULL,
				content_type  TEXT NOT NULL,
				body          BLOB,
				extra_headers TEXT NOT NULL,
				expires       BIGINT,
				desired       BIGINT
			)`,
			`CREATE TABLE pua_subscriptions (
				id                  TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
				presentity          TEXT   NOT NULL,
				to_uri              TEXT   NOT NULL,
				watcher             TEXT   NOT NULL,
				event               TEXT   NOT NULL,
				source              TEXT   NOT NULL,
				owner_id            TEXT   NOT NULL,
				contact             TEXT   NOT NULL,
				call_id             TEXT   NOT NULL,
				local_tag           TEXT   NOT NULL,
				remote_tag          TEXT   NOT NULL,
				route_set           TEXT   NOT NULL,
				remote_target       TEXT   NOT NULL,
				local_cseq          BIGINT NOT NULL,
				remote_cseq         BIGINT NOT NULL,
				extra_headers       TEXT   NOT NULL,
				expires             BIGINT,
				desired             BIGINT,
				state               TEXT   NOT NULL,
				reason              TEXT   NOT NULL,
				notify_at           BIGINT,
				notify_content_type TEXT   NOT NULL,
				notify_body         BLOB
			)`,
		},
	}, {
		Version:     2,
		Description: "pua subscriptions: destination (next hop of requests to a phone)",
		Statements: []string{
			`ALTER TABLE pua_subscriptions ADD COLUMN destination TEXT NOT NULL DEFAULT ''`,
		},
	}}}
}

// The tables as the statements see them; the column order is the order of
// the Exec arguments and Scan destinations below.

func puaPublicationsTable() sqlcol.Table {
	return sqlcol.Table{
		Name: "pua_publications",
		Key:  []string{"id"},
		Cols: []string{"presentity", "event", "source", "owner_id", "etag", "content_type", "body",
			"extra_headers", "expires", "desired"},
	}
}

func puaSubscriptionsTable() sqlcol.Table {
	return sqlcol.Table{
		Name: "pua_subscriptions",
		Key:  []string{"id"},
		Cols: []string{"presentity", "to_uri", "watcher", "event", "source", "owner_id", "contact",
			"call_id", "local_tag", "remote_tag", "route_set", "remote_target", "local_cseq", "remote_cseq",
			"extra_headers", "expires", "desired", "state", "reason", "notify_at", "notify_content_type",
			"notify_body", "destination"},
	}
}

// puaStmts are the pua statements, prepared on the writer.
type puaStmts struct {
	putPublication, deletePublication   *sql.Stmt
	putSubscription, deleteSubscription *sql.Stmt
}

func (st *puaStmts) prepare(ctx context.Context, p *preparer) {
	st.putPublication = p.prepare(ctx, puaPublicationsTable().Upsert(sqlcol.Question))
	st.deletePublication = p.prepare(ctx, puaPublicationsTable().Delete(sqlcol.Question))
	st.putSubscription = p.prepare(ctx, puaSubscriptionsTable().Upsert(sqlcol.Question))
	st.deleteSubscription = p.prepare(ctx, puaSubscriptionsTable().Delete(sqlcol.Question))
}

// WritePUA applies b in one transaction: all of it or, when a row is
// invalid, a statement fails or ctx ends, none of it. Within a table the
// deletes run before the puts; publications go before subscriptions.
func (s *Store) WritePUA(ctx context.Context, b *pua.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	return s.write(ctx, "write pua batch", func(tx *sql.Tx) error {
		return s.pua.write(ctx, tx, b)
	})
}

func (st *puaStmts) write(ctx context.Context, tx *sql.Tx, b *pua.Batch) error {
	if err := deleteByID(ctx, tx, st.deletePublication, "delete publication", b.DeletePublications); err != nil {
		return err
	}
	err := execRows(ctx, tx, st.putPublication, "put publication", b.PutPublications,
		func(p *pua.Publication) string { return strconv.Quote(p.ID) },
		func(i int, p *pua.Publication, row []any) ([]any, error) {
			if err := check.PUAPublication(p); err != nil {
				return nil, check.PutError("publication", i, err)
			}
			headers, err := sqlcol.Strings(p.ExtraHeaders)
			if err != nil {
				return nil, fmt.Errorf("put publication %q: extra headers: %w", p.ID, err)
			}
			return append(row, p.ID, p.Presentity, p.Event, string(p.Source), p.OwnerID, p.ETag,
				p.ContentType, sqlcol.Bytes(p.Body), headers, sqlcol.Time(p.Expires), sqlcol.Time(p.Desired)), nil
		})
	if err != nil {
		return err
	}
	if err := deleteByID(ctx, tx, st.deleteSubscription, "delete subscription", b.DeleteSubscriptions); err != nil {
		return err
	}
	return execRows(ctx, tx, st.putSubscription, "put subscription", b.PutSubscriptions,
		func(s *pua.Subscription) string { return strconv.Quote(s.ID) },
		func(i int, s *pua.Subscription, row []any) ([]any, error) {
			if err := check.PUASubscription(s); err != nil {
				return nil, check.PutError("subscription", i, err)
			}
			routes, err := sqlcol.Strings(s.RouteSet)
			if err != nil {
				return nil, fmt.Errorf("put subscription %q: route set: %w", s.ID, err)
			}
			headers, err := sqlcol.Strings(s.ExtraHeaders)
			if err != nil {
				return nil, fmt.Errorf("put subscription %q: extra headers: %w", s.ID, err)
			}
			return append(row, s.ID, s.Presentity, s.To, s.Watcher, s.Event, string(s.Source),
				s.OwnerID, s.Contact, s.CallID, s.LocalTag, s.RemoteTag, routes, s.RemoteTarget,
				int64(s.LocalCSeq), int64(s.RemoteCSeq), headers,
				sqlcol.Time(s.Expires), sqlcol.Time(s.Desired), s.State, s.Reason,
				sqlcol.Time(s.NotifyAt), s.NotifyContentType, sqlcol.Bytes(s.NotifyBody), s.Destination), nil
		})
}

// LoadPUA reads every pua record, in one snapshot, in no particular
// order.
func (s *Store) LoadPUA(ctx context.Context) (pubs []*pua.Publication, subs []*pua.Subscription, err error) {
	err = s.read(ctx, "load pua records", func(tx *sql.Tx) error {
		var err error
		if pubs, err = loadPUAPublications(ctx, tx); err != nil {
			return err
		}
		subs, err = loadPUASubscriptions(ctx, tx)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return pubs, subs, nil
}

func loadPUAPublications(ctx context.Context, tx *sql.Tx) ([]*pua.Publication, error) {
	rows, err := tx.QueryContext(ctx, puaPublicationsTable().Select())
	if err != nil {
		return nil, fmt.Errorf("query publications: %w", err)
	}
	defer rows.Close()
	var out []*pua.Publication
	var (
		source, headers  string
		expires, desired sql.NullInt64
	)
	for rows.Next() {
		p := &pua.Publication{}
		err := rows.Scan(&p.ID, &p.Presentity, &p.Event, &source, &p.OwnerID, &p.ETag,
			&p.ContentType, &p.Body, &headers, &expires, &desired)
		if err != nil {
			return nil, fmt.Errorf("read publication: %w", err)
		}
		p.Source = pua.Source(source)
		p.Body = sqlcol.FromBytes(p.Body)
		if p.ExtraHeaders, err = sqlcol.FromStrings(headers); err != nil {
			return nil, fmt.Errorf("read publication %q: extra headers: %w", p.ID, err)
		}
		p.Expires = sqlcol.FromTime(expires)
		p.Desired = sqlcol.FromTime(desired)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read publications: %w", err)
	}
	return out, nil
}

func loadPUASubscriptions(ctx context.Context, tx *sql.Tx) ([]*pua.Subscription, error) {
	rows, err := tx.QueryContext(ctx, puaSubscriptionsTable().Select())
	if err != nil {
		return nil, fmt.Errorf("query subscriptions: %w", err)
	}
	defer rows.Close()
	var out []*pua.Subscription
	var (
		source, routes, headers    string
		localCSeq, remoteCSeq      int64
		expires, desired, notifyAt sql.NullInt64
	)
	for rows.Next() {
		s := &pua.Subscription{}
		err := rows.Scan(&s.ID, &s.Presentity, &s.To, &s.Watcher, &s.Event, &source,
			&s.OwnerID, &s.Contact, &s.CallID, &s.LocalTag, &s.RemoteTag, &routes, &s.RemoteTarget,
			&localCSeq, &remoteCSeq, &headers,
			&expires, &desired, &s.State, &s.Reason,
			&notifyAt, &s.NotifyContentType, &s.NotifyBody, &s.Destination)
		if err != nil {
			return nil, fmt.Errorf("read subscription: %w", err)
		}
		s.Source = pua.Source(source)
		if s.RouteSet, err = sqlcol.FromStrings(routes); err != nil {
			return nil, fmt.Errorf("read subscription %q: route set: %w", s.ID, err)
		}
		if s.ExtraHeaders, err = sqlcol.FromStrings(headers); err != nil {
			return nil, fmt.Errorf("read subscription %q: extra headers: %w", s.ID, err)
		}
		if s.LocalCSeq, err = sqlcol.Uint32("local cseq", localCSeq); err != nil {
			return nil, fmt.Errorf("read subscription %q: %w", s.ID, err)
		}
		if s.RemoteCSeq, err = sqlcol.Uint32("remote cseq", remoteCSeq); err != nil {
			return nil, fmt.Errorf("read subscription %q: %w", s.ID, err)
		}
		s.Expires = sqlcol.FromTime(expires)
		s.Desired = sqlcol.FromTime(desired)
		s.NotifyAt = sqlcol.FromTime(notifyAt)
		s.NotifyBody = sqlcol.FromBytes(s.NotifyBody)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read subscriptions: %w", err)
	}
	return out, nil
}
