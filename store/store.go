// Package store opens the storage backend the config names. The domain
// packages declare the store interfaces they need (presence.Store,
// pua.Store, usrloc.Store, dialog.Store); the backends implement
// them:
// store/memory (tests), store/sqlite (default, embedded) and, later,
// store/postgres (shared by several nodes).
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/store/memory"
	"github.com/presenced/presenced/store/sqlite"
	"github.com/presenced/presenced/usrloc"
)

// Backend is what every backend implements: the store of each domain,
// and Close, which releases it (idempotent). The daemon hands the same
// Backend to every domain module.
type Backend interface {
	presence.Store
	pua.Store
	usrloc.Store
	dialog.Store
	io.Closer
}

var (
	_ Backend = (*memory.Store)(nil)
	_ Backend = (*sqlite.Store)(nil)
)

// Open validates cfg and opens its backend, creating or migrating the
// schema as needed. log, already scoped by the caller
// (With("module", "store")), may be nil.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (Backend, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("open store: %w", errors.Join(errs...))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("backend", cfg.Backend)
	switch cfg.Backend {
	case "memory":
		log.Info("store opened")
		return memory.New(), nil
	case "sqlite":
		s, err := sqlite.Open(ctx, cfg.Path, sqlite.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		log.Info("store opened", "path", cfg.Path)
		return s, nil
	case "postgres":
		return nil, errors.New("open store: backend postgres: not implemented yet")
	}
	// Validate rejected every other backend.
	return nil, fmt.Errorf("open store: unknown backend %q", cfg.Backend)
}
