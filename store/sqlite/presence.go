package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/store/internal/check"
	"github.com/presenced/presenced/store/internal/migrate"
	"github.com/presenced/presenced/store/internal/sqlcol"
)

// presenceSchema is the presence server's tables. The DDL is PostgreSQL's
// too, but for BLOB (BYTEA there). Times are unix nanoseconds, NULL for
// the zero time; uint32 counters are BIGINT, which holds them on both.
func presenceSchema() migrate.Domain {
	return migrate.Domain{Name: "presence", Steps: []migrate.Step{{
		Version:     1,
		Description: "publications, subscriptions, authorizations",
		Statements: []string{
			`CREATE TABLE publications (
				id           TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
				presentity   TEXT NOT NULL,
				event        TEXT NOT NULL,
				etag         TEXT NOT NULL,
				expires      BIGINT,
				updated      BIGINT,
				content_type TEXT NOT NULL,
				body         BLOB,
				sender       TEXT NOT NULL
			)`,
			`CREATE INDEX publications_presentity_event ON publications (presentity, event)`,
			`CREATE TABLE subscriptions (
				id            TEXT   NOT NULL PRIMARY KEY CHECK (id <> ''),
				call_id       TEXT   NOT NULL,
				local_tag     TEXT   NOT NULL,
				remote_tag    TEXT   NOT NULL,
				local_uri     TEXT   NOT NULL,
				remote_uri    TEXT   NOT NULL,
				remote_name   TEXT   NOT NULL,
				presentity    TEXT   NOT NULL,
				event         TEXT   NOT NULL,
				event_id      TEXT   NOT NULL,
				remote_target TEXT   NOT NULL,
				route_set     TEXT   NOT NULL,
				local_cseq    BIGINT NOT NULL,
				remote_cseq   BIGINT NOT NULL,
				transport     TEXT   NOT NULL,
				source        TEXT   NOT NULL,
				created       BIGINT,
				expires       BIGINT,
				status        TEXT   NOT NULL,
				reason        TEXT   NOT NULL,
				version       BIGINT NOT NULL
			)`,
			`CREATE INDEX subscriptions_presentity ON subscriptions (presentity)`,
			`CREATE TABLE authorizations (
				presentity TEXT NOT NULL CHECK (presentity <> ''),
				watcher    TEXT NOT NULL CHECK (watcher <> ''),
				event      TEXT NOT NULL CHECK (event <> ''),
				status     TEXT NOT NULL,
				reason     TEXT NOT NULL,
				updated    BIGINT,
				PRIMARY KEY (presentity, watcher, event)
			)`,
		},
	}}}
}

// The tables as the statements see them; the column order is the order of
// the Exec arguments and Scan destinations below.

func publicationsTable() sqlcol.Table {
	return sqlcol.Table{
		Name: "publications",
		Key:  []string{"id"},
		Cols: []string{"presentity", "event", "etag", "expires", "updated", "content_type", "body", "sender"},
	}
}

func subscriptionsTable() sqlcol.Table {
	return sqlcol.Table{
		Name: "subscriptions",
		Key:  []string{"id"},
		Cols: []string{"call_id", "local_tag", "remote_tag", "local_uri", "remote_uri", "remote_name",
			"presentity", "event", "event_id", "remote_target", "route_set", "local_cseq", "remote_cseq",
			"transport", "source", "created", "expires", "status", "reason", "version"},
	}
}

func authorizationsTable() sqlcol.Table {
	return sqlcol.Table{
		Name: "authorizations",
		Key:  []string{"presentity", "watcher", "event"},
		Cols: []string{"status", "reason", "updated"},
	}
}

// presenceStmts are the presence statements, prepared on the writer.
type presenceStmts struct {
	putPublication, deletePublication     *sql.Stmt
	putSubscription, deleteSubscription   *sql.Stmt
	putAuthorization, deleteAuthorization *sql.Stmt
}

