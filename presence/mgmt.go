package presence

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/internal/sipaddr"
)

func parseAddrPort(s string) (netip.AddrPort, error) { return netip.ParseAddrPort(s) }

// PresentityInfo describes a presentity for the management API.
type PresentityInfo struct {
	URI          string            `json:"uri"`
	Publications []PublicationInfo `json:"publications"`
	Watchers     int               `json:"watchers"`
}

// PublicationInfo describes one publication.
type PublicationInfo struct {
	Event       string `json:"event"`
	ETag        string `json:"etag"`
	Expires     int    `json:"expires"` // seconds left
	ContentType string `json:"content_type"`
	Sender      string `json:"sender,omitempty"`
	Body        string `json:"body"`
}

// SubscriptionInfo describes one subscription.
type SubscriptionInfo struct {
	ID         string `json:"id"`
	Presentity string `json:"presentity"`
	Event      string `json:"event"`
	Watcher    string `json:"watcher"`
	Contact    string `json:"contact"`
	Status     string `json:"status"`
	Reason     string `json:"reason,omitempty"`
	Expires    int    `json:"expires"` // seconds left
	CSeq       uint32 `json:"cseq"`
	Version    uint32 `json:"version,omitempty"`
	Queued     int    `json:"queued_notifies"`
}

// AuthorizationInfo describes a watcher authorization decision.
type AuthorizationInfo struct {
	Presentity string `json:"presentity"`
	Watcher    string `json:"watcher"`
	Event      string `json:"event"`
	Status     string `json:"status"`
}

// onShards runs f on every shard goroutine and waits for all of them.
func (s *Server) onShards(ctx context.Context, f func(sh *pshard)) error {
	return s.group.Each(ctx, func(g *shard.Shard) { f(s.shards[g.Index]) })
}

// onShard runs f on the shard of presentity and waits for it.
func (s *Server) onShard(ctx context.Context, presentity string, f func(sh *pshard)) error {
	return s.group.On(ctx, presentity, func(g *shard.Shard) { f(s.shards[g.Index]) })
}

// Presentities lists the presentities whose URI matches pattern ("" or
// "*" for all) with their publications, sorted by URI.
func (s *Server) Presentities(ctx context.Context, pattern string) ([]PresentityInfo, error) {
	if pattern == "" {
		pattern = "*"
	}
	var parts [][]PresentityInfo
	var out []PresentityInfo
	ch := make(chan []PresentityInfo, len(s.shards))
	err := s.onShards(ctx, func(sh *pshard) {
		t := now()
		var list []PresentityInfo
		for uri, p := range sh.pres {
			if !sipaddr.Match(pattern, uri) {
				continue
			}
			info := PresentityInfo{URI: uri, Publications: []PublicationInfo{}}
			for _, es := range p.events {
				for _, ps := range es.pubs {
					info.Publications = append(info.Publications, PublicationInfo{
						Event: ps.Event, ETag: ps.ETag, Expires: secondsLeft(ps.Expires, t),
						ContentType: ps.ContentType, Sender: ps.Sender, Body: string(ps.Body),
					})
				}
				info.Watchers += es.subs.len()
			}
			if len(info.Publications) > 0 || info.Watchers > 0 {
				list = append(list, info)
			}
		}
		ch <- list
	})
	if err != nil {
		return nil, err
	}
	for range s.shards {
		parts = append(parts, <-ch)
	}
	for _, p := range parts {
		out = append(out, p...)
	}
	slices.SortFunc(out, func(a, b PresentityInfo) int { return strings.Compare(a.URI, b.URI) })
	for i := range out {
		slices.SortFunc(out[i].Publications, func(a, b PublicationInfo) int {
			return strings.Compare(a.Event+a.ETag, b.Event+b.ETag)
		})
	}
	if out == nil {
		out = []PresentityInfo{}
	}
	return out, nil
}

