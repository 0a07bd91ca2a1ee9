package mi

import (
	"fmt"
	"net/netip"
)

// Config is the mi section: the management API's HTTP listener.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Listen is host:port of the HTTP server serving /mi, /metrics and
	// /health. Default 127.0.0.1:8888 (OpenSIPS's mi_http port).
	Listen string `yaml:"listen"`
}

// Default returns the defaults: on, loopback only.
func Default() Config {
	return Config{Enabled: true, Listen: "127.0.0.1:8888"}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if c.Enabled {
		if _, err := netip.ParseAddrPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen: %v", err))
		}
	}
	return errs
}
