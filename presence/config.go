package presence

import (
	"fmt"
	"strings"
)

// Config is the presence section: the presence server (RFC 3903 event
// state compositor and RFC 6665 notifier).
type Config struct {
	Enabled bool `yaml:"enabled"`

	MinExpiresPublish     int `yaml:"min_expires_publish"`     // below: 423 with Min-Expires; default 60
	MaxExpiresPublish     int `yaml:"max_expires_publish"`     // above: capped; default 3600
	DefaultExpiresPublish int `yaml:"default_expires_publish"` // no Expires header; default 3600

	MinExpiresSubscribe     int `yaml:"min_expires_subscribe"`     // default 60
	MaxExpiresSubscribe     int `yaml:"max_expires_subscribe"`     // default 3600
	DefaultExpiresSubscribe int `yaml:"default_expires_subscribe"` // default 3600

	// MaxBodySize bounds a PUBLISH body, in bytes; larger gets 413. Default 65536.
	MaxBodySize int `yaml:"max_body_size"`
	// Shards is the number of worker goroutines presentities are spread
	// over. Default 0: four times GOMAXPROCS.
	Shards int `yaml:"shards"`
	// EndSubscriptionOnTimeout ends a subscription whose NOTIFY timed out
	// (408 or no answer). false keeps it until it expires. A 481 always
	// ends it. Default true.
	EndSubscriptionOnTimeout bool `yaml:"end_subscription_on_timeout"`
	// OfflineBody sends presence watchers a generated PIDF with basic
	// closed when a presentity has no publication left. Default true.
	OfflineBody bool `yaml:"offline_body"`
	// ContactUser is the user part of our Contact in 200s and NOTIFYs.
	// Default "presence".
	ContactUser string `yaml:"contact_user"`
	// MixDialogPresence derives "on the phone" presence from dialog
	// publications (OpenSIPS mix_dialog_presence). Default false.
	MixDialogPresence bool `yaml:"mix_dialog_presence"`

	Dialog        DialogConfig        `yaml:"dialog"`
	SLA           SLAConfig           `yaml:"sla"`
	Authorization AuthorizationConfig `yaml:"authorization"`
}

// DialogConfig holds the options of the dialog event package (RFC 4235).
type DialogConfig struct {
	// ForceSingleDialog puts only the most interesting dialog in a
	// NOTIFY, for phones that cannot take several. Default false.
	ForceSingleDialog bool `yaml:"force_single_dialog"`
	// DummyDialog sends one idle (terminated) dialog instead of an empty
	// dialog-info document, for phones that need one. Default false.
	DummyDialog bool `yaml:"dummy_dialog"`
}

// SLAConfig holds the options of the dialog;sla event package
// (draft-anil-sipping-bla-03).
type SLAConfig struct {
	// SenderHeader names the PUBLISH header carrying the phone that
	// published; that phone is not sent its own state. Default "Sender".
	SenderHeader string `yaml:"sender_header"`
	// FixRemoteTarget replaces remote target URIs by the remote identity
	// in published documents (held calls on Polycom phones). Default true.
	FixRemoteTarget bool `yaml:"fix_remote_target"`
	// PresentityFromContact takes the line a dialog;sla SUBSCRIBE is for
	// from its Contact user and From domain, as Polycom phones address it
	// (OpenSIPS's default), instead of the Request-URI. Default true.
	PresentityFromContact bool `yaml:"presentity_from_contact"`
}

// Policy actions.
const (
	ActionAllow   = "allow"   // the subscription is active
	ActionDeny    = "deny"    // polite-block: active, but NOTIFYs carry no state
	ActionConfirm = "confirm" // pending until decided through the management API
)

// AuthorizationConfig is the subscription policy: the first rule whose
// patterns match decides, else Default.
type AuthorizationConfig struct {
	Default string `yaml:"default"` // allow (default), deny or confirm
	Rules   []Rule `yaml:"rules"`
}

// Rule matches watcher and presentity URIs with shell patterns ("*" any
// run of characters, "?" one) and an optional event package.
type Rule struct {
	Watcher    string `yaml:"watcher"`    // default "*"
	Presentity string `yaml:"presentity"` // default "*"
	Event      string `yaml:"event"`      // default: every package
	Action     string `yaml:"action"`
}

// Default returns the defaults the daemon runs on with no config file.
func Default() Config {
	return Config{
		Enabled:                  true,
		MinExpiresPublish:        60,
		MaxExpiresPublish:        3600,
		DefaultExpiresPublish:    3600,
		MinExpiresSubscribe:      60,
		MaxExpiresSubscribe:      3600,
		DefaultExpiresSubscribe:  3600,
		MaxBodySize:              65536,
		EndSubscriptionOnTimeout: true,
		OfflineBody:              true,
		ContactUser:              "presence",
		SLA:                      SLAConfig{SenderHeader: "Sender", FixRemoteTarget: true, PresentityFromContact: true},
		Authorization:            AuthorizationConfig{Default: ActionAllow},
	}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf(key+": "+format, a...))
	}
	expires := func(kind string, min, max, def int) {
		if min < 0 {
			bad("min_expires_"+kind, "must not be negative")
		}
		if max < 1 {
			bad("max_expires_"+kind, "want at least 1, got %d", max)
		}
		if min > max {
			bad("min_expires_"+kind, "%d is above max_expires_%s %d", min, kind, max)
		}
		if def < min || def > max {
			bad("default_expires_"+kind, "%d is outside %d..%d", def, min, max)
		}
	}
	expires("publish", c.MinExpiresPublish, c.MaxExpiresPublish, c.DefaultExpiresPublish)
	expires("subscribe", c.MinExpiresSubscribe, c.MaxExpiresSubscribe, c.DefaultExpiresSubscribe)
	if c.MaxBodySize < 256 || c.MaxBodySize > 1<<20 {
		bad("max_body_size", "want 256..1048576, got %d", c.MaxBodySize)
	}
	if c.Shards < 0 || c.Shards > 1024 {
		bad("shards", "want 0..1024, got %d", c.Shards)
	}
	if strings.ContainsAny(c.ContactUser, "@:;<> ") {
		bad("contact_user", "%q is not a SIP user part", c.ContactUser)
	}
	if c.SLA.SenderHeader == "" || strings.ContainsAny(c.SLA.SenderHeader, ": \t") {
		bad("sla.sender_header", "%q is not a header name", c.SLA.SenderHeader)
	}
	if !validAction(c.Authorization.Default) {
		bad("authorization.default", "want allow, deny or confirm, got %q", c.Authorization.Default)
	}
	for i, r := range c.Authorization.Rules {
		if !validAction(r.Action) {
			bad(fmt.Sprintf("authorization.rules[%d].action", i), "want allow, deny or confirm, got %q", r.Action)
		}
	}
	return errs
}

func validAction(a string) bool {
	return a == ActionAllow || a == ActionDeny || a == ActionConfirm
}
