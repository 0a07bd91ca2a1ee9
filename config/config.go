package config

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/mi"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/proxy"
	"github.com/presenced/presenced/pua"
	puabla "github.com/presenced/presenced/pua/bla"
	puadialoginfo "github.com/presenced/presenced/pua/dialoginfo"
	puami "github.com/presenced/presenced/pua/mi"
	puausrloc "github.com/presenced/presenced/pua/usrloc"
	puaxmpp "github.com/presenced/presenced/pua/xmpp"
	"github.com/presenced/presenced/registrar"
	"github.com/presenced/presenced/sipnet"
	"github.com/presenced/presenced/store"
	"github.com/presenced/presenced/usrloc"
	"github.com/presenced/presenced/xmpp"
)

// Config is the whole daemon configuration, one field per section.
//
// To add a section, add its field here with its yaml tag and its
// package's Default() to Default below; loading, strictness and the call
// of its Validate() []error follow by reflection.
type Config struct {
	// Domains lists the domains served; empty serves any domain.
	Domains []string `yaml:"domains"`
	// Log sets the daemon's logging.
	Log LogConfig `yaml:"log"`
	// MemoryLimit is the daemon's memory budget: the Go runtime's soft
	// memory limit, as the GOMEMLIMIT variable sets it (and replacing it),
	// a size such as 300MiB or 2GiB. Empty: no budget, the heap may grow
	// to about twice what is live between collections.
	MemoryLimit string `yaml:"memory_limit"`

	SIP           sipnet.Config        `yaml:"sip"`
	Store         store.Config         `yaml:"store"`
	MI            mi.Config            `yaml:"mi"`
	Presence      presence.Config      `yaml:"presence"`
	PUA           pua.Config           `yaml:"pua"`
	PUAMI         puami.Config         `yaml:"pua_mi"`
	Usrloc        usrloc.Config        `yaml:"usrloc"`
	Registrar     registrar.Config     `yaml:"registrar"`
	PUAUsrloc     puausrloc.Config     `yaml:"pua_usrloc"`
	PUABLA        puabla.Config        `yaml:"pua_bla"`
	PUADialogInfo puadialoginfo.Config `yaml:"pua_dialoginfo"`
	Proxy         proxy.Config         `yaml:"proxy"`
	Dialog        dialog.Config        `yaml:"dialog"`
	XMPP          xmpp.Config          `yaml:"xmpp"`
	PUAXMPP       puaxmpp.Config       `yaml:"pua_xmpp"`
}

// LogConfig is the log section.
type LogConfig struct {
	// Level is the lowest level logged: debug, info (default), warn or
	// error. Whole SIP messages are logged at debug only.
	Level string `yaml:"level"`
	// Format is text (default, logfmt-like) or json.
	Format string `yaml:"format"`
}

// Default returns the configuration the daemon runs on with no file.
func Default() *Config {
	return &Config{
		Log:           LogConfig{Level: "info", Format: "text"},
		SIP:           sipnet.Default(),
		Store:         store.Default(),
		MI:            mi.Default(),
		Presence:      presence.Default(),
		PUA:           pua.Default(),
		PUAMI:         puami.Default(),
		Usrloc:        usrloc.Default(),
		Registrar:     registrar.Default(),
		PUAUsrloc:     puausrloc.Default(),
		PUABLA:        puabla.Default(),
		PUADialogInfo: puadialoginfo.Default(),
		Proxy:         proxy.Default(),
		Dialog:        dialog.Default(),
		XMPP:          xmpp.Default(),
		PUAXMPP:       puaxmpp.Default(),
	}
}

// Load reads the file at path and parses it as Parse does.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data)
}

// Parse overlays the YAML document data on Default() and validates the
// result. On failure it returns an *Errors holding every problem found:
// syntax, unknown and duplicate keys, wrong types, then each section's
// validation and the checks across sections.
func Parse(data []byte) (*Config, error) {
	cfg := Default()
	errs := &Errors{}
	d := newDecoder(errs)
	if !d.document(data, reflect.ValueOf(cfg).Elem()) {
		return nil, errs
	}
	cfg.validate(d, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Validate checks a Config built or changed in code, as Parse does after
// decoding. It returns nil or an *Errors; lines are not known.
func (c *Config) Validate() error {
	errs := &Errors{}
	c.validate(nil, errs)
	return errs.err()
}

// SlogLevel returns Level as a slog.Level; an invalid level is info.
func (c LogConfig) SlogLevel() slog.Level {
	switch c.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Handler returns a slog handler writing to w in Format at Level.
func (c LogConfig) Handler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: c.SlogLevel()}
	if c.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

// Validate reports every problem, each prefixed with its key.
func (c *LogConfig) Validate() []error {
	var errs []error
	switch c.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("level: want debug, info, warn or error, got %q", c.Level))
	}
	switch c.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("format: want text or json, got %q", c.Format))
	}
	return errs
}

// MemoryLimitBytes returns MemoryLimit in bytes, 0 when it is empty.
func (c *Config) MemoryLimitBytes() (int64, error) {
	return parseSize(c.MemoryLimit)
}

// parseSize reads a size as GOMEMLIMIT writes it: a whole number of bytes
// with an optional unit B, KiB, MiB, GiB or TiB. "" is 0.
func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return r != '-' && (r < '0' || r > '9') })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], s[i:]
	shift, ok := map[string]uint{"": 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}[unit]
	if !ok {
		return 0, fmt.Errorf("want a size such as 300MiB (units B, KiB, MiB, GiB, TiB), got %q", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("want a positive size such as 300MiB, got %q", s)
	}
	return n << shift, nil
}
