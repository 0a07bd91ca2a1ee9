// Package puadialoginfo is pua_dialoginfo: the Busy Lamp Field. It
// follows the calls the proxy tracks (package dialog) and publishes their
// state as RFC 4235 dialog-info for the caller, the callee or both, one
// publication per party and per branch (the dialog id carries the branch),
// so a forked call's losing branch never hides the answered one.
//
// State mapping (OpenSIPS pua_dialoginfo, reference section 4.2): trying
// and proceeding publish "trying" only with publish_on_trying; early
// publishes "early" (the caller "confirmed" with caller_confirmed);
// confirmed and a re-INVITE publish "confirmed"; terminated removes the
// publication with a final body saying "terminated". Events of a call come
// in order from the tracker and each publication's requests go out in
// order from the pua core, so no early or confirmed can reach a watcher
// after the call's terminated.
package puadialoginfo

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/pua"
)

// Config is the pua_dialoginfo section.
type Config struct {
	Enabled bool `yaml:"enabled"`
	// Sides is caller, callee or both (default): whose lamps light
	// (OpenSIPS's dialoginfo_set("A"|"B")).
	Sides string `yaml:"sides"`
	// CallerPatterns and CalleePatterns select the calls that publish:
	// a call publishes when its caller matches one of CallerPatterns or
	// its callee one of CalleePatterns. Both empty (default): every call.
	CallerPatterns []string `yaml:"caller_patterns"`
	CalleePatterns []string `yaml:"callee_patterns"`
	// PublishOnTrying publishes "trying" before the phone rings. Default false.
	PublishOnTrying bool `yaml:"publish_on_trying"`
	// CallerConfirmed publishes "confirmed" instead of "early" for the
	// caller while the callee rings. Default false.
	CallerConfirmed bool `yaml:"caller_confirmed"`
	// IncludeCallID puts the call-id attribute on <dialog> (pickup needs
	// it). Default true.
	IncludeCallID bool `yaml:"include_callid"`
	// IncludeTags puts the local-tag and remote-tag attributes. Default true.
	IncludeTags bool `yaml:"include_tags"`
	// IncludeLocalRemote adds <local> and <remote> with identities and
	// targets. Default true.
	IncludeLocalRemote bool `yaml:"include_localremote"`
	// Lifetime is the Expires of trying and early publications, in
	// seconds; confirmed ones last as long as the call may. Default 3600.
	Lifetime int `yaml:"lifetime"`
}

// Default returns the defaults: on, both sides, every call.
func Default() Config {
	return Config{Enabled: true, Sides: "both", IncludeCallID: true, IncludeTags: true, IncludeLocalRemote: true, Lifetime: 3600}
}

// Validate reports every problem, each prefixed with its key.
func (c *Config) Validate() []error {
	var errs []error
	if c.Sides != "caller" && c.Sides != "callee" && c.Sides != "both" {
		errs = append(errs, fmt.Errorf("sides: want caller, callee or both, got %q", c.Sides))
	}
	if c.Lifetime < 1 || c.Lifetime > 86400 {
		errs = append(errs, fmt.Errorf("lifetime: want 1..86400 seconds, got %d", c.Lifetime))
	}
	return errs
}

// PUA is what pua_dialoginfo needs from the pua core.
type PUA interface {
	Publish(r pua.PublishRequest, done func(pua.Result))
}

var _ PUA = (*pua.Client)(nil)

// Module is pua_dialoginfo.
type Module struct {
	cfg Config
	pua PUA
	log *slog.Logger
}

// New builds pua_dialoginfo and subscribes it to the dialog tracker; call
// it before the tracker starts.
func New(cfg Config, p PUA, t dialog.Tracker, log *slog.Logger) (*Module, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("pua_dialoginfo config: %w", errors.Join(errs...))
	}
	if p == nil || t == nil {
		return nil, errors.New("pua_dialoginfo: needs the pua core and the dialog tracker")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Module{cfg: cfg, pua: p, log: log.With("module", "pua_dialoginfo")}
	t.Subscribe(m.onEvent)
	return m, nil
}

// side is one party's point of view of a branch.
type side struct {
	caller bool
	self   dialog.Party
	peer   dialog.Party
}

func (m *Module) sides(d dialog.Dialog) []side {
	if !m.selected(d) {
		return nil
	}
	var out []side
	if m.cfg.Sides != "callee" {
		out = append(out, side{caller: true, self: d.Caller, peer: d.Callee})
	}
	if m.cfg.Sides != "caller" {
		out = append(out, side{caller: false, self: d.Callee, peer: d.Caller})
	}
	return out
}

