package events

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/watcherinfo"
)

func TestWatcherInfoName(t *testing.T) {
	p := NewWatcherInfo()
	if got, want := p.Name(), "presence.winfo"; got != want {
		t.Errorf("got name %q, want %q", got, want)
	}
	if got, want := p.ContentType(), "application/watcherinfo+xml"; got != want {
		t.Errorf("got content type %q, want %q", got, want)
	}
}

func TestWatcherInfo(t *testing.T) {
	bob := presence.WatcherState{ID: "s1", URI: "sip:bob@example.com", DisplayName: "Bob",
		Status: presence.StatusActive, Event: "approved", DurationSubscribed: 509, ExpiresIn: 3091}
	carol := presence.WatcherState{ID: "s2", URI: "sip:carol@example.net",
		Status: presence.StatusPending, DurationSubscribed: 0, ExpiresIn: 3600}
	gone := presence.WatcherState{ID: "s3", URI: "sip:dave@example.org",
		Status: presence.StatusTerminated, Event: "timeout", DurationSubscribed: 3600}
	tests := []struct {
		name    string
		partial bool
		ws      []presence.WatcherState
		golden  string
		want    []watcherinfo.Watcher
	}{
		{"full, no watcher", false, nil, "full-0.golden", nil},
		{"full, two watchers", false, []presence.WatcherState{bob, carol}, "full-2.golden", []watcherinfo.Watcher{
			{ID: "s1", Status: "active", Event: "approved", DisplayName: "Bob", DurationSubscribed: 509, HasDurationSubscribed: true,
				Expiration: 3091, HasExpiration: true, URI: "sip:bob@example.com"},
			{ID: "s2", Status: "pending", Event: "subscribe", DurationSubscribed: 0, HasDurationSubscribed: true,
				Expiration: 3600, HasExpiration: true, URI: "sip:carol@example.net"},
		}},
		{"partial, watcher gone", true, []presence.WatcherState{gone}, "partial-terminated.golden", []watcherinfo.Watcher{
			{ID: "s3", Status: "terminated", Event: "timeout", DurationSubscribed: 3600, HasDurationSubscribed: true,
				URI: "sip:dave@example.org"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewWatcherInfo()
			var b presence.Body
			if tt.partial {
				b = p.Partial(alice, "presence", tt.ws)
			} else {
				b = p.Full(alice, "presence", tt.ws)
			}
			got := dwGolden(t, filepath.Join("winfo", tt.golden), b)
			doc, err := watcherinfo.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			wantState := watcherinfo.Full
			if tt.partial {
				wantState = watcherinfo.Partial
			}
			if doc.State != wantState || doc.Version != 1 || len(doc.Lists) != 1 {
				t.Fatalf("got state %q version %d lists %d, want %s, 1, 1", doc.State, doc.Version, len(doc.Lists), wantState)
			}
			l := doc.Lists[0]
			if l.Resource != alice || l.Package != "presence" {
				t.Errorf("got resource %q package %q, want %s presence", l.Resource, l.Package, alice)
			}
			if diff := cmp.Diff(tt.want, l.Watchers); diff != "" {
				t.Errorf("watchers (-want +got):\n%s", diff)
			}
		})
	}
}

func BenchmarkWinfoFull100(b *testing.B) {
	ws := make([]presence.WatcherState, 100)
	for i := range ws {
		ws[i] = presence.WatcherState{ID: fmt.Sprintf("sub-%03d", i), URI: fmt.Sprintf("sip:watcher%03d@example.com", i),
			DisplayName: "Watcher", Status: presence.StatusActive, Event: "approved", DurationSubscribed: i * 10, ExpiresIn: 3600 - i}
	}
	p := NewWatcherInfo()
	b.ReportAllocs()
	for b.Loop() {
		if body := p.Full(alice, "presence", ws); body.Data == nil {
			b.Fatal("no body")
		}
	}
}
