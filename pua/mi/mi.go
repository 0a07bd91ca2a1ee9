// Package puami is pua_mi: publish any state and subscribe to any resource
// from the management interface, with the commands and arguments of
// OpenSIPS's pua_mi (pua_publish, pua_subscribe; Kamailio's pua.publish and
// pua.subscribe names are accepted too). A command waits for the final SIP
// response and returns its code, reason, entity-tag and expiry.
package puami

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/mi"
	"github.com/presenced/presenced/pua"
)

// Config is the pua_mi section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Timeout is how long a command waits for the final SIP response, in
	// seconds; past it the command answers 408. Default 35 (a SIP
	// transaction times out after 32 s).
	Timeout int `yaml:"timeout"`
}

// Default returns the defaults: on.
func Default() Config { return Config{Enabled: true, Timeout: 35} }

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	if c.Timeout < 1 || c.Timeout > 300 {
		return []error{fmt.Errorf("timeout: want 1..300 seconds, got %d", c.Timeout)}
	}
	return nil
}

// PUA is what pua_mi needs from the pua core.
type PUA interface {
	PublishWait(ctx context.Context, r pua.PublishRequest) pua.Result
	SubscribeWait(ctx context.Context, r pua.SubscribeRequest) pua.Result
}

var _ PUA = (*pua.Client)(nil)

// Module is pua_mi.
type Module struct {
	cfg Config
	pua PUA
}

// New builds pua_mi.
func New(cfg Config, p PUA) (*Module, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("pua_mi config: %w", errors.Join(errs...))
	}
	if p == nil {
		return nil, errors.New("pua_mi: needs the pua core (pua.enabled)")
	}
	return &Module{cfg: cfg, pua: p}, nil
}

// Reply is what pua_publish and pua_subscribe return: the final response
// of the request sent.
type Reply struct {
	Code    int    `json:"code"`
	Reason  string `json:"reason"`
	ETag    string `json:"ETag,omitempty"`
	Expires int    `json:"Expires"`
}

// PublishArgs are pua_publish's arguments, "" for OpenSIPS's ".".
type PublishArgs struct {
	Presentity   string
	Expires      int // seconds; 0 removes; -1 until removed
	Event        string
	ContentType  string
	ETag         string
	ExtraHeaders string // CRLF- or newline-separated "Name: value" lines
	Body         string
}

// Publish sends a PUBLISH for args and waits for its final response.
func (m *Module) Publish(ctx context.Context, a PublishArgs) (Reply, error) {
	if _, err := sipaddr.Parse(a.Presentity); err != nil {
		return Reply{}, mi.Errorf(404, "bad presentity_uri %q: %v", a.Presentity, err)
	}
	ev, err := pua.NormalizeEvent(a.Event)
	if err != nil {
		return Reply{}, mi.Errorf(400, "%v", err)
	}
	if a.Expires < -1 {
		return Reply{}, mi.Errorf(400, "bad expires %d: want seconds, 0 to remove, -1 for until removed", a.Expires)
	}
	if (a.ContentType == "") != (a.Body == "") {
		return Reply{}, mi.Errorf(400, "content_type and publish_body go together: give both or neither")
	}
	if a.ETag == "" && a.Body == "" {
		if a.Expires == 0 {
			return Reply{}, mi.Errorf(400, "removing a publication needs its ETag")
		}
		return Reply{}, mi.Errorf(400, "a new publication needs a content_type and a publish_body")
	}
	r := pua.PublishRequest{
		Presentity: a.Presentity, Event: ev, Source: pua.SourceMI, Expires: a.Expires,
		ContentType: a.ContentType, ETag: a.ETag, New: a.ETag == "",
		ExtraHeaders: splitHeaders(a.ExtraHeaders),
	}
	if a.Body != "" {
		r.Body = []byte(a.Body)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(m.cfg.Timeout)*time.Second)
	defer cancel()
	res := m.pua.PublishWait(ctx, r)
	return reply(res)
}

// SubscribeArgs are pua_subscribe's arguments.
type SubscribeArgs struct {
	Presentity string
	Watcher    string
	Event      string
	Expires    int // seconds; 0 unsubscribes; -1 until unsubscribed
}

