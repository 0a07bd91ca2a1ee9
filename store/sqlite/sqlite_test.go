package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/store/internal/migrate"
	"github.com/presenced/presenced/store/internal/storetest"
	"github.com/presenced/presenced/usrloc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newState is a file in a temporary directory; a restart closes the file
// and opens it again.
func newState(t *testing.T) storetest.Opener {
	path := filepath.Join(t.TempDir(), "presenced.db")
	return func(ctx context.Context) (storetest.Store, error) { return Open(ctx, path, Options{}) }
}

// TestPresence runs the presence conformance suite.
func TestPresence(t *testing.T) { storetest.Presence(t, newState) }

// TestPUA runs the pua conformance suite.
func TestPUA(t *testing.T) { storetest.PUA(t, newState) }

// TestUsrloc runs the usrloc conformance suite.
func TestUsrloc(t *testing.T) { storetest.Usrloc(t, newState) }

// TestDialog runs the dialog conformance suite.
func TestDialog(t *testing.T) { storetest.Dialog(t, newState) }

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "presenced.db")
	s, err := Open(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("open: got error %v, want none", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestPragmas(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	tests := []struct {
		db     *sql.DB
		pragma string
		want   string
	}{
		{s.writer, "journal_mode", "wal"},
		{s.writer, "synchronous", "1"}, // NORMAL
		{s.writer, "busy_timeout", "5000"},
		{s.writer, "query_only", "0"},
		{s.readers, "journal_mode", "wal"},
		{s.readers, "busy_timeout", "5000"},
		{s.readers, "query_only", "1"},
	}
	for _, tt := range tests {
		name := "writer"
		if tt.db == s.readers {
			name = "readers"
		}
		var got string
		if err := tt.db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatalf("%s %s: %v", name, tt.pragma, err)
		}
		if got != tt.want {
			t.Errorf("%s %s: got %s, want %s", name, tt.pragma, got, tt.want)
		}
	}
	if got := s.writer.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer connections: got %d, want 1", got)
	}
	if got := s.readers.Stats().MaxOpenConnections; got != 4 {
		t.Errorf("reader connections: got %d, want 4", got)
	}
}

func TestReadersCannotWrite(t *testing.T) {
	s, _ := openTemp(t)
	_, err := s.readers.ExecContext(t.Context(), `DELETE FROM publications`)
	if err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("got error %v, want a read-only error", err)
	}
}

