package proxy

import "fmt"

// Config is the proxy section.
type Config struct {
	// Enabled turns the proxy on (needs usrloc).
	Enabled bool `yaml:"enabled"`
	// MaxForwards is the Max-Forwards given to a forwarded request that
	// has none (RFC 3261 16.6 step 3). Default 70.
	MaxForwards int `yaml:"max_forwards"`
	// ForeignDomains says what happens to a request for a domain not
	// served: "refuse" (default: 403) or "forward" (to the Request-URI).
	ForeignDomains string `yaml:"foreign_domains"`
	// RecordRoute puts us in the route set of dialogs (RFC 3261 16.6 step
	// 4), so that in-dialog requests, BYE included, come through us and
	// dialogs are followed to their end. Default true.
	RecordRoute bool `yaml:"record_route"`
	// TimerC is RFC 3261 Timer C in seconds: an INVITE branch without a
	// final answer this long after its last provisional is CANCELled.
	// Default 180.
	TimerC int `yaml:"timer_c"`
}

// Default returns the defaults: on, Max-Forwards 70, foreign domains
// refused, Record-Route, Timer C 180 s.
func Default() Config {
	return Config{Enabled: true, MaxForwards: 70, ForeignDomains: "refuse", RecordRoute: true, TimerC: 180}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if c.MaxForwards < 1 || c.MaxForwards > 255 {
		errs = append(errs, fmt.Errorf("max_forwards: want 1..255, got %d", c.MaxForwards))
	}
	if c.ForeignDomains != "refuse" && c.ForeignDomains != "forward" {
		errs = append(errs, fmt.Errorf("foreign_domains: want forward or refuse, got %q", c.ForeignDomains))
	}
	if c.TimerC < 1 || c.TimerC > 86400 {
		errs = append(errs, fmt.Errorf("timer_c: want 1..86400 seconds, got %d", c.TimerC))
	}
	return errs
}