func (st *presenceStmts) prepare(ctx context.Context, p *preparer) {
	st.putPublication = p.prepare(ctx, publicationsTable().Upsert(sqlcol.Question))
	st.deletePublication = p.prepare(ctx, publicationsTable().Delete(sqlcol.Question))
	st.putSubscription = p.prepare(ctx, subscriptionsTable().Upsert(sqlcol.Question))
	st.deleteSubscription = p.prepare(ctx, subscriptionsTable().Delete(sqlcol.Question))
	st.putAuthorization = p.prepare(ctx, authorizationsTable().Upsert(sqlcol.Question))
	st.deleteAuthorization = p.prepare(ctx, authorizationsTable().Delete(sqlcol.Question))
}

// WritePresence applies b in one transaction: all of it or, when a row is
// invalid, a statement fails or ctx ends, none of it. Within a table the
// deletes run before the puts.
func (s *Store) WritePresence(ctx context.Context, b *presence.Batch) error {
	if b == nil || b.Empty() {
		return nil
	}
	return s.write(ctx, "write presence batch", func(tx *sql.Tx) error {
		return s.presence.write(ctx, tx, b)
	})
}

func (st *presenceStmts) write(ctx context.Context, tx *sql.Tx, b *presence.Batch) error {
	err := execRows(ctx, tx, st.deletePublication, "delete publication", b.DeletePublications,
		func(k presence.PublicationKey) string { return strconv.Quote(k.ID) },
		func(_ int, k presence.PublicationKey, row []any) ([]any, error) { return append(row, k.ID), nil })
	if err != nil {
		return err
	}
	err = execRows(ctx, tx, st.putPublication, "put publication", b.PutPublications,
		func(p *presence.Publication) string { return strconv.Quote(p.ID) },
		func(i int, p *presence.Publication, row []any) ([]any, error) {
			if err := check.Publication(p); err != nil {
				return nil, check.PutError("publication", i, err)
			}
			return append(row, p.ID, p.Presentity, p.Event, p.ETag,
				sqlcol.Time(p.Expires), sqlcol.Time(p.Updated), p.ContentType, sqlcol.Bytes(p.Body), p.Sender), nil
		})
	if err != nil {
		return err
	}
	if err := deleteByID(ctx, tx, st.deleteSubscription, "delete subscription", b.DeleteSubscriptions); err != nil {
		return err
	}
	err = execRows(ctx, tx, st.putSubscription, "put subscription", b.PutSubscriptions,
		func(s *presence.Subscription) string { return strconv.Quote(s.ID) },
		func(i int, s *presence.Subscription, row []any) ([]any, error) {
			if err := check.Subscription(s); err != nil {
				return nil, check.PutError("subscription", i, err)
			}
			routes, err := sqlcol.Strings(s.RouteSet)
			if err != nil {
				return nil, fmt.Errorf("put subscription %q: %w", s.ID, err)
			}
			return append(row, s.ID, s.CallID, s.LocalTag, s.RemoteTag, s.LocalURI, s.RemoteURI,
				s.RemoteName, s.Presentity, s.Event, s.EventID, s.RemoteTarget, routes,
				int64(s.LocalCSeq), int64(s.RemoteCSeq), s.Transport, s.Source,
				sqlcol.Time(s.Created), sqlcol.Time(s.Expires), s.Status, s.Reason, int64(s.Version)), nil
		})
	if err != nil {
		return err
	}
	authKey := func(k presence.AuthorizationKey) string {
		return strconv.Quote(k.Presentity) + " " + strconv.Quote(k.Watcher) + " " + strconv.Quote(k.Event)
	}
	err = execRows(ctx, tx, st.deleteAuthorization, "delete authorization", b.DeleteAuthorizations, authKey,
		func(_ int, k presence.AuthorizationKey, row []any) ([]any, error) {
			return append(row, k.Presentity, k.Watcher, k.Event), nil
		})
	if err != nil {
		return err
	}
	return execRows(ctx, tx, st.putAuthorization, "put authorization", b.PutAuthorizations,
		func(a *presence.Authorization) string {
			return authKey(presence.AuthorizationKey{Presentity: a.Presentity, Watcher: a.Watcher, Event: a.Event})
		},
		func(i int, a *presence.Authorization, row []any) ([]any, error) {
			if err := check.Authorization(a); err != nil {
				return nil, check.PutError("authorization", i, err)
			}
			return append(row, a.Presentity, a.Watcher, a.Event, a.Status, a.Reason, sqlcol.Time(a.Updated)), nil
		})
}

