package dialog

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/shard"
	"github.com/presenced/presenced/mi"
)

// Info describes one dialog (branch) for the management API.
type Info struct {
	ID        string    `json:"id"`
	CallID    string    `json:"call_id"`
	Branch    int       `json:"branch"`
	State     State     `json:"state"`
	CallerTag string    `json:"caller_tag"`
	CalleeTag string    `json:"callee_tag,omitempty"`
	Caller    PartyInfo `json:"caller"`
	Callee    PartyInfo `json:"callee"`
	Created   time.Time `json:"created"`
	Confirmed time.Time `json:"confirmed,omitzero"`
	// Expires is the number of seconds left of the maximum lifetime.
	Expires int `json:"expires"`
}

// PartyInfo is one side of a call for the management API.
type PartyInfo struct {
	URI     string `json:"uri"`
	Display string `json:"display,omitempty"`
	Target  string `json:"target,omitempty"`
}

// List returns the dialogs not terminated, by creation time.
func (s *Service) List(ctx context.Context) ([]Info, error) {
	ch := make(chan []Info, s.group.Len())
	err := s.group.Each(ctx, func(g *shard.Shard) {
		sh := s.shards[g.Index]
		now := time.Now()
		var out []Info
		for _, c := range sh.calls {
			for _, br := range c.branches {
				if br.rec.State != Terminated {
					out = append(out, info(&br.rec, now))
				}
			}
		}
		ch <- out
	})
	if err != nil {
		return nil, err
	}
	all := []Info{}
	for range s.group.Len() {
		all = append(all, <-ch...)
	}
	slices.SortFunc(all, func(a, b Info) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	return all, nil
}

func info(r *Record, now time.Time) Info {
	return Info{
		ID: r.ID, CallID: r.CallID, Branch: r.Branch, State: r.State,
		CallerTag: r.CallerTag, CalleeTag: r.CalleeTag,
		Caller:  PartyInfo(r.Caller),
		Callee:  PartyInfo(r.Callee),
		Created: r.Created, Confirmed: r.Confirmed,
		Expires: max(0, int((r.Expires.Sub(now)+time.Second-1)/time.Second)),
	}
}

// End ends the confirmed dialogs of a call (Terminated, reason admin) and
// has a BYE sent to both parties of each; it reports how many it ended.
func (s *Service) End(ctx context.Context, callID string) (int, error) {
	n := 0
	err := s.group.On(ctx, callID, func(g *shard.Shard) {
		sh := s.shards[g.Index]
		for _, c := range sh.calls {
			if c.info.CallID != callID {
				continue
			}
			for _, br := range c.branches {
				if br.rec.State != Confirmed {
					continue
				}
				sh.end(br, ReasonAdmin, 0)
				s.hangup(*br.rec.Clone())
				n++
			}
		}
	})
	return n, err
}

// Commands returns the tracker's management commands, with OpenSIPS's
// names.
func (s *Service) Commands() []mi.Command {
	return []mi.Command{
		{
			Name: "dlg_list", Aliases: []string{"dlg.list", "dialog_list"},
			Help: "list the dialogs not terminated (one per branch of a forked call)",
			Run: func(ctx context.Context, _ mi.Args) (any, error) {
				return s.List(ctx)
			},
		},
		{
			Name: "dlg_end_dlg", Aliases: []string{"dlg.end_dlg", "dialog_end"},
			Help:   "end the confirmed dialogs of a call: BYE to both parties",
			Params: []mi.Param{{Name: "callid", Required: true, Help: "the call's Call-ID"}},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				id, err := a.String("callid")
				if err != nil {
					return nil, err
				}
				n, err := s.End(ctx, id)
				if err != nil {
					return nil, err
				}
				if n == 0 {
					return nil, mi.Errorf(404, "no confirmed dialog with Call-ID %s", id)
				}
				return map[string]int{"ended": n}, nil
			},
		},
	}
}
