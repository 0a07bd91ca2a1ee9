package xmpp

import (
	"context"

	"github.com/presenced/presenced/mi"
)

// Commands returns xmpp_status.
func (g *Gateway) Commands() []mi.Command {
	return []mi.Command{{
		Name:    "xmpp_status",
		Aliases: []string{"xmpp.status"},
		Help:    "the XMPP component link: state, last error, reconnects, stanza and message counters",
		Run: func(context.Context, mi.Args) (any, error) {
			return g.Status(), nil
		},
	}}
}
