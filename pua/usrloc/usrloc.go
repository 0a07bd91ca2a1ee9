// Package puausrloc is pua_usrloc: phones that know nothing of presence
// appear online while registered. Each binding of a selected AOR is
// published as a PIDF tuple with basic open (one publication per binding,
// so every contact of a multi-contact AOR counts); a re-registration
// refreshes it, and the removal or expiry of the binding removes it, so the
// presence server shows closed once the last contact is gone. The
// publication's lifetime follows the binding's, and the pua core refreshes
// it before it lapses: a phone re-registering on time never flaps.
package puausrloc

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

// Config is the pua_usrloc section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// DefaultDomain completes an AOR registered without a domain.
	DefaultDomain string `yaml:"default_domain"`
	// EntityPrefix, when set, makes the PIDF entity "<prefix>:user@domain"
	// (OpenSIPS's entity_prefix, e.g. pres). Default "": the AOR itself.
	EntityPrefix string `yaml:"entity_prefix"`
	// Publish selects the registrations that publish (OpenSIPS's
	// pua_set_publish()).
	Publish Selection `yaml:"publish"`
}

// Selection says which registrations publish.
type Selection struct {
	// Mode is all (default), patterns (AORs matching Patterns) or header
	// (REGISTERs carrying Header, with Value when set).
	Mode     string   `yaml:"mode"`
	Patterns []string `yaml:"patterns"` // URI patterns, * and ?
	Header   string   `yaml:"header"`   // e.g. X-Publish-Presence
	Value    string   `yaml:"value"`    // "" matches any value
}

// Default returns the defaults: on, every registration publishes.
func Default() Config { return Config{Enabled: true, Publish: Selection{Mode: "all"}} }

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	switch c.Publish.Mode {
	case "all":
	case "patterns":
		if len(c.Publish.Patterns) == 0 {
			errs = append(errs, fmt.Errorf("publish.patterns: required with mode patterns"))
		}
	case "header":
		if c.Publish.Header == "" || strings.ContainsAny(c.Publish.Header, ": ") {
			errs = append(errs, fmt.Errorf("publish.header: a header name is required with mode header"))
		}
	default:
		errs = append(errs, fmt.Errorf("publish.mode: want all, patterns or header, got %q", c.Publish.Mode))
	}
	if strings.ContainsAny(c.EntityPrefix, "@;<> ") {
		errs = append(errs, fmt.Errorf("entity_prefix: %q is not a URI scheme", c.EntityPrefix))
	}
	if strings.ContainsAny(c.DefaultDomain, "@:;<> ") {
		errs = append(errs, fmt.Errorf("default_domain: %q is not a domain", c.DefaultDomain))
	}
	return errs
}

// PUA is what pua_usrloc needs from the pua core.
type PUA interface {
	Publish(r pua.PublishRequest, done func(pua.Result))
}

// Locations is what pua_usrloc needs from the location service.
type Locations interface {
	Subscribe(f func(usrloc.Event))
}

var (
	_ PUA       = (*pua.Client)(nil)
	_ Locations = (*usrloc.Service)(nil)
)

// Module is pua_usrloc.
type Module struct {
	cfg Config
	pua PUA
	log *slog.Logger
}

// New builds pua_usrloc and subscribes it to the location service; call
// it before the location service starts.
func New(cfg Config, p PUA, loc Locations, log *slog.Logger) (*Module, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("pua_usrloc config: %w", errors.Join(errs...))
	}
	if p == nil || loc == nil {
		return nil, errors.New("pua_usrloc: needs the pua core and the location service")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Module{cfg: cfg, pua: p, log: log.With("module", "pua_usrloc")}
	loc.Subscribe(m.onEvent)
	return m, nil
}

// onEvent turns a binding change into a publication change. It runs on a
// location shard goroutine and only queues requests in the pua core.
func (m *Module) onEvent(e usrloc.Event) {
	b := e.Binding
	pres := m.presentity(b.AOR)
	base := pua.PublishRequest{Presentity: pres, Event: "presence", Source: pua.SourceUsrloc, OwnerID: b.ID}
	switch e.Kind {
	case usrloc.Insert:
		if !m.selected(b.AOR, e.Request) {
			return
		}
		m.publish(base, b)
	case usrloc.Update:
		// A refresh of the publication, whatever the REGISTER says; a
		// binding that has none yet publishes if selected.
		r := base
		r.Expires = remaining(b)
		selected := m.selected(b.AOR, e.Request)
		m.pua.Publish(r, func(res pua.Result) {
			if errors.Is(res.Err, pua.ErrNoRecord) && selected {
				m.publish(base, b)
			}
		})
	case usrloc.Delete, usrloc.Expire:
		r := base
		r.Expires = 0
		m.pua.Publish(r, nil)
	}
}

func (m *Module) publish(r pua.PublishRequest, b usrloc.Binding) {
	r.Expires = remaining(b)
	r.ContentType = pidf.ContentType
	r.Body = pidf.Basic(true, m.entity(r.Presentity), tupleID(b.ID), "")
	m.pua.Publish(r, func(res pua.Result) {
		if !res.OK() {
			m.log.Info("publish failed", "aor", b.AOR, "code", res.Code, "reason", res.Reason)
		}
	})
}

// remaining is the binding's lifetime left, in seconds (at least 1).
func remaining(b usrloc.Binding) int {
	return max(1, int((time.Until(b.Expires)+time.Second-1)/time.Second))
}

func (m *Module) selected(aor string, req *sip.Request) bool {
	switch m.cfg.Publish.Mode {
	case "patterns":
		for _, p := range m.cfg.Publish.Patterns {
			if sipaddr.Match(p, aor) {
				return true
			}
		}
		return false
	case "header":
		if req == nil {
			return false
		}
		for _, h := range req.Headers() {
			if strings.EqualFold(h.Name(), m.cfg.Publish.Header) {
				return m.cfg.Publish.Value == "" || strings.EqualFold(strings.TrimSpace(h.Value()), m.cfg.Publish.Value)
			}
		}
		return false
	}
	return true
}

// presentity is the AOR, completed with the default domain when it has
// none.
func (m *Module) presentity(aor string) string {
	if sipaddr.Domain(aor) == "" || (sipaddr.User(aor) == "" && m.cfg.DefaultDomain != "") {
		return sipaddr.Make(strings.TrimPrefix(aor, "sip:"), m.cfg.DefaultDomain)
	}
	return aor
}

// entity is the PIDF entity: the AOR, or "<prefix>:user@domain".
func (m *Module) entity(pres string) string {
	if m.cfg.EntityPrefix == "" {
		return pres
	}
	return m.cfg.EntityPrefix + ":" + strings.TrimPrefix(pres, "sip:")
}

// tupleID is a stable tuple id per binding, so a re-published document
// keeps its tuple and two contacts never share one.
func tupleID(bindingID string) string {
	h := fnv.New64a()
	h.Write([]byte(bindingID))
	return "ul" + strconv.FormatUint(h.Sum64(), 36)
}
