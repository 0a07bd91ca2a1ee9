package registrar

import (
	"fmt"
	"strings"
)

// Config is the registrar section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// MinExpires: a binding asked for less (but 0) gets 423 with
	// Min-Expires. Default 60.
	MinExpires int `yaml:"min_expires"`
	// MaxExpires caps the lifetime of a binding. Default 3600.
	MaxExpires int `yaml:"max_expires"`
	// DefaultExpires is the lifetime of a binding that asks for none.
	// Default 3600.
	DefaultExpires int `yaml:"default_expires"`
	// MaxContacts caps the bindings of one AOR; a REGISTER that would
	// pass it gets 403. 0: no cap. Default 10.
	MaxContacts int `yaml:"max_contacts"`
	// DefaultDomain is the domain of an AOR written without one
	// ("sip:1001"). Default "": such an AOR is refused with 400.
	DefaultDomain string `yaml:"default_domain"`
	// ForeignDomainCode is the answer to a REGISTER for a domain not
	// served: 403 (default) or 404.
	ForeignDomainCode int `yaml:"foreign_domain_code"`
}

// Default returns the defaults: on.
func Default() Config {
	return Config{
		Enabled: true, MinExpires: 60, MaxExpires: 3600, DefaultExpires: 3600,
		MaxContacts: 10, ForeignDomainCode: 403,
	}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if c.MinExpires < 1 {
		errs = append(errs, fmt.Errorf("min_expires: want at least 1, got %d", c.MinExpires))
	}
	if c.MaxExpires < c.MinExpires {
		errs = append(errs, fmt.Errorf("max_expires: %d is below min_expires %d", c.MaxExpires, c.MinExpires))
	}
	if c.DefaultExpires < c.MinExpires || c.DefaultExpires > c.MaxExpires {
		errs = append(errs, fmt.Errorf("default_expires: %d is outside %d..%d", c.DefaultExpires, c.MinExpires, c.MaxExpires))
	}
	if c.MaxContacts < 0 {
		errs = append(errs, fmt.Errorf("max_contacts: must not be negative"))
	}
	if strings.ContainsAny(c.DefaultDomain, "@:;<> ") {
		errs = append(errs, fmt.Errorf("default_domain: %q is not a domain", c.DefaultDomain))
	}
	if c.ForeignDomainCode != 403 && c.ForeignDomainCode != 404 {
		errs = append(errs, fmt.Errorf("foreign_domain_code: want 403 or 404, got %d", c.ForeignDomainCode))
	}
	return errs
}