// Subscriptions lists the subscriptions to presentities matching pattern
// ("" or "*" for all), sorted by presentity then watcher.
func (s *Server) Subscriptions(ctx context.Context, pattern string) ([]SubscriptionInfo, error) {
	if pattern == "" {
		pattern = "*"
	}
	ch := make(chan []SubscriptionInfo, len(s.shards))
	err := s.onShards(ctx, func(sh *pshard) {
		t := now()
		var list []SubscriptionInfo
		for uri, p := range sh.pres {
			if !sipaddr.Match(pattern, uri) {
				continue
			}
			for _, es := range p.events {
				for sub := range es.subs.all {
					list = append(list, SubscriptionInfo{
						ID: sub.ID, Presentity: uri, Event: sub.Event, Watcher: sub.RemoteURI,
						Contact: sub.RemoteTarget, Status: sub.Status, Reason: sub.Reason,
						Expires: secondsLeft(sub.Expires, t), CSeq: sub.LocalCSeq, Version: sub.Version,
						Queued: len(sub.queue),
					})
				}
			}
		}
		ch <- list
	})
	if err != nil {
		return nil, err
	}
	out := []SubscriptionInfo{}
	for range s.shards {
		out = append(out, <-ch...)
	}
	slices.SortFunc(out, func(a, b SubscriptionInfo) int {
		if c := strings.Compare(a.Presentity, b.Presentity); c != 0 {
			return c
		}
		return strings.Compare(a.Watcher+a.ID, b.Watcher+b.ID)
	})
	return out, nil
}

// PendingWatchers lists the authorization decisions still pending.
func (s *Server) PendingWatchers(ctx context.Context) ([]AuthorizationInfo, error) {
	ch := make(chan []AuthorizationInfo, len(s.shards))
	err := s.onShards(ctx, func(sh *pshard) {
		var list []AuthorizationInfo
		for _, p := range sh.pres {
			for _, a := range p.auth {
				if a.Status == StatusPending {
					list = append(list, AuthorizationInfo{a.Presentity, a.Watcher, a.Event, a.Status})
				}
			}
		}
		ch <- list
	})
	if err != nil {
		return nil, err
	}
	out := []AuthorizationInfo{}
	for range s.shards {
		out = append(out, <-ch...)
	}
	slices.SortFunc(out, func(a, b AuthorizationInfo) int {
		return strings.Compare(a.Presentity+" "+a.Watcher, b.Presentity+" "+b.Watcher)
	})
	return out, nil
}

// ErrNoSuchWatcher is returned when a decision names no watcher.
var ErrNoSuchWatcher = errors.New("no such watcher")

// Authorize decides a watcher of a presentity's event package: allow
// makes its subscriptions active (they get the state), deny terminates
// them (reason rejected) and refuses later ones. The decision is stored.
func (s *Server) Authorize(ctx context.Context, presentity, watcher, event string, allow bool) error {
	pres, err := sipaddr.ParseAOR(presentity)
	if err != nil {
		return fmt.Errorf("presentity %q: %w", presentity, err)
	}
	w, err := sipaddr.ParseAOR(watcher)
	if err != nil {
		return fmt.Errorf("watcher %q: %w", watcher, err)
	}
	if event == "" {
		event = "presence"
	}
	if s.pkgs[event] == nil {
		return fmt.Errorf("unknown event package %q", event)
	}
	errc := make(chan error, 1)
	err = s.onShard(ctx, pres, func(sh *pshard) {
		errc <- sh.authorizeWatcher(pres, w, event, allow)
	})
	if err != nil {
		return err
	}
	return <-errc
}

func (sh *pshard) authorizeWatcher(pres, watcher, event string, allow bool) error {
	s := sh.srv
	p := sh.presentity(pres, true)
	status := StatusTerminated
	if allow {
		status = StatusActive
	}
	if p.auth == nil {
		p.auth = map[authKey]*Authorization{}
	}
	a := &Authorization{Presentity: pres, Watcher: watcher, Event: event, Status: status, Updated: now()}
	p.auth[authKey{watcher, event}] = a
	s.commit.Submit(&Batch{PutAuthorizations: []*Authorization{a}}, nil)
	es := p.event(event)
	if es == nil {
		return nil
	}
	for sub := range es.subs.all {
		w, err := sipaddr.ParseAOR(sub.RemoteURI)
		if err != nil || w != watcher || sub.Reason == reasonPoliteBlock {
			continue
		}
		if allow {
			if sub.Status == StatusActive {
				continue
			}
			sub.Status, sub.Reason = StatusActive, ""
			sub.needFull = true
			s.commit.Submit(&Batch{PutSubscriptions: []*Subscription{sub.record()}}, nil)
			sh.queueNotify(sub, pendingNotify{full: true})
			sh.notifyWatcherInfo(p, sub, "approved")
			continue
		}
		s.commit.Submit(&Batch{DeleteSubscriptions: []string{sub.ID}}, nil)
		sub.Reason = reasonRejected
		sh.dropSub(sub, true, reasonRejected)
	}
	return nil
}

func secondsLeft(t, now time.Time) int {
	return max(0, int((t.Sub(now)+time.Second-1)/time.Second))
}
