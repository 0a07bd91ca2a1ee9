// Package puabla is pua_bla: Bridged Line Appearance (event dialog;sla,
// draft-anil-sipping-bla-03), compatible with Polycom phones.
//
// When a phone registers on a shared line, the BLA server subscribes to
// that phone's dialog state (SUBSCRIBE Event: dialog;sla, To the
// REGISTER's From, From the line, Contact the server_address, lifetime
// following the binding); when the binding goes, it unsubscribes and
// withdraws the phone's state. Each NOTIFY a phone sends is checked and
// published for the line (PUBLISH dialog;sla, with a header naming the
// phone), and the presence server tells every other phone of the line.
package puabla

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

// Config is the pua_bla section, with OpenSIPS's parameters.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// DefaultDomain completes a line AOR registered without a domain.
	DefaultDomain string `yaml:"default_domain"`
	// HeaderName is the PUBLISH header naming the phone a state comes
	// from; the presence server's sla.sender_header must be the same.
	// Default Sender.
	HeaderName string `yaml:"header_name"`
	// OutboundProxy, when set ("ip:port"), is where SUBSCRIBEs to phones
	// go; default: the address each phone registered from.
	OutboundProxy string `yaml:"outbound_proxy"`
	// ServerAddress is this BLA server's SIP URI, the Contact of the
	// SUBSCRIBEs to phones. Default "": this daemon's own contact.
	ServerAddress string `yaml:"server_address"`
	// Lines are the shared lines (OpenSIPS's bla_set_flag()): AOR
	// patterns, * and ? wildcards.
	Lines []string `yaml:"lines"`
}

// Default returns the defaults: off, header Sender.
func Default() Config { return Config{HeaderName: "Sender"} }

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if c.HeaderName == "" || strings.ContainsAny(c.HeaderName, ": \t") {
		errs = append(errs, fmt.Errorf("header_name: %q is not a header name", c.HeaderName))
	}
	if c.ServerAddress != "" {
		if _, err := sipaddr.Parse(c.ServerAddress); err != nil {
			errs = append(errs, fmt.Errorf("server_address: %q is not a SIP URI: %v", c.ServerAddress, err))
		}
	}
	if c.OutboundProxy != "" && !validHostPort(c.OutboundProxy) {
		errs = append(errs, fmt.Errorf("outbound_proxy: want ip:port, got %q", c.OutboundProxy))
	}
	if c.Enabled && len(c.Lines) == 0 {
		errs = append(errs, fmt.Errorf("lines: at least one shared line pattern is required"))
	}
	if strings.ContainsAny(c.DefaultDomain, "@:;<> ") {
		errs = append(errs, fmt.Errorf("default_domain: %q is not a domain", c.DefaultDomain))
	}
	return errs
}

// PUA is what pua_bla needs from the pua core.
type PUA interface {
	Publish(r pua.PublishRequest, done func(pua.Result))
	Subscribe(r pua.SubscribeRequest, done func(pua.Result))
	Register(src pua.Source, h pua.Handler)
}

// Locations is what pua_bla needs from the location service.
type Locations interface {
	Subscribe(f func(usrloc.Event))
}

var (
	_ PUA       = (*pua.Client)(nil)
	_ Locations = (*usrloc.Service)(nil)
)

// Module is pua_bla.
type Module struct {
	cfg Config
	pua PUA
	log *slog.Logger
}

// New builds pua_bla, subscribes it to the location service and registers
// its NOTIFY handler with the pua core; call it before they start.
func New(cfg Config, p PUA, loc Locations, log *slog.Logger) (*Module, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("pua_bla config: %w", errors.Join(errs...))
	}
	if p == nil || loc == nil {
		return nil, errors.New("pua_bla: needs the pua core and the location service")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Module{cfg: cfg, pua: p, log: log.With("module", "pua_bla")}
	loc.Subscribe(m.onBinding)
	p.Register(pua.SourceBLA, pua.Handler{Notify: m.onNotify})
	return m, nil
}

