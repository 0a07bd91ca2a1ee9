package store

import "fmt"

// Config is the store section: where state survives restarts.
type Config struct {
	// Backend is memory (nothing survives a restart), sqlite (default,
	// embedded file) or postgres (shared by several nodes).
	Backend string `yaml:"backend"`
	// Path is the SQLite database file. Default presenced.db.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection string, e.g.
	// postgres://presenced@127.0.0.1:5432/presenced.
	DSN string `yaml:"dsn"`
	// MaxBatch bounds the rows written in one transaction. Default 1000.
	MaxBatch int `yaml:"max_batch"`
}

// Default returns the defaults: SQLite in presenced.db.
func Default() Config {
	return Config{Backend: "sqlite", Path: "presenced.db", MaxBatch: 1000}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	switch c.Backend {
	case "memory":
	case "sqlite":
		if c.Path == "" {
			errs = append(errs, fmt.Errorf("path: required with backend sqlite"))
		}
	case "postgres":
		// Named so that a config written for it gets a clear answer from
		// "presenced check" rather than a failure at start.
		errs = append(errs, fmt.Errorf("backend: postgres is not available in this version (use sqlite or memory)"))
	default:
		errs = append(errs, fmt.Errorf("backend: want memory, sqlite or postgres, got %q", c.Backend))
	}
	if c.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max_batch: want at least 1, got %d", c.MaxBatch))
	}
	return errs
}
