package store

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings; none means success
	}{
		{"memory", Config{Backend: "memory", MaxBatch: 1}, nil},
		{"sqlite", Config{Backend: "sqlite", Path: filepath.Join(dir, "p.db"), MaxBatch: 1000}, nil},
		{"default", withPath(Default(), filepath.Join(dir, "d.db")), nil},
		{"postgres", Config{Backend: "postgres", DSN: "postgres://presenced@127.0.0.1/presenced", MaxBatch: 1000},
			[]string{"backend: postgres is not available in this version"}},
		{"every config error at once", Config{Backend: "sqlite"},
			[]string{"path: required with backend sqlite", "max_batch: want at least 1, got 0"}},
		{"unknown backend", Config{Backend: "redis", MaxBatch: 1}, []string{`backend: want memory, sqlite or postgres, got "redis"`}},
		{"sqlite in a missing directory", Config{Backend: "sqlite", Path: filepath.Join(dir, "no", "such", "p.db"), MaxBatch: 1},
			[]string{"open store: open sqlite"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			b, err := Open(context.Background(), tt.cfg, log)
			if len(tt.wantErr) > 0 {
				if err == nil {
					b.Close()
					t.Fatalf("got no error, want %q", tt.wantErr)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("got error %q, want it to contain %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			defer b.Close()
			batch := &presence.Batch{PutPublications: []*presence.Publication{{ID: "p1", Body: []byte("x")}}}
			if err := b.WritePresence(context.Background(), batch); err != nil {
				t.Fatalf("write: got error %v, want none", err)
			}
			st, err := b.LoadPresence(context.Background())
			if err != nil {
				t.Fatalf("load: got error %v, want none", err)
			}
			if len(st.Publications) != 1 || st.Publications[0].ID != "p1" {
				t.Errorf("load: got %+v, want publication p1", st.Publications)
			}
			// The same backend stores the pua records.
			pb := &pua.Batch{PutSubscriptions: []*pua.Subscription{{ID: "s1", NotifyBody: []byte("x")}}}
			if err := b.WritePUA(context.Background(), pb); err != nil {
				t.Fatalf("write pua: got error %v, want none", err)
			}
			if _, subs, err := b.LoadPUA(context.Background()); err != nil || len(subs) != 1 || subs[0].ID != "s1" {
				t.Errorf("load pua: got %+v, %v, want subscription s1", subs, err)
			}
			// And the bindings.
			ub := &usrloc.Batch{Put: []*usrloc.Binding{{ID: "b1", AOR: "sip:alice@example.com", Path: []string{"<sip:p;lr>"}}}}
			if err := b.WriteBindings(context.Background(), ub); err != nil {
				t.Fatalf("write bindings: got error %v, want none", err)
			}
			if bs, err := b.LoadBindings(context.Background()); err != nil || len(bs) != 1 || bs[0].ID != "b1" {
				t.Errorf("load bindings: got %+v, %v, want binding b1", bs, err)
			}
			// And the dialogs.
			db := &dialog.Batch{Put: []*dialog.Record{{Dialog: dialog.Dialog{ID: "c1.0", CallID: "c1"}, CallerRoute: []string{"<sip:p;lr>"}}}}
			if err := b.WriteDialogs(context.Background(), db); err != nil {
				t.Fatalf("write dialogs: got error %v, want none", err)
			}
			if ds, err := b.LoadDialogs(context.Background()); err != nil || len(ds) != 1 || ds[0].ID != "c1.0" {
				t.Errorf("load dialogs: got %+v, %v, want dialog c1.0", ds, err)
			}
			if err := b.Close(); err != nil {
				t.Errorf("close: got error %v, want none", err)
			}
			if want := "msg=\"store opened\" backend=" + tt.cfg.Backend; !strings.Contains(logs.String(), want) {
				t.Errorf("logs: got %q, want %s", logs.String(), want)
			}
		})
	}
}

func withPath(c Config, path string) Config {
	c.Path = path
	return c
}
