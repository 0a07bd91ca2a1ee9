package dialog

import "fmt"

// Config is the dialog section.
type Config struct {
	// Enabled turns dialog tracking on (the proxy feeds it; pua_dialoginfo
	// follows it).
	Enabled bool `yaml:"enabled"`
	// MaxLifetime is the longest a dialog may last, in seconds: then it is
	// ended (Terminated, reason timeout) and both parties get a BYE.
	// Default 43200 (12 hours).
	MaxLifetime int `yaml:"max_lifetime"`
	// Shards is the number of goroutines calls are spread over, by
	// Call-ID. Default 0: four per CPU.
	Shards int `yaml:"shards"`
}

// Default returns the defaults: on, 12 hours.
func Default() Config { return Config{Enabled: true, MaxLifetime: 43200} }

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if c.MaxLifetime < 1 || c.MaxLifetime > 7*86400 {
		errs = append(errs, fmt.Errorf("max_lifetime: want 1..604800 seconds, got %d", c.MaxLifetime))
	}
	if c.Shards < 0 || c.Shards > 1024 {
		errs = append(errs, fmt.Errorf("shards: want 0..1024, got %d", c.Shards))
	}
	return errs
}