// Subscribe sends a SUBSCRIBE from the watcher to the presentity and waits
// for its final response. The NOTIFYs that follow show in pua_list.
func (m *Module) Subscribe(ctx context.Context, a SubscribeArgs) (Reply, error) {
	if _, err := sipaddr.Parse(a.Presentity); err != nil {
		return Reply{}, mi.Errorf(400, "bad presentity_uri %q: %v", a.Presentity, err)
	}
	if _, err := sipaddr.Parse(a.Watcher); err != nil {
		return Reply{}, mi.Errorf(400, "bad watcher_uri %q: %v", a.Watcher, err)
	}
	ev, err := pua.NormalizeEvent(a.Event)
	if err != nil {
		return Reply{}, mi.Errorf(400, "%v", err)
	}
	if a.Expires < -1 {
		return Reply{}, mi.Errorf(400, "bad expires %d: want seconds, 0 to unsubscribe, -1 for until unsubscribed", a.Expires)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(m.cfg.Timeout)*time.Second)
	defer cancel()
	res := m.pua.SubscribeWait(ctx, pua.SubscribeRequest{
		Presentity: a.Presentity, Watcher: a.Watcher, Event: ev, Source: pua.SourceMI, Expires: a.Expires,
	})
	return reply(res)
}

// reply turns a pua result into the command's answer: a SIP outcome
// (whatever its code) is a reply; a request that could not be sent is an
// error.
func reply(res pua.Result) (Reply, error) {
	if res.Code == 0 {
		switch {
		case errors.Is(res.Err, pua.ErrNoRecord):
			return Reply{}, mi.Errorf(418, "wrong ETag: %s", res.Reason)
		case errors.Is(res.Err, pua.ErrUnknownEvent), errors.Is(res.Err, pua.ErrNoBody):
			return Reply{}, mi.Errorf(400, "%s", res.Reason)
		}
		return Reply{}, mi.Errorf(500, "not sent: %s", res.Reason)
	}
	return Reply{Code: res.Code, Reason: res.Reason, ETag: res.ETag, Expires: res.Expires}, nil
}

// splitHeaders splits extra headers given as one string: lines separated
// by CRLF, LF, or the two characters \r\n as typed in a shell.
func splitHeaders(s string) []string {
	s = strings.ReplaceAll(s, `\r\n`, "\n")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// Commands returns pua_publish and pua_subscribe.
func (m *Module) Commands() []mi.Command {
	return []mi.Command{
		{
			Name:    "pua_publish",
			Aliases: []string{"pua_mi:publish", "pua.publish"},
			Help:    "publish state for a presentity: presentity_uri expires event_package content_type ETag extra_headers [publish_body] (\".\" for none)",
			Params: []mi.Param{
				{Name: "presentity_uri", Required: true},
				{Name: "expires", Required: true, Help: "seconds; 0 removes (needs the ETag); -1 until removed"},
				{Name: "event_package", Required: true, Help: "presence, dialog, dialog;sla, presence.winfo, message-summary, reg"},
				{Name: "content_type", Help: "body type, or ."},
				{Name: "ETag", Help: "entity-tag of the publication to refresh, modify or remove, or ."},
				{Name: "extra_headers", Help: "extra headers (CRLF separated), or ."},
				{Name: "publish_body", Help: "the body; absent for a refresh"},
			},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				var pa PublishArgs
				var err error
				if pa.Presentity, err = a.String("presentity_uri"); err != nil {
					return nil, err
				}
				if pa.Expires, err = a.Int("expires"); err != nil {
					return nil, err
				}
				if pa.Event, err = a.String("event_package"); err != nil {
					return nil, err
				}
				for _, f := range []struct {
					name string
					v    *string
				}{{"content_type", &pa.ContentType}, {"ETag", &pa.ETag}, {"extra_headers", &pa.ExtraHeaders}, {"publish_body", &pa.Body}} {
					if *f.v, err = a.OptString(f.name); err != nil {
						return nil, err
					}
				}
				return m.Publish(ctx, pa)
			},
		},
		{
			Name:    "pua_subscribe",
			Aliases: []string{"pua_mi:subscribe", "pua.subscribe"},
			Help:    "subscribe a watcher to a presentity's event package: presentity_uri watcher_uri event_package expires",
			Params: []mi.Param{
				{Name: "presentity_uri", Required: true},
				{Name: "watcher_uri", Required: true},
				{Name: "event_package", Required: true},
				{Name: "expires", Required: true, Help: "seconds; 0 unsubscribes; -1 until unsubscribed"},
			},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				var sa SubscribeArgs
				var err error
				if sa.Presentity, err = a.String("presentity_uri"); err != nil {
					return nil, err
				}
				if sa.Watcher, err = a.String("watcher_uri"); err != nil {
					return nil, err
				}
				if sa.Event, err = a.String("event_package"); err != nil {
					return nil, err
				}
				if sa.Expires, err = a.Int("expires"); err != nil {
					return nil, err
				}
				return m.Subscribe(ctx, sa)
			},
		},
	}
}
