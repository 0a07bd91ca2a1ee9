package events

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/presenced/presenced/dialoginfo"
	"github.com/presenced/presenced/presence"
)

const line1 = "sip:line1@example.com"

func TestSLAName(t *testing.T) {
	p := NewSLA(SLAOptions{})
	if got, want := p.Name(), "dialog;sla"; got != want {
		t.Errorf("got name %q, want %q", got, want)
	}
	if got := p.ContentTypes(); len(got) != 1 || got[0] != dialoginfo.ContentType {
		t.Errorf("got content types %q, want [%s]", got, dialoginfo.ContentType)
	}
}

func TestSLAPrepare(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "sla", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name      string
		opts      SLAOptions
		body      []byte
		golden    string // expected stored body; empty: stored as published
		wantErr   string
		wantExtra []string // must be in the stored body
	}{
		{"held call, remote target fixed", SLAOptions{FixRemoteTarget: true}, read("phone1-held.xml"), "prepare-phone1-fixed.golden", "",
			[]string{`<sa:exclusive>false</sa:exclusive><state>`, `<remote><identity display="Bob">sip:bob@example.com</identity><target uri="sip:bob@example.com"/>`,
				`<param pname="+sip.rendering" pval="no"/>`}},
		{"without the fix stored as published", SLAOptions{}, read("phone1-held.xml"), "", "", nil},
		{"nothing to fix stored as published", SLAOptions{FixRemoteTarget: true}, read("phone-idle.xml"), "", "", nil},
		{"root holding more than dialogs", SLAOptions{FixRemoteTarget: true}, read("bad-extra-root-child.xml"), "",
			"dialog;sla: dialog-info holds <status>, want only dialog elements", nil},
		{"wrong root", SLAOptions{}, []byte(`<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`), "",
			"dialoginfo: root element is <presence>, want dialog-info", nil},
		{"truncated", SLAOptions{}, read("phone1-held.xml")[:300], "", "document truncated", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewSLA(tt.opts).Prepare(dialoginfo.ContentType, tt.body)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if tt.golden == "" {
				if !bytes.Equal(got, tt.body) {
					t.Errorf("got\n%s\nwant the body as published", got)
				}
				return
			}
			path := filepath.Join("testdata", "sla", tt.golden)
			if dwUpdate() {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
			for _, s := range tt.wantExtra {
				if !bytes.Contains(got, []byte(s)) {
					t.Errorf("got\n%s\nwant it to contain %s", got, s)
				}
			}
		})
	}
}

// slaPubs prepares the phones' NOTIFY bodies as the presence core would
// and returns them as publications of the line.
func slaPubs(t *testing.T, opts SLAOptions, files ...string) []*presence.Publication {
	t.Helper()
	pubs := dwPubs(t, line1, "dialog;sla", "sla", files...)
	for _, p := range pubs {
		b, err := NewSLA(opts).Prepare(dialoginfo.ContentType, p.Body)
		if err != nil {
			t.Fatal(err)
		}
		p.Body = b
		p.Sender = "sip:" + strings.TrimSuffix(p.ID, ".xml") + "@10.0.0.1"
	}
	return pubs
}

func TestSLAFull(t *testing.T) {
	fix := SLAOptions{FixRemoteTarget: true}
	tests := []struct {
		name   string
		files  []string
		golden string
		ids    []string
	}{
		{"idle line", nil, "full-0.golden", nil},
		{"idle phone", []string{"phone-idle.xml"}, "full-0.golden", nil},
		{"one phone", []string{"phone1-held.xml"}, "full-1.golden", []string{"p1-d1"}},
		{"two phones, sa elements kept", []string{"phone1-held.xml", "phone-idle.xml", "phone2-ringing.xml"}, "full-2.golden",
			[]string{"p1-d1", "p2-d1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewSLA(fix).Full(line1, slaPubs(t, fix, tt.files...))
			got := dwGolden(t, filepath.Join("sla", tt.golden), b)
			doc, err := dialoginfo.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, d := range doc.Dialogs {
				ids = append(ids, d.ID)
				if len(d.Leading) == 0 || d.Leading[0].Space != dialoginfo.SANamespace {
					t.Errorf("dialog %s: got leading %+v, want sa:exclusive", d.ID, d.Leading)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tt.ids, ",") {
				t.Errorf("got dialogs %v, want %v", ids, tt.ids)
			}
		})
	}
}

func TestSLAChanged(t *testing.T) {
	fix := SLAOptions{FixRemoteTarget: true}
	pubs := slaPubs(t, fix, "phone1-held.xml", "phone2-ringing.xml")
	tests := []struct {
		name    string
		live    []*presence.Publication
		changed *presence.Publication
		removed bool
		wantOK  bool
		golden  string
	}{
		{"phone publishing partial state", pubs, pubs[1], false, true, "changed-phone2.golden"},
		{"phone publishing full state for the first time: its dialogs", pubs, pubs[0], false, true, "changed-phone1-new.golden"},
		{"phone unregistered: its dialogs terminated", pubs[1:], pubs[0], true, true, "changed-phone1-removed.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := NewSLA(fix).Changed(line1, tt.live, presence.Change{Pub: tt.changed, Removed: tt.removed})
			if ok != tt.wantOK {
				t.Fatalf("got ok %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			got := dwGolden(t, filepath.Join("sla", tt.golden), b)
			doc, err := dialoginfo.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if doc.State != dialoginfo.Partial || len(doc.Dialogs) != 1 {
				t.Fatalf("got state %q with %d dialogs, want partial with 1", doc.State, len(doc.Dialogs))
			}
			if tt.removed && doc.Dialogs[0].State != dialoginfo.Terminated {
				t.Errorf("got state %q, want terminated", doc.Dialogs[0].State)
			}
			if !bytes.Contains(got, []byte("<sa:exclusive>")) {
				t.Errorf("got\n%s\nwant sa:exclusive kept", got)
			}
		})
	}
}
