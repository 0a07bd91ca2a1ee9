package check

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

func TestPresenceBatch(t *testing.T) {
	now := time.Now()
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		b       presence.Batch
		wantErr string
	}{
		{"empty", presence.Batch{}, ""},
		{"good", presence.Batch{
			PutPublications:   []*presence.Publication{{ID: "p", Expires: now}},
			PutSubscriptions:  []*presence.Subscription{{ID: "s"}},
			PutAuthorizations: []*presence.Authorization{{Presentity: "a", Watcher: "b", Event: "presence"}},
		}, ""},
		{"deletes are not checked", presence.Batch{
			DeletePublications:   []presence.PublicationKey{{}},
			DeleteSubscriptions:  []string{""},
			DeleteAuthorizations: []presence.AuthorizationKey{{}},
		}, ""},
		{"nil publication", presence.Batch{PutPublications: []*presence.Publication{{ID: "p"}, nil}}, "put publication 1: nil row"},
		{"publication without id", presence.Batch{PutPublications: []*presence.Publication{{}}}, "put publication 0: empty id"},
		{"publication expires too late", presence.Batch{PutPublications: []*presence.Publication{{ID: "p", Expires: far}}}, "put publication 0: expires 2300-01-01T00:00:00Z out of range"},
		{"publication updated too early", presence.Batch{PutPublications: []*presence.Publication{{ID: "p", Updated: early}}}, "updated 1600"},
		{"nil subscription", presence.Batch{PutSubscriptions: []*presence.Subscription{nil}}, "put subscription 0: nil row"},
		{"subscription without id", presence.Batch{PutSubscriptions: []*presence.Subscription{{CallID: "c"}}}, "empty id"},
		{"subscription created too early", presence.Batch{PutSubscriptions: []*presence.Subscription{{ID: "s", Created: early}}}, "created 1600"},
		{"subscription expires too late", presence.Batch{PutSubscriptions: []*presence.Subscription{{ID: "s", Expires: far}}}, "expires 2300"},
		{"nil authorization", presence.Batch{PutAuthorizations: []*presence.Authorization{nil}}, "put authorization 0: nil row"},
		{"authorization without watcher", presence.Batch{PutAuthorizations: []*presence.Authorization{{Presentity: "a", Event: "presence"}}}, "incomplete key"},
		{"authorization updated too late", presence.Batch{PutAuthorizations: []*presence.Authorization{{Presentity: "a", Watcher: "b", Event: "presence", Updated: far}}}, "updated 2300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := PresenceBatch(&tt.b)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPUABatch(t *testing.T) {
	now := time.Now()
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		b       pua.Batch
		wantErr string
	}{
		{"empty", pua.Batch{}, ""},
		{"good", pua.Batch{
			PutPublications:  []*pua.Publication{{ID: "p", Expires: now, Desired: now}},
			PutSubscriptions: []*pua.Subscription{{ID: "s", Expires: now, NotifyAt: now}},
		}, ""},
		{"deletes are not checked", pua.Batch{DeletePublications: []string{""}, DeleteSubscriptions: []string{""}}, ""},
		{"nil publication", pua.Batch{PutPublications: []*pua.Publication{{ID: "p"}, nil}}, "put publication 1: nil row"},
		{"publication without id", pua.Batch{PutPublications: []*pua.Publication{{ETag: "e"}}}, "put publication 0: empty id"},
		{"publication expires too late", pua.Batch{PutPublications: []*pua.Publication{{ID: "p", Expires: far}}}, "put publication 0: expires 2300-01-01T00:00:00Z out of range"},
		{"publication desired too early", pua.Batch{PutPublications: []*pua.Publication{{ID: "p", Desired: early}}}, "desired 1600"},
		{"nil subscription", pua.Batch{PutSubscriptions: []*pua.Subscription{nil}}, "put subscription 0: nil row"},
		{"subscription without id", pua.Batch{PutSubscriptions: []*pua.Subscription{{ID: "s"}, {CallID: "c"}}}, "put subscription 1: empty id"},
		{"subscription expires too early", pua.Batch{PutSubscriptions: []*pua.Subscription{{ID: "s", Expires: early}}}, "expires 1600"},
		{"subscription desired too late", pua.Batch{PutSubscriptions: []*pua.Subscription{{ID: "s", Desired: far}}}, "desired 2300"},
		{"subscription notify at too late", pua.Batch{PutSubscriptions: []*pua.Subscription{{ID: "s", NotifyAt: far}}}, "notify at 2300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := PUABatch(&tt.b)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestUsrlocBatch(t *testing.T) {
	now := time.Now()
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		b       usrloc.Batch
		wantErr string
	}{
		{"empty", usrloc.Batch{}, ""},
		{"good", usrloc.Batch{Put: []*usrloc.Binding{
			{ID: "b", AOR: "sip:alice@example.com", Expires: now, Updated: now},
			{ID: "minimal", AOR: "sip:bob@example.com"},
		}}, ""},
		{"earliest and latest times", usrloc.Batch{Put: []*usrloc.Binding{
			{ID: "b", AOR: "a", Expires: time.Unix(0, math.MaxInt64), Updated: time.Unix(0, math.MinInt64)},
		}}, ""},
		{"deletes are not checked", usrloc.Batch{Delete: []string{""}}, ""},
		{"nil binding", usrloc.Batch{Put: []*usrloc.Binding{{ID: "b", AOR: "a"}, nil}}, "put binding 1: nil row"},
		{"binding without id", usrloc.Batch{Put: []*usrloc.Binding{{AOR: "sip:alice@example.com"}}}, "put binding 0: empty id"},
		{"binding without aor", usrloc.Batch{Put: []*usrloc.Binding{{ID: "b", AOR: "a"}, {ID: "c", Contact: "sip:c@x"}}}, "put binding 1: empty aor"},
		{"binding expires too late", usrloc.Batch{Put: []*usrloc.Binding{{ID: "b", AOR: "a", Expires: far}}}, "put binding 0: expires 2300-01-01T00:00:00Z out of range"},
		{"binding expires too early", usrloc.Batch{Put: []*usrloc.Binding{{ID: "b", AOR: "a", Expires: early}}}, "expires 1600"},
		{"binding updated too late", usrloc.Batch{Put: []*usrloc.Binding{{ID: "b", AOR: "a", Updated: far}}}, "updated 2300"},
		{"binding updated just past the latest", usrloc.Batch{Put: []*usrloc.Binding{
			{ID: "b", AOR: "a", Updated: time.Unix(0, math.MaxInt64).Add(time.Nanosecond)},
		}}, "put binding 0: updated 2262"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := UsrlocBatch(&tt.b)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDialogBatch(t *testing.T) {
	far := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	d := func(id, callID string) *dialog.Record {
		return &dialog.Record{Dialog: dialog.Dialog{ID: id, CallID: callID}}
	}
	tests := []struct {
		name    string
		b       dialog.Batch
		wantErr string
	}{
		{"empty", dialog.Batch{}, ""},
		{"good", dialog.Batch{Put: []*dialog.Record{d("c.0", "c"), d("c.1", "c")}}, ""},
		{"deletes are not checked", dialog.Batch{Delete: []string{""}}, ""},
		{"nil dialog", dialog.Batch{Put: []*dialog.Record{d("c.0", "c"), nil}}, "put dialog 1: nil row"},
		{"dialog without id", dialog.Batch{Put: []*dialog.Record{d("", "c")}}, "put dialog 0: empty id"},
		{"dialog without call id", dialog.Batch{Put: []*dialog.Record{d("c.0", "c"), d("c.1", "")}}, "put dialog 1: empty call id"},
		{"created too late", dialog.Batch{Put: []*dialog.Record{{Dialog: dialog.Dialog{ID: "x", CallID: "c", Created: far}}}}, "put dialog 0: created 2300"},
		{"confirmed too late", dialog.Batch{Put: []*dialog.Record{{Dialog: dialog.Dialog{ID: "x", CallID: "c", Confirmed: far}}}}, "confirmed 2300"},
		{"expires too late", dialog.Batch{Put: []*dialog.Record{{Dialog: dialog.Dialog{ID: "x", CallID: "c", Expires: far}}}}, "expires 2300"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DialogBatch(&tt.b)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