func (m *Module) selected(d dialog.Dialog) bool {
	if len(m.cfg.CallerPatterns) == 0 && len(m.cfg.CalleePatterns) == 0 {
		return true
	}
	for _, p := range m.cfg.CallerPatterns {
		if sipaddr.Match(p, d.Caller.URI) {
			return true
		}
	}
	for _, p := range m.cfg.CalleePatterns {
		if sipaddr.Match(p, d.Callee.URI) {
			return true
		}
	}
	return false
}

// onEvent maps a branch's change to publications. It runs on the
// tracker's goroutine of the call and only queues requests in the pua.
func (m *Module) onEvent(e dialog.Event) {
	d := e.Dialog
	for _, s := range m.sides(d) {
		state, expires, ok := m.mapState(e, s)
		if !ok {
			continue
		}
		m.publish(d, s, state, expires)
	}
}

// mapState decides what a side publishes for an event: the state, the
// Expires (0 removes), and whether to publish at all.
func (m *Module) mapState(e dialog.Event, s side) (string, int, bool) {
	d := e.Dialog
	switch {
	case e.Kind == dialog.Refreshed:
		return dialoginfo.Confirmed, m.confirmedLifetime(d), true
	case d.State == dialog.Trying || d.State == dialog.Proceeding:
		return dialoginfo.Trying, m.cfg.Lifetime, m.cfg.PublishOnTrying
	case d.State == dialog.Early:
		if s.caller && m.cfg.CallerConfirmed {
			return dialoginfo.Confirmed, m.cfg.Lifetime, true
		}
		return dialoginfo.Early, m.cfg.Lifetime, true
	case d.State == dialog.Confirmed:
		return dialoginfo.Confirmed, m.confirmedLifetime(d), true
	case d.State == dialog.Terminated:
		return dialoginfo.Terminated, 0, true
	}
	return "", 0, false
}

func (m *Module) confirmedLifetime(d dialog.Dialog) int {
	if d.Expires.IsZero() {
		return pua.Forever
	}
	return max(1, int(time.Until(d.Expires)/time.Second)+1)
}

func (m *Module) publish(d dialog.Dialog, s side, state string, expires int) {
	pres, err := sipaddr.ParseAOR(s.self.URI)
	if err != nil {
		m.log.Debug("no presentity for a party", "uri", s.self.URI, "err", err)
		return
	}
	p := dialoginfo.Publication{Entity: pres, ID: d.ID, State: state, Direction: dialoginfo.Recipient}
	if s.caller {
		p.Direction = dialoginfo.Initiator
	}
	if state == dialoginfo.Terminated {
		p.Event = eventOf(d.Reason)
		if d.Reason == dialog.ReasonRejected {
			p.Code = d.Code
		}
	}
	if m.cfg.IncludeCallID {
		p.CallID = d.CallID
	}
	if m.cfg.IncludeTags {
		p.LocalTag, p.RemoteTag = d.CallerTag, d.CalleeTag
		if !s.caller {
			p.LocalTag, p.RemoteTag = d.CalleeTag, d.CallerTag
		}
	}
	if m.cfg.IncludeLocalRemote {
		p.Local = &dialoginfo.Party{URI: s.self.URI, Display: s.self.Display, Target: s.self.Target}
		p.Remote = &dialoginfo.Party{URI: s.peer.URI, Display: s.peer.Display, Target: s.peer.Target}
	}
	body, _ := dialoginfo.Write(dialoginfo.Build(p), false)
	owner := d.ID + "/B"
	if s.caller {
		owner = d.ID + "/A"
	}
	req := pua.PublishRequest{
		Presentity: pres, Event: "dialog", Source: pua.SourceDialogInfo, OwnerID: owner,
		Expires: expires, ContentType: dialoginfo.ContentType, Body: body,
	}
	m.pua.Publish(req, func(r pua.Result) {
		if r.Err != nil && errors.Is(r.Err, pua.ErrNoRecord) {
			return // terminated with nothing published: nothing to remove
		}
		if !r.OK() {
			m.log.Info("dialog publish failed", "presentity", pres, "dialog", d.ID, "state", state, "code", r.Code, "reason", r.Reason)
		}
	})
}

// eventOf maps a termination reason to the RFC 4235 state event.
func eventOf(reason string) string {
	switch reason {
	case dialog.ReasonCancelled:
		return dialoginfo.EventCancelled
	case dialog.ReasonRejected:
		return dialoginfo.EventRejected
	case dialog.ReasonReplaced:
		return dialoginfo.EventReplaced
	case dialog.ReasonLocalBye:
		return dialoginfo.EventLocalBye
	case dialog.ReasonRemoteBye:
		return dialoginfo.EventRemoteBye
	case dialog.ReasonTimeout:
		return dialoginfo.EventTimeout
	case dialog.ReasonError:
		return dialoginfo.EventError
	}
	return ""
}
