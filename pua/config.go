package pua

import (
	"fmt"
	"strings"

	"github.com/presenced/presenced/internal/sipaddr"
)

// Config is the pua section: the presence user agent core that the pua_*
// modules publish and subscribe through.
type Config struct {
	// Enabled runs the pua core; the pua_* modules need it.
	Enabled bool `yaml:"enabled"`
	// PresenceServer is the SIP URI PUBLISHes and initial SUBSCRIBEs are
	// sent to, e.g. sip:127.0.0.1:5080 for a Kamailio. Default "": this
	// daemon itself, over its first UDP listener.
	PresenceServer string `yaml:"presence_server"`
	// OutboundProxy, when set, is put as a Route (loose routing) on every
	// request, e.g. sip:proxy.example.com;lr.
	OutboundProxy string `yaml:"outbound_proxy"`
	// DefaultExpires is the Expires asked for records kept "until
	// removed", at each refresh. Default 3600.
	DefaultExpires int `yaml:"default_expires"`
	// MinExpires is the least Expires ever asked for (but 0). Default 60.
	MinExpires int `yaml:"min_expires"`
	// RetryMaxInterval caps the backoff between retries after a timeout,
	// a 408 or a 5xx, in seconds. Default 60.
	RetryMaxInterval int `yaml:"retry_max_interval"`
	// ContactUser is the user part of the Contact of our SUBSCRIBEs.
	// Default "pua".
	ContactUser string `yaml:"contact_user"`
	// Shards is the number of worker goroutines records are spread over.
	// Default 0: four times GOMAXPROCS.
	Shards int `yaml:"shards"`
}

// Default returns the defaults: on, publishing to this daemon.
func Default() Config {
	return Config{
		Enabled:          true,
		DefaultExpires:   3600,
		MinExpires:       60,
		RetryMaxInterval: 60,
		ContactUser:      "pua",
	}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	for _, f := range []struct{ key, v string }{{"presence_server", c.PresenceServer}, {"outbound_proxy", c.OutboundProxy}} {
		if f.v == "" {
			continue
		}
		if _, err := sipaddr.Parse(f.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a SIP URI: %v", f.key, f.v, err))
		}
	}
	if c.DefaultExpires < 60 || c.DefaultExpires > 86400 {
		errs = append(errs, fmt.Errorf("default_expires: want 60..86400, got %d", c.DefaultExpires))
	}
	if c.MinExpires < 1 || c.MinExpires > c.DefaultExpires {
		errs = append(errs, fmt.Errorf("min_expires: want 1..default_expires, got %d", c.MinExpires))
	}
	if c.RetryMaxInterval < 1 || c.RetryMaxInterval > 3600 {
		errs = append(errs, fmt.Errorf("retry_max_interval: want 1..3600, got %d", c.RetryMaxInterval))
	}
	if c.ContactUser == "" || strings.ContainsAny(c.ContactUser, "@:;<> ") {
		errs = append(errs, fmt.Errorf("contact_user: %q is not a SIP user part", c.ContactUser))
	}
	if c.Shards < 0 || c.Shards > 1024 {
		errs = append(errs, fmt.Errorf("shards: want 0..1024, got %d", c.Shards))
	}
	return errs
}
