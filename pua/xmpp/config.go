package puaxmpp

import (
	"fmt"

	"github.com/presenced/presenced/internal/sipaddr"
)

// Config is the pua_xmpp section.
type Config struct {
	// Enabled runs the presence gateway (needs pua and xmpp). Default
	// false.
	Enabled bool `yaml:"enabled"`
	// ServerAddress is the Contact of the SUBSCRIBEs sent for XMPP users
	// (OpenSIPS's server_address). Default "": this daemon's own.
	ServerAddress string `yaml:"server_address"`
	// Authorize makes an XMPP user's answer to a SIP watcher's request
	// (subscribed or unsubscribed) decide that watcher in the local
	// presence server. false keeps OpenSIPS's behaviour: the answer is
	// ignored. Default true.
	Authorize bool `yaml:"authorize"`
	// WinfoUsers are XMPP users (SIP URIs) whose watcher information is
	// always followed, for deployments where the SIP SUBSCRIBEs to XMPP
	// users do not pass through this daemon (a remote presence server).
	// Others are followed from the first SIP SUBSCRIBE to them.
	WinfoUsers []string `yaml:"winfo_users"`
	// WinfoExpires is how long the presence.winfo subscription opened for
	// a SIP watcher lasts past the watcher's own expiry, in seconds.
	// Default 60.
	WinfoExpires int `yaml:"winfo_expires"`
	// OfflineExpires is how long the closed state of an XMPP resource that
	// went unavailable stays published (with its unavailable status as
	// note), in seconds; 0 removes the publication at once (watchers then
	// see the presence server's offline document). Default 3600.
	OfflineExpires int `yaml:"offline_expires"`
	// ResyncTimeout is how long, after the XMPP link comes back, the
	// gateway waits for each XMPP user it publishes for to confirm its
	// presence (the answer to a probe) before withdrawing it, in seconds.
	// Default 10.
	ResyncTimeout int `yaml:"resync_timeout"`
}

// Default returns the defaults: off, XMPP answers decide.
func Default() Config {
	return Config{Authorize: true, WinfoExpires: 60, OfflineExpires: 3600, ResyncTimeout: 10}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if c.ServerAddress != "" {
		if _, err := sipaddr.Parse(c.ServerAddress); err != nil {
			errs = append(errs, fmt.Errorf("server_address: %q is not a SIP URI: %v", c.ServerAddress, err))
		}
	}
	for i, u := range c.WinfoUsers {
		if a, err := sipaddr.Parse(u); err != nil || a.User == "" {
			errs = append(errs, fmt.Errorf("winfo_users[%d]: %q is not a SIP URI with a user", i, u))
		}
	}
	if c.WinfoExpires < 0 || c.WinfoExpires > 86400 {
		errs = append(errs, fmt.Errorf("winfo_expires: want 0..86400 seconds, got %d", c.WinfoExpires))
	}
	if c.OfflineExpires < 0 || c.OfflineExpires > 86400 {
		errs = append(errs, fmt.Errorf("offline_expires: want 0..86400 seconds, got %d", c.OfflineExpires))
	}
	if c.ResyncTimeout < 1 || c.ResyncTimeout > 600 {
		errs = append(errs, fmt.Errorf("resync_timeout: want 1..600 seconds, got %d", c.ResyncTimeout))
	}
	return errs
}
