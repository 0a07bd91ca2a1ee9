package pua

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/internal/sipaddr"
	"github.com/presenced/presenced/mi"
)

// RecordInfo describes a pua record for the management API.
type RecordInfo struct {
	Kind       string `json:"kind"` // publication or subscription
	ID         string `json:"id"`
	Presentity string `json:"presentity"`
	Watcher    string `json:"watcher,omitempty"`
	Event      string `json:"event"`
	Source     Source `json:"source"`
	OwnerID    string `json:"owner_id,omitempty"`
	ETag       string `json:"etag,omitempty"`
	State      string `json:"state"`
	Expires    int    `json:"expires"`           // seconds until the granted expiry
	Desired    int    `json:"desired,omitempty"` // seconds until the owner's expiry; -1 until removed
	InFlight   bool   `json:"in_flight"`
	Queued     int    `json:"queued"`
	CallID     string `json:"call_id,omitempty"`
	// The last NOTIFY of a subscription.
	NotifyAge         int    `json:"notify_age,omitempty"` // seconds since it came
	NotifyContentType string `json:"notify_content_type,omitempty"`
	NotifyBody        string `json:"notify_body,omitempty"`
	Reason            string `json:"reason,omitempty"`
}

// Records lists the records whose presentity matches pattern ("" or "*"
// for all), publications first, sorted by presentity.
func (c *Client) Records(ctx context.Context, pattern string) ([]RecordInfo, error) {
	if pattern == "" {
		pattern = "*"
	}
	ch := make(chan []RecordInfo, c.group.Len())
	err := c.group.Each(ctx, func(g *shard.Shard) {
		sh := c.shards[g.Index]
		now := time.Now()
		var out []RecordInfo
		for _, p := range sh.pubs {
			if !sipaddr.Match(pattern, p.Presentity) {
				continue
			}
			state := "published"
			switch {
			case p.ETag == "" && p.inflight != nil:
				state = "publishing"
			case p.timer.retrying:
				state = "retrying"
			case p.ETag == "":
				state = "unpublished"
			}
			out = append(out, RecordInfo{
				Kind: "publication", ID: p.ID, Presentity: p.Presentity, Event: p.Event, Source: p.Source,
				OwnerID: p.OwnerID, ETag: p.ETag, State: state, Expires: secondsUntil(p.Expires, now),
				Desired: desired(p.Desired, now), InFlight: p.inflight != nil, Queued: len(p.queue),
			})
		}
		for _, s := range sh.subs {
			if !sipaddr.Match(pattern, s.Presentity) {
				continue
			}
			ri := RecordInfo{
				Kind: "subscription", ID: s.ID, Presentity: s.Presentity, Watcher: s.Watcher, Event: s.Event,
				Source: s.Source, OwnerID: s.OwnerID, State: s.State, Expires: secondsUntil(s.Expires, now),
				Desired: desired(s.Desired, now), InFlight: s.inflight != nil, Queued: len(s.queue),
				CallID: s.CallID, Reason: s.Reason,
				NotifyContentType: s.NotifyContentType, NotifyBody: string(s.NotifyBody),
			}
			if ri.State == "" {
				ri.State = "subscribing"
			}
			if !s.NotifyAt.IsZero() {
				ri.NotifyAge = int(now.Sub(s.NotifyAt) / time.Second)
			}
			out = append(out, ri)
		}
		ch <- out
	})
	if err != nil {
		return nil, err
	}
	all := []RecordInfo{}
	for range c.group.Len() {
		all = append(all, <-ch...)
	}
	slices.SortFunc(all, func(a, b RecordInfo) int {
		if a.Kind != b.Kind {
			return strings.Compare(a.Kind, b.Kind)
		}
		return strings.Compare(a.Presentity+a.Event+string(a.Source)+a.Watcher+a.ID, b.Presentity+b.Event+string(b.Source)+b.Watcher+b.ID)
	})
	return all, nil
}

func secondsUntil(t, now time.Time) int {
	if t.IsZero() {
		return 0
	}
	return max(0, int((t.Sub(now)+time.Second-1)/time.Second))
}

func desired(t, now time.Time) int {
	if t.IsZero() {
		return Forever
	}
	return secondsUntil(t, now)
}

// Commands returns the pua core's management commands.
func (c *Client) Commands() []mi.Command {
	return []mi.Command{{
		Name:    "pua_list",
		Aliases: []string{"pua.list"},
		Help:    "list the pua records: publications (entity-tag, expiry, state) and subscriptions (state, last NOTIFY)",
		Params:  []mi.Param{{Name: "filter", Help: "presentity URI pattern, * and ? wildcards (default all)"}},
		Run: func(ctx context.Context, a mi.Args) (any, error) {
			f, err := a.OptString("filter")
			if err != nil {
				return nil, err
			}
			return c.Records(ctx, f)
		},
	}}
}