func (m *Module) line(aor string) (string, bool) {
	if sipaddr.User(aor) == "" && m.cfg.DefaultDomain != "" {
		aor = sipaddr.Make(strings.TrimPrefix(aor, "sip:"), m.cfg.DefaultDomain)
	}
	for _, p := range m.cfg.Lines {
		if sipaddr.Match(p, aor) {
			return aor, true
		}
	}
	return "", false
}

// onBinding subscribes to a phone that registered on a shared line, keeps
// the subscription as long as the binding, and ends it with the binding.
func (m *Module) onBinding(e usrloc.Event) {
	b := e.Binding
	line, ok := m.line(b.AOR)
	if !ok {
		return
	}
	req := pua.SubscribeRequest{
		Presentity: b.Contact, Watcher: line, Event: "dialog;sla", Source: pua.SourceBLA, OwnerID: b.ID,
		Contact: m.cfg.ServerAddress, Destination: m.cfg.OutboundProxy,
	}
	if req.Destination == "" {
		req.Destination = b.Received
	}
	switch e.Kind {
	case usrloc.Insert, usrloc.Update:
		// To is the REGISTER's From (the phone's identity on the line).
		if e.Request != nil && e.Request.From() != nil {
			req.To = e.Request.From().Address.String()
		}
		req.Expires = max(1, int(time.Until(b.Expires)/time.Second))
		m.pua.Subscribe(req, func(r pua.Result) {
			if !r.OK() {
				m.log.Info("subscribe to phone failed", "line", line, "contact", b.Contact, "code", r.Code, "reason", r.Reason)
			}
		})
	case usrloc.Delete, usrloc.Expire:
		req.Expires = 0
		m.pua.Subscribe(req, nil)
		// Whatever the phone still had on the line ends with it.
		m.pua.Publish(pua.PublishRequest{Presentity: line, Event: "dialog;sla", Source: pua.SourceBLA, OwnerID: b.ID, Expires: 0}, nil)
	}
}

// onNotify checks a phone's NOTIFY (bla_handle_notify) and publishes its
// dialog state for the line. The pua core has matched the subscription
// and checked Subscription-State; the answer is the code returned.
func (m *Module) onNotify(sub pua.Subscription, n *sip.Request) (int, string) {
	if n.Contact() == nil {
		return 400, "Bad Request (missing Contact)"
	}
	body := n.Body()
	if len(strings.TrimSpace(string(body))) == 0 {
		return 200, "OK" // nothing to publish
	}
	doc, err := dialoginfo.Parse(body)
	if err != nil {
		return 400, "Bad Request (" + oneLine(err.Error()) + ")"
	}
	if len(doc.Extensions) > 0 {
		return 400, "Bad Request (dialog-info root holds elements other than dialog)"
	}
	ss := pua.ParseSubscriptionState(header(n, "Subscription-State"))
	expires := 3600
	switch {
	case ss.State == "terminated":
		expires = 0
	case ss.Expires > 0:
		expires = ss.Expires
	}
	phone := "<" + n.Contact().Address.String() + ">"
	r := pua.PublishRequest{
		Presentity: sub.Watcher, Event: "dialog;sla", Source: pua.SourceBLA, OwnerID: sub.OwnerID,
		Expires: expires, ContentType: dialoginfo.ContentType, Body: body,
		ExtraHeaders: []string{m.cfg.HeaderName + ": " + phone},
	}
	if expires == 0 {
		r.Body = nil
	}
	m.pua.Publish(r, func(res pua.Result) {
		if !res.OK() && !errors.Is(res.Err, pua.ErrNoRecord) {
			m.log.Info("publish for the line failed", "line", sub.Watcher, "phone", phone, "code", res.Code, "reason", res.Reason)
		}
	})
	return 200, "OK"
}

func header(m interface{ Headers() []sip.Header }, name string) string {
	for _, h := range m.Headers() {
		if strings.EqualFold(h.Name(), name) {
			return h.Value()
		}
	}
	return ""
}

func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 {
			return ' '
		}
		return r
	}, s)
	if len(s) > 150 {
		s = s[:150]
	}
	return s
}

func validHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return false
	}
	p, err := strconv.Atoi(s[i+1:])
	return err == nil && p > 0 && p < 65536
}
