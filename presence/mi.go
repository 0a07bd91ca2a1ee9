package presence

import (
	"context"
	"errors"

	"github.com/presenced/presenced/mi"
)

// Commands returns the presence server's management commands; the
// transport (JSON-RPC, CLI) only encodes and decodes.
func (s *Server) Commands() []mi.Command {
	return []mi.Command{
		{
			Name:    "presence_list",
			Aliases: []string{"pres_phtable_list", "presence.presentity_list"},
			Help:    "list presentities with their publications",
			Params:  []mi.Param{{Name: "filter", Help: "URI pattern, * and ? wildcards (default all)"}},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				f, err := a.OptString("filter")
				if err != nil {
					return nil, err
				}
				return s.Presentities(ctx, f)
			},
		},
		{
			Name:    "subscriptions_list",
			Aliases: []string{"subs_phtable_list", "presence.subscription_list"},
			Help:    "list the subscriptions (watchers) of presentities",
			Params:  []mi.Param{{Name: "filter", Help: "presentity URI pattern (default all)"}},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				f, err := a.OptString("filter")
				if err != nil {
					return nil, err
				}
				return s.Subscriptions(ctx, f)
			},
		},
		{
			Name: "watchers_pending",
			Help: "list watchers waiting for an authorization decision",
			Run: func(ctx context.Context, _ mi.Args) (any, error) {
				return s.PendingWatchers(ctx)
			},
		},
		{
			Name: "watcher_authorize",
			Help: "decide a watcher: allow (it gets the state) or deny (its subscription ends, reason rejected)",
			Params: []mi.Param{
				{Name: "presentity_uri", Required: true},
				{Name: "watcher_uri", Required: true},
				{Name: "decision", Required: true, Help: "allow or deny"},
				{Name: "event", Help: "event package (default presence)"},
			},
			Run: func(ctx context.Context, a mi.Args) (any, error) {
				pres, err := a.String("presentity_uri")
				if err != nil {
					return nil, err
				}
				w, err := a.String("watcher_uri")
				if err != nil {
					return nil, err
				}
				d, err := a.String("decision")
				if err != nil {
					return nil, err
				}
				ev, err := a.OptString("event")
				if err != nil {
					return nil, err
				}
				if d != "allow" && d != "deny" {
					return nil, mi.Errorf(400, "decision must be allow or deny, got %q", d)
				}
				if err := s.Authorize(ctx, pres, w, ev, d == "allow"); err != nil {
					if errors.Is(err, context.DeadlineExceeded) {
						return nil, err
					}
					return nil, mi.Errorf(400, "%v", err)
				}
				return map[string]string{"status": "ok"}, nil
			},
		},
	}
}
