package presence

import "github.com/presenced/presenced/internal/sipaddr"

// policy evaluates the authorization rules of the config: the first rule
// matching the watcher, the presentity and the event decides.
type policy struct {
	def   string
	rules []Rule
}

func newPolicy(c AuthorizationConfig) policy {
	p := policy{def: c.Default}
	for _, r := range c.Rules {
		if r.Watcher == "" {
			r.Watcher = "*"
		}
		if r.Presentity == "" {
			r.Presentity = "*"
		}
		p.rules = append(p.rules, r)
	}
	return p
}

// action returns allow, deny or confirm for a watcher of a presentity's
// event package.
func (p policy) action(watcher, presentity, event string) string {
	for _, r := range p.rules {
		if r.Event != "" && r.Event != event {
			continue
		}
		if sipaddr.Match(r.Watcher, watcher) && sipaddr.Match(r.Presentity, presentity) {
			return r.Action
		}
	}
	return p.def
}

// Reasons used in Subscription-State and watcherinfo events.
const (
	reasonTimeout     = "timeout"
	reasonRejected    = "rejected"
	reasonDeactivated = "deactivated"
	reasonNoResource  = "noresource"
	reasonPoliteBlock = "polite-block"
)

// authorize decides the status of a new subscription: active, pending or
// terminated (rejected after a decision), and whether it is polite-blocked.
// A confirm policy creates a pending decision record the management API
// settles; the record is returned when it is new, to be persisted.
func (sh *pshard) authorize(p *presentity, watcher, event string) (status, reason string, created *Authorization) {
	switch sh.srv.policy.action(watcher, p.uri, event) {
	case ActionDeny:
		return StatusActive, reasonPoliteBlock, nil
	case ActionConfirm:
		if a := p.auth[authKey{watcher, event}]; a != nil {
			switch a.Status {
			case StatusActive:
				return StatusActive, "", nil
			case StatusTerminated:
				return StatusTerminated, reasonRejected, nil
			}
			return StatusPending, "", nil
		}
		if p.auth == nil {
			p.auth = map[authKey]*Authorization{}
		}
		a := &Authorization{Presentity: p.uri, Watcher: watcher, Event: event, Status: StatusPending, Updated: now()}
		p.auth[authKey{watcher, event}] = a
		return StatusPending, "", a
	}
	return StatusActive, "", nil
}
