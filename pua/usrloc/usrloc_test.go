package puausrloc

import (
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/presenced/presenced/pidf"
	"github.com/presenced/presenced/pua"
	"github.com/presenced/presenced/usrloc"
)

// recorder is the pua seen from pua_usrloc.
type recorder struct{ reqs []pua.PublishRequest }

func (r *recorder) Publish(req pua.PublishRequest, done func(pua.Result)) {
	r.reqs = append(r.reqs, req)
	if done != nil {
		done(pua.Result{Code: 200})
	}
}

type locations struct{ f func(usrloc.Event) }

func (l *locations) Subscribe(f func(usrloc.Event)) { l.f = f }

func register(header string) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "example.com"})
	if header != "" {
		name, value, _ := strings.Cut(header, ":")
		req.AppendHeader(sip.NewHeader(name, strings.TrimSpace(value)))
	}
	return req
}

// TestEntityAndSelection: the PIDF entity takes the entity prefix, tuple
// ids are stable per binding, and the selection modes filter inserts.
func TestEntityAndSelection(t *testing.T) {
	b := usrloc.Binding{ID: "b1", AOR: "sip:alice@example.com", Expires: time.Now().Add(time.Hour)}
	tests := []struct {
		name    string
		cfg     func(*Config)
		req     *sip.Request
		publish bool
		entity  string
	}{
		{"all, plain entity", nil, register(""), true, "sip:alice@example.com"},
		{"entity prefix", func(c *Config) { c.EntityPrefix = "pres" }, register(""), true, "pres:alice@example.com"},
		{"patterns match", func(c *Config) { c.Publish = Selection{Mode: "patterns", Patterns: []string{"sip:a*@example.com"}} }, register(""), true, "sip:alice@example.com"},
		{"patterns miss", func(c *Config) { c.Publish = Selection{Mode: "patterns", Patterns: []string{"sip:bob@*"}} }, register(""), false, ""},
		{"header present", func(c *Config) { c.Publish = Selection{Mode: "header", Header: "X-Presence", Value: "on"} }, register("X-Presence: on"), true, "sip:alice@example.com"},
		{"header absent", func(c *Config) { c.Publish = Selection{Mode: "header", Header: "X-Presence"} }, register(""), false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			rec, loc := &recorder{}, &locations{}
			if _, err := New(cfg, rec, loc, nil); err != nil {
				t.Fatal(err)
			}
			loc.f(usrloc.Event{Kind: usrloc.Insert, Binding: b, Request: tt.req})
			if got := len(rec.reqs) == 1; got != tt.publish {
				t.Fatalf("published %v, want %v (%d requests)", got, tt.publish, len(rec.reqs))
			}
			if !tt.publish {
				return
			}
			doc, err := pidf.Parse(rec.reqs[0].Body)
			if err != nil {
				t.Fatal(err)
			}
			if doc.Entity != tt.entity || len(doc.Tuples) != 1 || doc.Tuples[0].ID != tupleID("b1") || doc.Tuples[0].Basic != "open" {
				t.Errorf("document: entity %q tuples %+v, want entity %s and one open tuple %s", doc.Entity, doc.Tuples, tt.entity, tupleID("b1"))
			}
			if r := rec.reqs[0]; r.OwnerID != "b1" || r.Source != pua.SourceUsrloc || r.Expires < 3590 {
				t.Errorf("request: %+v", r)
			}
		})
	}
}

// TestRemovalPaths: deletion and expiry both remove the publication.
func TestRemovalPaths(t *testing.T) {
	for _, k := range []usrloc.EventKind{usrloc.Delete, usrloc.Expire} {
		rec, loc := &recorder{}, &locations{}
		if _, err := New(Default(), rec, loc, nil); err != nil {
			t.Fatal(err)
		}
		loc.f(usrloc.Event{Kind: k, Binding: usrloc.Binding{ID: "b1", AOR: "sip:alice@example.com"}})
		if len(rec.reqs) != 1 || rec.reqs[0].Expires != 0 || rec.reqs[0].Body != nil {
			t.Errorf("%v: got %+v, want one removal", k, rec.reqs)
		}
	}
}