func TestSchema(t *testing.T) {
	s, path := openTemp(t)
	ctx := t.Context()
	want := map[string]bool{
		"table schema_migrations":             true,
		"table publications":                  true,
		"index publications_presentity_event": true,
		"table subscriptions":                 true,
		"index subscriptions_presentity":      true,
		"table authorizations":                true,
		"table pua_publications":              true,
		"table pua_subscriptions":             true,
		"table usrloc_bindings":               true,
		"index usrloc_bindings_aor":           true,
		"table dialog_dialogs":                true,
		"index dialog_dialogs_call_id":        true,
	}
	rows, err := s.readers.QueryContext(ctx, `SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for rows.Next() {
		var typ, name string
		if err := rows.Scan(&typ, &name); err != nil {
			t.Fatal(err)
		}
		got[typ+" "+name] = true
	}
	rows.Close()
	for k := range want {
		if !got[k] {
			t.Errorf("schema: got no %s, want one", k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("schema: got unexpected %s", k)
		}
	}

	// The lookups the presence server and the registrar make use the
	// indexes.
	for _, q := range []string{
		`SELECT id FROM publications WHERE presentity = 'a' AND event = 'presence'`,
		`SELECT id FROM subscriptions WHERE presentity = 'a'`,
		`SELECT id FROM usrloc_bindings WHERE aor = 'sip:a@x'`,
	} {
		var plan strings.Builder
		rows, err := s.readers.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail)
		}
		rows.Close()
		if !strings.Contains(plan.String(), "USING INDEX") {
			t.Errorf("plan of %s: got %q, want an index search", q, plan.String())
		}
	}

	// A reopen applies nothing more, and records version 1 of each
	// domain once.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	s2, err := Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for domain, want := range map[string]int{"presence": 1, "pua": 2, "usrloc": 1} {
		var n, v int
		if err := s2.readers.QueryRowContext(ctx,
			`SELECT COUNT(*), MAX(version) FROM schema_migrations WHERE domain = ?`, domain).Scan(&n, &v); err != nil {
			t.Fatal(err)
		}
		if n != want || v != want {
			t.Errorf("%s migrations: got %d rows up to version %d, want %d rows up to version %d", domain, n, v, want, want)
		}
	}
	if strings.Contains(logs.String(), "schema migrated") {
		t.Errorf("reopen logs: got %q, want no migration", logs.String())
	}
}

// TestPUAMigratesPresenceFile opens a file written before the pua domain
// existed: Open adds the pua tables and keeps the presence rows.
func TestPUAMigratesPresenceFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "presenced.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Apply(ctx, db, []migrate.Domain{presenceSchema()}, migrate.Options{})
	if err == nil {
		_, err = db.ExecContext(ctx, `INSERT INTO publications (id, presentity, event, etag, content_type, sender)
			VALUES ('old', 'sip:a@x', 'presence', 'e', 'application/pidf+xml', '')`)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	s, err := Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open: got error %v, want none", err)
	}
	defer s.Close()
	if want := "domain=pua from=0 to=2"; !strings.Contains(logs.String(), want) {
		t.Errorf("logs: got %q, want %q", logs.String(), want)
	}
	if strings.Contains(logs.String(), "domain=presence") {
		t.Errorf("logs: got %q, want no presence migration", logs.String())
	}
	st, err := s.LoadPresence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Publications) != 1 || st.Publications[0].ID != "old" {
		t.Errorf("presence publications: got %+v, want old", st.Publications)
	}
	sub := &pua.Subscription{ID: "s", NotifyBody: []byte("x")}
	if err := s.WritePUA(ctx, &pua.Batch{PutSubscriptions: []*pua.Subscription{sub}}); err != nil {
		t.Fatalf("write pua: got error %v, want none", err)
	}
	if _, subs, err := s.LoadPUA(ctx); err != nil || len(subs) != 1 || subs[0].ID != "s" {
		t.Errorf("load pua: got %+v, %v, want subscription s", subs, err)
	}
}

// TestUsrlocMigratesFile opens a file written before the usrloc domain
// existed: Open adds the usrloc table and keeps the presence and pua rows.
func TestUsrlocMigratesFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "presenced.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = migrate.Apply(ctx, db, []migrate.Domain{presenceSchema(), puaSchema()}, migrate.Options{})
	if err == nil {
		_, err = db.ExecContext(ctx, `INSERT INTO pua_publications (id, presentity, event, source, owner_id, etag,
			content_type, extra_headers) VALUES ('old', 'sip:a@x', 'presence', 'mi', '', 'e', '', '[]')`)
	}
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	s, err := Open(ctx, path, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("open: got error %v, want none", err)
	}
	defer s.Close()
	if want := "domain=usrloc from=0 to=1"; !strings.Contains(logs.String(), want) {
		t.Errorf("logs: got %q, want %q", logs.String(), want)
	}
	if strings.Contains(logs.String(), "domain=presence") || strings.Contains(logs.String(), "domain=pua") {
		t.Errorf("logs: got %q, want no presence or pua migration", logs.String())
	}
	if pubs, _, err := s.LoadPUA(ctx); err != nil || len(pubs) != 1 || pubs[0].ID != "old" {
		t.Errorf("pua publications: got %+v, %v, want old", pubs, err)
	}
	b := &usrloc.Binding{ID: "b", AOR: "sip:a@x"}
	if err := s.WriteBindings(ctx, &usrloc.Batch{Put: []*usrloc.Binding{b}}); err != nil {
		t.Fatalf("write bindings: got error %v, want none", err)
	}
	if bs, err := s.LoadBindings(ctx); err != nil || len(bs) != 1 || bs[0].ID != "b" {
		t.Errorf("load bindings: got %+v, %v, want binding b", bs, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	for _, domain := range []string{"presence", "pua", "usrloc"} {
		t.Run(domain, func(t *testing.T) {
			s, path := openTemp(t)
			_, err := s.writer.ExecContext(t.Context(),
				`INSERT INTO schema_migrations (domain, version, description, applied) VALUES (?, 99, 'future', 0)`, domain)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, err = Open(t.Context(), path, Options{})
			if want := domain + " schema version 99 is newer than this binary's"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got error %v, want one containing %q", err, want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		path    string
		opts    Options
		wantErr string
	}{
		{"empty path", "", Options{}, "empty path"},
		{"in memory", ":memory:", Options{}, "use backend memory"},
		{"uri", "file:x.db?mode=ro", Options{}, "want a file path"},
		{"query", filepath.Join(dir, "x.db?_pragma=x"), Options{}, "must not contain '?'"},
		{"missing directory", filepath.Join(dir, "no", "x.db"), Options{}, "open sqlite " + filepath.Join(dir, "no", "x.db")},
		{"not a database", writeFile(t, dir, "junk.db", "this is not a database, it is just text that fills the header and more"), Options{}, "not a database"},
		{"negative readers", filepath.Join(dir, "y.db"), Options{Readers: -1}, "readers -1"},
		{"negative busy timeout", filepath.Join(dir, "y.db"), Options{BusyTimeout: -time.Second}, "busy timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.path, tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("got no error, want one containing %q", tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got error %q, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConstraintFailureRollsBack makes SQLite itself reject the last row
// of a batch, past the Go checks: the rows before it must go too.
func TestConstraintFailureRollsBack(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	// A trigger stands in for any failure of the database mid-batch.
	_, err := s.writer.ExecContext(ctx, `CREATE TRIGGER no_poison BEFORE INSERT ON authorizations
		WHEN NEW.watcher = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`)
	if err != nil {
		t.Fatal(err)
	}
	b := &presence.Batch{
		PutPublications:   []*presence.Publication{{ID: "p", Body: []byte("x")}},
		PutSubscriptions:  []*presence.Subscription{{ID: "s"}},
		PutAuthorizations: []*presence.Authorization{{Presentity: "a", Watcher: "w", Event: "e"}, {Presentity: "a", Watcher: "poison", Event: "e"}},
	}
	err = s.WritePresence(ctx, b)
	if err == nil || !strings.Contains(err.Error(), `write presence batch: put authorization "a" "poison" "e": `) ||
		!strings.Contains(err.Error(), "poisoned row") {
		t.Fatalf("got error %v, want the poisoned row's", err)
	}
	st, err := s.LoadPresence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Publications)+len(st.Subscriptions)+len(st.Authorizations) != 0 {
		t.Errorf("got %d publications, %d subscriptions, %d authorizations, want none",
			len(st.Publications), len(st.Subscriptions), len(st.Authorizations))
	}
	b.PutAuthorizations = b.PutAuthorizations[:1]
	if err := s.WritePresence(ctx, b); err != nil {
		t.Errorf("good batch after the failure: got error %v, want none", err)
	}
}

// TestPUAConstraintFailureRollsBack makes SQLite itself reject the last
// subscription of a pua batch: the publications and subscriptions before
// it must go too.
func TestPUAConstraintFailureRollsBack(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	_, err := s.writer.ExecContext(ctx, `CREATE TRIGGER no_poison BEFORE INSERT ON pua_subscriptions
		WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`)
	if err != nil {
		t.Fatal(err)
	}
	b := &pua.Batch{
		PutPublications:  []*pua.Publication{{ID: "p", Body: []byte("x")}},
		PutSubscriptions: []*pua.Subscription{{ID: "s"}, {ID: "poison"}},
	}
	err = s.WritePUA(ctx, b)
	if err == nil || !strings.Contains(err.Error(), `write pua batch: put subscription "poison": `) ||
		!strings.Contains(err.Error(), "poisoned row") {
		t.Fatalf("got error %v, want the poisoned row's", err)
	}
	pubs, subs, err := s.LoadPUA(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs)+len(subs) != 0 {
		t.Errorf("got %d publications, %d subscriptions, want none", len(pubs), len(subs))
	}
	b.PutSubscriptions = b.PutSubscriptions[:1]
	if err := s.WritePUA(ctx, b); err != nil {
		t.Errorf("good batch after the failure: got error %v, want none", err)
	}
}

// TestUsrlocConstraintFailureRollsBack makes SQLite itself reject the
// last binding of a batch: the delete and the puts before it must go too.
func TestUsrlocConstraintFailureRollsBack(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	if err := s.WriteBindings(ctx, &usrloc.Batch{Put: []*usrloc.Binding{{ID: "old", AOR: "sip:a@x"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.writer.ExecContext(ctx, `CREATE TRIGGER no_poison BEFORE INSERT ON usrloc_bindings
		WHEN NEW.id = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned row'); END`)
	if err != nil {
		t.Fatal(err)
	}
	b := &usrloc.Batch{
		Delete: []string{"old"},
		Put:    []*usrloc.Binding{{ID: "b", AOR: "sip:a@x"}, {ID: "poison", AOR: "sip:a@x"}},
	}
	err = s.WriteBindings(ctx, b)
	if err == nil || !strings.Contains(err.Error(), `write usrloc batch: put binding "poison": `) ||
		!strings.Contains(err.Error(), "poisoned row") {
		t.Fatalf("got error %v, want the poisoned row's", err)
	}
	bs, err := s.LoadBindings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 1 || bs[0].ID != "old" {
		t.Errorf("got %+v, want binding old alone", bs)
	}
	b.Put = b.Put[:1]
	if err := s.WriteBindings(ctx, b); err != nil {
		t.Errorf("good batch after the failure: got error %v, want none", err)
	}
}

// TestUsrlocLoadRejectsBadColumns stores what WriteBindings never writes:
// LoadBindings fails rather than hand back a wrapped-around number or a
// broken path.
func TestUsrlocLoadRejectsBadColumns(t *testing.T) {
	tests := []struct {
		name, set, wantErr string
	}{
		{"negative cseq", "cseq = -1", `read binding "b": cseq -1 out of range`},
		{"cseq past uint32", "cseq = 4294967296", "cseq 4294967296 out of range"},
		{"path not JSON", "path = '<sip:p;lr>'", `read binding "b": path: decode string list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTemp(t)
			ctx := t.Context()
			if err := s.WriteBindings(ctx, &usrloc.Batch{Put: []*usrloc.Binding{{ID: "b", AOR: "sip:a@x"}}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.writer.ExecContext(ctx, "UPDATE usrloc_bindings SET "+tt.set); err != nil {
				t.Fatal(err)
			}
			bs, err := s.LoadBindings(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "load usrloc bindings: ") {
				t.Errorf("got %+v, %v, want an error containing %q", bs, err, tt.wantErr)
			}
		})
	}
}

// TestUsrlocLoadSeesOneSnapshot holds a load's read transaction open
// across a write: the load must not see it.
func TestUsrlocLoadSeesOneSnapshot(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	put := func(id string) {
		t.Helper()
		if err := s.WriteBindings(ctx, &usrloc.Batch{Put: []*usrloc.Binding{{ID: id, AOR: "sip:a@x"}}}); err != nil {
			t.Fatal(err)
		}
	}
	put("one")
	err := s.read(ctx, "test", func(tx *sql.Tx) error {
		first, err := loadBindings(ctx, tx)
		if err != nil {
			return err
		}
		put("two") // commits while the read transaction is open
		second, err := loadBindings(ctx, tx)
		if err != nil {
			return err
		}
		if len(first) != 1 || len(second) != 1 {
			t.Errorf("got %d then %d bindings, want 1 and 1", len(first), len(second))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bs, err := s.LoadBindings(ctx); err != nil || len(bs) != 2 {
		t.Errorf("after the read transaction: got %d bindings, %v, want 2", len(bs), err)
	}
}

// TestPUALoadSeesOneSnapshot holds a pua load's read transaction open
// across a write: the load must not see it.
func TestPUALoadSeesOneSnapshot(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	put := func(id string) {
		t.Helper()
		err := s.WritePUA(ctx, &pua.Batch{PutPublications: []*pua.Publication{{ID: id}},
			PutSubscriptions: []*pua.Subscription{{ID: id}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("one")
	err := s.read(ctx, "test", func(tx *sql.Tx) error {
		pubs, err := loadPUAPublications(ctx, tx)
		if err != nil {
			return err
		}
		put("two") // commits while the read transaction is open
		subs, err := loadPUASubscriptions(ctx, tx)
		if err != nil {
			return err
		}
		if len(pubs) != 1 || len(subs) != 1 {
			t.Errorf("got %d publications and %d subscriptions, want 1 and 1", len(pubs), len(subs))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLoadSeesOneSnapshot holds a load's read transaction open across a
// write: the load must not see it.
func TestLoadSeesOneSnapshot(t *testing.T) {
	s, _ := openTemp(t)
	ctx := t.Context()
	put := func(id string) {
		t.Helper()
		err := s.WritePresence(ctx, &presence.Batch{PutPublications: []*presence.Publication{{ID: id}},
			PutAuthorizations: []*presence.Authorization{{Presentity: id, Watcher: "w", Event: "e"}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	put("one")
	err := s.read(ctx, "test", func(tx *sql.Tx) error {
		pubs, err := loadPublications(ctx, tx)
		if err != nil {
			return err
		}
		put("two") // commits while the read transaction is open
		auths, err := loadAuthorizations(ctx, tx)
		if err != nil {
			return err
		}
		if len(pubs) != 1 || len(auths) != 1 {
			t.Errorf("got %d publications and %d authorizations, want 1 and 1", len(pubs), len(auths))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestClosedStore(t *testing.T) {
	s, _ := openTemp(t)
	s.Close()
	if err := s.WritePresence(t.Context(), &presence.Batch{DeleteSubscriptions: []string{"x"}}); err == nil {
		t.Error("write after close: got no error, want one")
	}
	if _, err := s.LoadPresence(t.Context()); err == nil {
		t.Error("load after close: got no error, want one")
	}
	if err := s.WritePUA(t.Context(), &pua.Batch{DeleteSubscriptions: []string{"x"}}); err == nil {
		t.Error("pua write after close: got no error, want one")
	}
	if _, _, err := s.LoadPUA(t.Context()); err == nil {
		t.Error("pua load after close: got no error, want one")
	}
	if err := s.WriteBindings(t.Context(), &usrloc.Batch{Delete: []string{"x"}}); err == nil {
		t.Error("usrloc write after close: got no error, want one")
	}
	if _, err := s.LoadBindings(t.Context()); err == nil {
		t.Error("usrloc load after close: got no error, want one")
	}
}
