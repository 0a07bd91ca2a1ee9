package puadialoginfo

import (
	"testing"
	"time"

	"github.com/presenced/presenced/dialog"
	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/pua"
)

// recorder is the pua seen from pua_dialoginfo: it records the requests.
type recorder struct{ reqs []pua.PublishRequest }

func (r *recorder) Publish(req pua.PublishRequest, done func(pua.Result)) {
	r.reqs = append(r.reqs, req)
	if done != nil {
		done(pua.Result{Code: 200})
	}
}

// tracker hands the subscriber to the test.
type tracker struct{ f func(dialog.Event) }

func (t *tracker) Subscribe(f func(dialog.Event)) { t.f = f }

func call(state dialog.State) dialog.Dialog {
	return dialog.Dialog{
		ID: "abc.0", CallID: "abc", CallerTag: "ft", CalleeTag: "tt",
		Caller:  dialog.Party{URI: "sip:alice@example.com", Display: "Alice", Target: "sip:alice@10.0.0.1"},
		Callee:  dialog.Party{URI: "sip:bob@example.com", Target: "sip:bob@10.0.0.2"},
		State:   state,
		Expires: time.Now().Add(time.Hour),
	}
}

func TestStateMapping(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*Config)
		events []dialog.Event
		want   []string // "presentity state expires>0|0", in order
	}{
		{"answered and hung up", nil, []dialog.Event{
			{Kind: dialog.StateChanged, Dialog: call(dialog.Trying)},
			{Kind: dialog.StateChanged, Dialog: call(dialog.Early)},
			{Kind: dialog.StateChanged, Dialog: call(dialog.Confirmed)},
			{Kind: dialog.StateChanged, Dialog: func() dialog.Dialog { d := call(dialog.Terminated); d.Reason = dialog.ReasonLocalBye; return d }()},
		}, []string{
			"sip:alice@example.com early live", "sip:bob@example.com early live",
			"sip:alice@example.com confirmed live", "sip:bob@example.com confirmed live",
			"sip:alice@example.com terminated remove", "sip:bob@example.com terminated remove",
		}},
		{"publish on trying, callee only", func(c *Config) { c.PublishOnTrying = true; c.Sides = "callee" }, []dialog.Event{
			{Kind: dialog.StateChanged, Dialog: call(dialog.Trying)},
			{Kind: dialog.StateChanged, Dialog: call(dialog.Early)},
		}, []string{"sip:bob@example.com trying live", "sip:bob@example.com early live"}},
		{"caller confirmed while ringing", func(c *Config) { c.CallerConfirmed = true; c.Sides = "caller" }, []dialog.Event{
			{Kind: dialog.StateChanged, Dialog: call(dialog.Early)},
		}, []string{"sip:alice@example.com confirmed live"}},
		{"re-INVITE republishes confirmed", func(c *Config) { c.Sides = "caller" }, []dialog.Event{
			{Kind: dialog.Refreshed, Dialog: call(dialog.Confirmed)},
		}, []string{"sip:alice@example.com confirmed live"}},
		{"calls not selected stay dark", func(c *Config) { c.CalleePatterns = []string{"sip:carol@*"} }, []dialog.Event{
			{Kind: dialog.StateChanged, Dialog: call(dialog.Early)},
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			rec, tr := &recorder{}, &tracker{}
			if _, err := New(cfg, rec, tr, nil); err != nil {
				t.Fatal(err)
			}
			for _, e := range tt.events {
				tr.f(e)
			}
			var got []string
			for _, r := range rec.reqs {
				doc, err := dialoginfo.Parse(r.Body)
				if err != nil || len(doc.Dialogs) != 1 {
					t.Fatalf("body: %v %s", err, r.Body)
				}
				life := "live"
				if r.Expires == 0 {
					life = "remove"
				}
				got = append(got, r.Presentity+" "+doc.Dialogs[0].State+" "+life)
				if r.Event != "dialog" || r.Source != pua.SourceDialogInfo {
					t.Errorf("event %q source %q, want dialog from dialoginfo", r.Event, r.Source)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("publication %d: got %q, want %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestDocument: the body says direction, tags, identities and targets,
// and each side of each branch is its own publication.
func TestDocument(t *testing.T) {
	rec, tr := &recorder{}, &tracker{}
	if _, err := New(Default(), rec, tr, nil); err != nil {
		t.Fatal(err)
	}
	d := call(dialog.Confirmed)
	tr.f(dialog.Event{Kind: dialog.StateChanged, Dialog: d})
	d.ID, d.Branch = "abc.1", 1
	tr.f(dialog.Event{Kind: dialog.StateChanged, Dialog: d})
	owners := map[string]bool{}
	for _, r := range rec.reqs {
		owners[r.OwnerID] = true
	}
	if len(owners) != 4 {
		t.Errorf("got owner ids %v, want 4 (2 sides x 2 branches)", owners)
	}
	doc, _ := dialoginfo.Parse(rec.reqs[0].Body)
	dl := doc.Dialogs[0]
	if dl.Direction != dialoginfo.Initiator || dl.LocalTag != "ft" || dl.RemoteTag != "tt" || dl.CallID != "abc" || dl.ID != "abc.0" {
		t.Errorf("caller dialog: got %+v", dl)
	}
	if dl.Local == nil || dl.Local.Identity == nil || dl.Local.Identity.URI != "sip:alice@example.com" || dl.Remote == nil || dl.Remote.Target == nil || dl.Remote.Target.URI != "sip:bob@10.0.0.2" {
		t.Errorf("caller local/remote: got %+v / %+v", dl.Local, dl.Remote)
	}
	doc, _ = dialoginfo.Parse(rec.reqs[1].Body)
	if dl := doc.Dialogs[0]; dl.Direction != dialoginfo.Recipient || dl.LocalTag != "tt" {
		t.Errorf("callee dialog: got %+v", dl)
	}
}
