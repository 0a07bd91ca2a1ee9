package events

import (
	"math"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/watcherinfo"
)

// winfoPkg is the presence.winfo package (RFC 3857/3858). It keeps no
// state.
type winfoPkg struct{}

var _ presence.WatcherInfoPackage = winfoPkg{}

// NewWatcherInfo returns the presence.winfo package: watcherinfo
// documents listing the watchers of a presentity's presence.
func NewWatcherInfo() presence.WatcherInfoPackage { return winfoPkg{} }

func (winfoPkg) Name() string { return "presence.winfo" }

func (winfoPkg) ContentType() string { return watcherinfo.ContentType }

// Full lists every watcher of the presentity's package watched.
func (winfoPkg) Full(presentity, watched string, ws []presence.WatcherState) presence.Body {
	return winfoBody(watcherinfo.Full, presentity, watched, ws)
}

// Partial lists only the watchers in ws, those that changed.
func (winfoPkg) Partial(presentity, watched string, ws []presence.WatcherState) presence.Body {
	return winfoBody(watcherinfo.Partial, presentity, watched, ws)
}

func winfoBody(state, presentity, watched string, ws []presence.WatcherState) presence.Body {
	list := watcherinfo.WatcherList{Resource: presentity, Package: watched}
	if len(ws) > 0 {
		list.Watchers = make([]watcherinfo.Watcher, len(ws))
	}
	for i := range ws {
		list.Watchers[i] = winfoWatcher(&ws[i])
	}
	doc := watcherinfo.Document{State: state, Lists: []watcherinfo.WatcherList{list}}
	data, at := watcherinfo.Write(&doc, true)
	return presence.Body{Data: data, VersionAt: at}
}

// winfoWatcher converts one watcher. Expiration is left out for a
// terminated subscription; an empty event is "subscribe", the event of a
// subscription that just arrived.
func winfoWatcher(s *presence.WatcherState) watcherinfo.Watcher {
	w := watcherinfo.Watcher{
		ID:                    s.ID,
		Status:                s.Status,
		Event:                 s.Event,
		DisplayName:           s.DisplayName,
		DurationSubscribed:    winfoSeconds(s.DurationSubscribed),
		HasDurationSubscribed: true,
		URI:                   s.URI,
	}
	if w.Event == "" {
		w.Event = watcherinfo.EventSubscribe
	}
	if s.Status != presence.StatusTerminated {
		w.Expiration, w.HasExpiration = winfoSeconds(s.ExpiresIn), true
	}
	return w
}

// winfoSeconds clamps a number of seconds to the attribute's range.
func winfoSeconds(n int) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}