// LoadPresence reads the whole presence state, in one snapshot, in no
// particular order.
func (s *Store) LoadPresence(ctx context.Context) (*presence.State, error) {
	st := &presence.State{}
	err := s.read(ctx, "load presence state", func(tx *sql.Tx) error {
		var err error
		if st.Publications, err = loadPublications(ctx, tx); err != nil {
			return err
		}
		if st.Subscriptions, err = loadSubscriptions(ctx, tx); err != nil {
			return err
		}
		st.Authorizations, err = loadAuthorizations(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

func loadPublications(ctx context.Context, tx *sql.Tx) ([]*presence.Publication, error) {
	rows, err := tx.QueryContext(ctx, publicationsTable().Select())
	if err != nil {
		return nil, fmt.Errorf("query publications: %w", err)
	}
	defer rows.Close()
	var out []*presence.Publication
	var expires, updated sql.NullInt64
	for rows.Next() {
		p := &presence.Publication{}
		err := rows.Scan(&p.ID, &p.Presentity, &p.Event, &p.ETag, &expires, &updated,
			&p.ContentType, &p.Body, &p.Sender)
		if err != nil {
			return nil, fmt.Errorf("read publication: %w", err)
		}
		p.Expires = sqlcol.FromTime(expires)
		p.Updated = sqlcol.FromTime(updated)
		p.Body = sqlcol.FromBytes(p.Body)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read publications: %w", err)
	}
	return out, nil
}

func loadSubscriptions(ctx context.Context, tx *sql.Tx) ([]*presence.Subscription, error) {
	rows, err := tx.QueryContext(ctx, subscriptionsTable().Select())
	if err != nil {
		return nil, fmt.Errorf("query subscriptions: %w", err)
	}
	defer rows.Close()
	var out []*presence.Subscription
	var (
		routes                         string
		localCSeq, remoteCSeq, version int64
		created, expires               sql.NullInt64
	)
	for rows.Next() {
		s := &presence.Subscription{}
		err := rows.Scan(&s.ID, &s.CallID, &s.LocalTag, &s.RemoteTag, &s.LocalURI, &s.RemoteURI,
			&s.RemoteName, &s.Presentity, &s.Event, &s.EventID, &s.RemoteTarget, &routes,
			&localCSeq, &remoteCSeq, &s.Transport, &s.Source,
			&created, &expires, &s.Status, &s.Reason, &version)
		if err != nil {
			return nil, fmt.Errorf("read subscription: %w", err)
		}
		if s.RouteSet, err = sqlcol.FromStrings(routes); err != nil {
			return nil, fmt.Errorf("read subscription %q: route set: %w", s.ID, err)
		}
		if s.LocalCSeq, err = sqlcol.Uint32("local cseq", localCSeq); err != nil {
			return nil, fmt.Errorf("read subscription %q: %w", s.ID, err)
		}
		if s.RemoteCSeq, err = sqlcol.Uint32("remote cseq", remoteCSeq); err != nil {
			return nil, fmt.Errorf("read subscription %q: %w", s.ID, err)
		}
		if s.Version, err = sqlcol.Uint32("version", version); err != nil {
			return nil, fmt.Errorf("read subscription %q: %w", s.ID, err)
		}
		s.Created = sqlcol.FromTime(created)
		s.Expires = sqlcol.FromTime(expires)
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read subscriptions: %w", err)
	}
	return out, nil
}

func loadAuthorizations(ctx context.Context, tx *sql.Tx) ([]*presence.Authorization, error) {
	rows, err := tx.QueryContext(ctx, authorizationsTable().Select())
	if err != nil {
		return nil, fmt.Errorf("query authorizations: %w", err)
	}
	defer rows.Close()
	var out []*presence.Authorization
	var updated sql.NullInt64
	for rows.Next() {
		a := &presence.Authorization{}
		if err := rows.Scan(&a.Presentity, &a.Watcher, &a.Event, &a.Status, &a.Reason, &updated); err != nil {
			return nil, fmt.Errorf("read authorization: %w", err)
		}
		a.Updated = sqlcol.FromTime(updated)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read authorizations: %w", err)
	}
	return out, nil
}
