package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/presenced/presenced/presence"
)

// problems returns the lines of a Parse error, failing the test when err
// is not an *Errors.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got error %T %q, want *Errors", err, err)
	}
	var out []string
	for _, e := range errs.List {
		out = append(out, e.Error())
	}
	if got, want := err.Error(), strings.Join(out, "\n"); got != want {
		t.Errorf("Error() got %q, want %q", got, want)
	}
	return out
}

func TestDefault(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
	}{
		{"empty", ""},
		{"comments only", "# nothing here\n"},
		{"null document", "~\n"},
		{"empty mapping", "{}\n"},
		{"explicit document", "---\n...\n"},
		{"sections without values", "log:\nsip:\nstore:\nmi:\npresence:\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if diff := cmp.Diff(Default(), got); diff != "" {
				t.Errorf("got config differing from Default() (-want +got):\n%s", diff)
			}
		})
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() got %v, want nil", err)
	}
}

// TestDefaultSections catches a section added to Config without its
// Default() in Default: its value would be all zero.
func TestDefaultSections(t *testing.T) {
	v := reflect.ValueOf(Default()).Elem()
	fs := fieldsOf(v.Type())
	zeroOK := map[string]bool{"domains": true, "memory_limit": true}
	for _, name := range fs.names {
		if v.FieldByIndex(fs.byName[name]).IsZero() && !zeroOK[name] {
			t.Errorf("section %s: got zero value in Default(), want its package's Default()", name)
		}
	}
}

func TestOverlay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		doc    string
		change func(c *Config)
	}{
		{
			name:   "disabled section keeps its other defaults",
			doc:    "presence: {enabled: false}\n",
			change: func(c *Config) { c.Presence.Enabled = false },
		},
		{
			name: "nested keys",
			doc:  "presence:\n  min_expires_publish: 30\n  dialog:\n    force_single_dialog: true\n",
			change: func(c *Config) {
				c.Presence.MinExpiresPublish = 30
				c.Presence.Dialog.ForceSingleDialog = true
			},
		},
		{
			name:   "list replaces the default list",
			doc:    "sip:\n  listen: [\"udp:127.0.0.1:5070\"]\n",
			change: func(c *Config) { c.SIP.Listen = []string{"udp:127.0.0.1:5070"} },
		},
		{
			name:   "key without value keeps the default",
			doc:    "sip:\n  listen:\n  user_agent:\n",
			change: func(*Config) {},
		},
		{
			name:   "empty string is a value",
			doc:    "store:\n  backend: memory\n  path: \"\"\n",
			change: func(c *Config) { c.Store.Backend, c.Store.Path = "memory", "" },
		},
		{
			name:   "numeric string value",
			doc:    "presence:\n  contact_user: 1000\n",
			change: func(c *Config) { c.Presence.ContactUser = "1000" },
		},
		{
			name: "slice of structs",
			doc: "presence:\n  authorization:\n    default: confirm\n    rules:\n" +
				"      - {watcher: \"sip:*@example.com\", action: allow}\n      - action: deny\n        event: presence\n",
			change: func(c *Config) {
				c.Presence.Authorization.Default = "confirm"
				c.Presence.Authorization.Rules = []presence.Rule{
					{Watcher: "sip:*@example.com", Action: "allow"},
					{Event: "presence", Action: "deny"},
				}
			},
		},
		{
			name: "domains and log",
			doc:  "domains: [Example.COM, example.org., 192.0.2.1, \"[2001:db8::1]\", \"::1\"]\nlog: {level: debug, format: json}\n",
			change: func(c *Config) {
				c.Domains = []string{"Example.COM", "example.org.", "192.0.2.1", "[2001:db8::1]", "::1"}
				c.Log = LogConfig{Level: "debug", Format: "json"}
			},
		},
		{
			name: "anchors, aliases and merge keys",
			doc:  "presence:\n  authorization:\n    rules:\n      - &r {watcher: \"sip:a@x\", action: allow}\n      - *r\n      - <<: *r\n        action: deny\n",
			change: func(c *Config) {
				c.Presence.Authorization.Rules = []presence.Rule{
					{Watcher: "sip:a@x", Action: "allow"},
					{Watcher: "sip:a@x", Action: "allow"},
					{Watcher: "sip:a@x", Action: "deny"},
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatalf("got error:\n%v\nwant none", err)
			}
			want := Default()
			tc.change(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{
			name: "top level",
			doc:  "b2b_sca:\n  enabled: true\n",
			want: []string{"b2b_sca: unknown key (line 1)"},
		},
		{
			name: "top level typo",
			doc:  "presense:\n  enabled: true\n",
			want: []string{"presense: unknown key (line 1), did you mean presence?"},
		},
		{
			name: "section",
			doc:  "sip:\n  listen: []\n  adverstise: 1.2.3.4\n",
			want: []string{
				"sip.adverstise: unknown key (line 3), did you mean advertise?",
				"sip.listen: at least one socket is required (line 2)",
			},
		},
		{
			name: "nested, shortened",
			doc:  "presence:\n  dialog:\n    force_single: true\n",
			want: []string{"presence.dialog.force_single: unknown key (line 3), did you mean force_single_dialog?"},
		},
		{
			name: "nested, hyphens and case",
			doc:  "presence:\n  sla:\n    Sender-Header: X\n",
			want: []string{"presence.sla.Sender-Header: unknown key (line 3), did you mean sender_header?"},
		},
		{
			name: "inside a list item",
			doc:  "presence:\n  authorization:\n    rules:\n      - action: allow\n      - acton: deny\n",
			want: []string{
				"presence.authorization.rules[1].acton: unknown key (line 5), did you mean action?",
				`presence.authorization.rules[1].action: want allow, deny or confirm, got "" (line 5)`,
			},
		},
		{
			name: "nothing close",
			doc:  "mi:\n  frobnicate: 1\n",
			want: []string{"mi.frobnicate: unknown key (line 2)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTypeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string
	}{
		{"string for integer", "presence:\n  min_expires_publish: abc\n",
			[]string{`presence.min_expires_publish: want integer, got "abc" (line 2)`}},
		{"quoted integer", "presence:\n  shards: \"4\"\n",
			[]string{`presence.shards: want integer, got "4" (line 2)`}},
		{"float for integer", "sip:\n  t1_ms: 1.5\n",
			[]string{`sip.t1_ms: want integer, got 1.5 (line 2)`}},
		{"duration string", "sip:\n  tcp_idle_timeout: 10m\n",
			[]string{`sip.tcp_idle_timeout: want integer, got "10m" (line 2)`}},
		{"out of range", "sip:\n  workers: 99999999999999999999\n",
			[]string{`sip.workers: want integer, got 99999999999999999999 (line 2)`}},
		{"yes for bool", "mi:\n  enabled: yes\n",
			[]string{`mi.enabled: want true or false, got "yes" (line 2)`}},
		{"integer for bool", "presence:\n  offline_body: 1\n",
			[]string{`presence.offline_body: want true or false, got 1 (line 2)`}},
		{"bool for string", "store:\n  backend: true\n",
			[]string{`store.backend: want string, got true (line 2)`}},
		{"list for string", "mi:\n  listen: [a, b]\n",
			[]string{`mi.listen: want string, got a list (line 2)`}},
		{"string for list", "sip:\n  listen: udp:127.0.0.1:5060\n",
			[]string{`sip.listen: want a list, got "udp:127.0.0.1:5060" (line 2)`}},
		{"mapping in list of strings", "domains:\n  - {a: b}\n",
			[]string{`domains[0]: want string, got a mapping (line 2)`}},
		{"scalar for section", "presence: on\n",
			[]string{`presence: want a mapping, got "on" (line 1)`}},
		{"list for section", "log:\n  - level\n",
			[]string{`log: want a mapping, got a list (line 2)`}},
		{"scalar for nested struct", "presence:\n  dialog: true\n",
			[]string{`presence.dialog: want a mapping, got true (line 2)`}},
		{"scalar for list item struct", "presence:\n  authorization:\n    rules: [allow]\n",
			[]string{`presence.authorization.rules[0]: want a mapping, got "allow" (line 3)`}},
		{"duplicate key", "mi:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n",
			[]string{`mi.listen: duplicate key, first at line 2 (line 3)`}},
		{"duplicate section", "mi: {}\nmi: {}\n",
			[]string{`mi: duplicate key, first at line 1 (line 2)`}},
		{"list key", "? [a]\n: b\n",
			[]string{`want a key name, got a list (line 1)`}},
		{"document not a mapping", "- a\n- b\n",
			[]string{`want a mapping of sections, got a list (line 1)`}},
		{"scalar document", "hello\n",
			[]string{`want a mapping of sections, got "hello" (line 1)`}},
		{"two documents", "mi: {}\n---\nlog: {}\n",
			[]string{`a config is one yaml document, found another (line 2)`}},
		// The YAML parser gives this line 0-based (its quirk).
		{"syntax", "mi:\n  listen: [a\n",
			[]string{`invalid yaml: did not find expected ',' or ']' (line 1)`}},
		{"syntax without line", "mi: *nowhere\n",
			[]string{`invalid yaml: unknown anchor 'nowhere' referenced`}},
		{"alias to the enclosing section", "presence: &p\n  dialog: *p\n",
			[]string{"presence.dialog.dialog: unknown key (line 2)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestManyErrors checks that one report holds every problem, in file
// order then validation order, the rest of the file still applied.
func TestManyErrors(t *testing.T) {
	doc := `domains: [example.com, "bad domain"]
log:
  level: loud
sip:
  listen: ["udp:0.0.0.0:5060", "udp:127.0.0.1:5060", "sctp:1.2.3.4:5060"]
  t1_ms: fast
store:
  backend: mongo
  max_bach: 10
presence:
  enabled: maybe
  dialog:
    force_single: true
  authorization:
    default: maybe
`
	want := []string{
		"sip.t1_ms: want integer, got \"fast\" (line 6)",
		"store.max_bach: unknown key (line 9), did you mean max_batch?",
		"presence.enabled: want true or false, got \"maybe\" (line 11)",
		"presence.dialog.force_single: unknown key (line 13), did you mean force_single_dialog?",
		"log.level: want debug, info, warn or error, got \"loud\" (line 3)",
		"sip.listen[2]: \"sctp:1.2.3.4:5060\": transport \"sctp\": want udp or tcp (line 5)",
		"store.backend: want memory, sqlite or postgres, got \"mongo\" (line 8)",
		"presence.authorization.default: want allow, deny or confirm, got \"maybe\" (line 15)",
		"domains[1]: want a hostname or IP address, got \"bad domain\": bad character ' ' in label \"bad domain\" (line 1)",
		"sip.listen[1]: udp 127.0.0.1:5060 clashes with sip.listen[0] (udp 0.0.0.0:5060) (line 5)",
	}
	_, err := Parse([]byte(doc))
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestSectionValidation reaches the validation of every section, and
// fails when a section is added to Config without a case here.
func TestSectionValidation(t *testing.T) {
	cases := []struct {
		section string
		doc     string
		want    string
	}{
		{"domains", "domains: [\"*.example.com\"]\n",
			`domains[0]: want a hostname or IP address, got "*.example.com": bad character '*' in label "*" (line 1)`},
		{"memory_limit", "memory_limit: 300M\n", `memory_limit: want a size such as 300MiB (units B, KiB, MiB, GiB, TiB), got "300M" (line 1)`},
		{"log", "log: {format: xml}\n", `log.format: want text or json, got "xml" (line 1)`},
		{"sip", "sip: {max_message_size: 100}\n", `sip.max_message_size: want 1024..65535, got 100 (line 1)`},
		{"store", "store: {backend: postgres}\n", `store.backend: postgres is not available in this version (use sqlite or memory) (line 1)`},
		{"mi", "mi: {listen: localhost}\n", `mi.listen: not an ip:port (line 1)`},
		{"presence", "presence:\n  authorization:\n    rules:\n      - action: maybe\n",
			`presence.authorization.rules[0].action: want allow, deny or confirm, got "maybe" (line 4)`},
		{"pua", "pua: {presence_server: \"sip:<bad\"}\n", `pua.presence_server: "sip:<bad" is not a SIP URI: unbalanced angle brackets (line 1)`},
		{"pua_mi", "pua_mi: {timeout: 0}\n", `pua_mi.timeout: want 1..300 seconds, got 0 (line 1)`},
		{"usrloc", "usrloc: {shards: -1}\n", `usrloc.shards: want 0..1024, got -1 (line 1)`},
		{"registrar", "registrar: {foreign_domain_code: 500}\n", `registrar.foreign_domain_code: want 403 or 404, got 500 (line 1)`},
		{"pua_dialoginfo", "pua_dialoginfo: {sides: all}\n", `pua_dialoginfo.sides: want caller, callee or both, got "all" (line 1)`},
		{"pua_bla", "pua_bla: {header_name: \"X Bad\"}\n", `pua_bla.header_name: "X Bad" is not a header name (line 1)`},
		{"proxy", "proxy: {foreign_domains: relay}\n", `proxy.foreign_domains: want forward or refuse, got "relay" (line 1)`},
		{"dialog", "dialog: {max_lifetime: 0}\n", `dialog.max_lifetime: want 1..604800 seconds, got 0 (line 1)`},
		{"pua_usrloc", "pua_usrloc: {publish: {mode: some}}\n", `pua_usrloc.publish.mode: want all, patterns or header, got "some" (line 1)`},
		{"xmpp", "xmpp: {address_mapping: rot13}\n", `xmpp.address_mapping: want transparent or encoded, got "rot13" (line 1)`},
		{"pua_xmpp", "pua_xmpp: {resync_timeout: 0}\n", `pua_xmpp.resync_timeout: want 1..600 seconds, got 0 (line 1)`},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.section] = true
		t.Run(tc.section, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if diff := cmp.Diff([]string{tc.want}, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, name := range fieldsOf(reflect.TypeFor[Config]()).names {
		if !covered[name] {
			t.Errorf("section %s: got no validation case, want one", name)
		}
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Presence.MaxExpiresPublish = 0
	c.MI.Listen = "0.0.0.0:5060"
	c.SIP.Listen = []string{"tcp:[::]:5060"}
	got := problems(t, c.Validate())
	want := []string{
		"presence.max_expires_publish: want at least 1, got 0",
		"presence.min_expires_publish: 60 is above max_expires_publish 0",
		"presence.default_expires_publish: 3600 is outside 60..0",
		"mi.listen: tcp 0.0.0.0:5060 clashes with sip.listen[0] (tcp [::]:5060)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestListeners(t *testing.T) {
	for _, tc := range []struct {
		name   string
		listen string
		mi     string
		want   []string
	}{
		{"udp and tcp share a port", `["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]`, "", nil},
		{"two addresses", `["udp:127.0.0.1:5060", "udp:127.0.0.2:5060"]`, "", nil},
		{"ipv6 loopback beside ipv4", `["udp:[::1]:5060", "udp:127.0.0.1:5060"]`, "", nil},
		{"ipv4 wildcard beside ipv6", `["udp:0.0.0.0:5060", "udp:[::1]:5060"]`, "", nil},
		{"port zero", `["udp:127.0.0.1:0", "udp:127.0.0.1:0"]`, "", nil},
		{"same socket", `["udp:127.0.0.1:5060", "udp:127.0.0.1:5060"]`, "",
			[]string{"sip.listen[1]: udp 127.0.0.1:5060 clashes with sip.listen[0] (udp 127.0.0.1:5060) (line 2)"}},
		{"ipv6 wildcard covers ipv4", `["tcp:[::]:5060", "tcp:127.0.0.1:5060"]`, "",
			[]string{"sip.listen[1]: tcp 127.0.0.1:5060 clashes with sip.listen[0] (tcp [::]:5060) (line 2)"}},
		{"mapped address", `["udp:[::ffff:127.0.0.1]:5060", "udp:127.0.0.1:5060"]`, "",
			[]string{"sip.listen[1]: udp 127.0.0.1:5060 clashes with sip.listen[0] (udp [::ffff:127.0.0.1]:5060) (line 2)"}},
		{"mi on a sip tcp port", `["tcp:0.0.0.0:8888"]`, "",
			[]string{"mi.listen: tcp 127.0.0.1:8888 clashes with sip.listen[0] (tcp 0.0.0.0:8888)"}},
		{"mi on a sip udp port", `["udp:127.0.0.1:8888"]`, "", nil},
		{"mi disabled", `["tcp:0.0.0.0:8888"]`, "mi: {enabled: false}\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := "sip:\n  listen: " + tc.listen + "\n" + tc.mi
			_, err := Parse([]byte(doc))
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDomains(t *testing.T) {
	for _, tc := range []struct {
		domain string
		want   string // the error after `got "..."`, or "" when valid
	}{
		{"example.com", ""},
		{"EXAMPLE.com.", ""},
		{"localhost", ""},
		{"a-b.c0", ""},
		{"192.0.2.1", ""},
		{"2001:db8::1", ""},
		{"[2001:db8::1]", ""},
		{"", "empty"},
		{"[192.0.2.1]", "brackets are for IPv6 only"},
		{"fe80::1%eth0", `zone "eth0" not allowed`},
		{"1.2.3.999", `top label "999" starts with a digit`},
		{"-a.com", `bad character '-' in label "-a"`},
		{"a..com", `label "" is not 1 to 63 characters`},
		{"sip:example.com", `bad character ':' in label "sip:example"`},
		{strings.Repeat("a", 64) + ".com", `label "` + strings.Repeat("a", 64) + `" is not 1 to 63 characters`},
		{strings.Repeat("abcdefg.", 32) + "com", "longer than 253 characters"},
	} {
		t.Run(tc.domain, func(t *testing.T) {
			_, err := checkHost(tc.domain)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	_, err := Parse([]byte("domains: [example.com, Example.Com., 127.0.0.1, \"::ffff:127.0.0.1\"]\n"))
	want := []string{
		`domains[1]: "Example.Com." is already domains[0] (line 1)`,
		`domains[3]: "::ffff:127.0.0.1" is already domains[2] (line 1)`,
	}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("duplicates (-want +got):\n%s", diff)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "presenced.yaml")
	if err := os.WriteFile(path, []byte("presence: {enabled: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if c.Presence.Enabled || c.Presence.MaxExpiresPublish != 3600 {
		t.Errorf("got enabled %v max_expires_publish %d, want false 3600", c.Presence.Enabled, c.Presence.MaxExpiresPublish)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: got %v, want an os.ErrNotExist", err)
	}

	if err := os.WriteFile(path, []byte("mi: {enabled: 1}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = Load(path)
	if c != nil {
		t.Errorf("invalid file: got config %+v, want nil", c)
	}
	if got, want := problems(t, err), []string{"mi.enabled: want true or false, got 1 (line 1)"}; !cmp.Equal(got, want) {
		t.Errorf("invalid file: got %q, want %q", got, want)
	}
}

func TestErrorsUnwrap(t *testing.T) {
	_, err := Parse([]byte("store: {backend: mongo}\nmi: {listen: x}\n"))
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %T, want *Errors", err)
	}
	if got, want := len(errs.Unwrap()), 2; got != want {
		t.Fatalf("got %d errors, want %d", got, want)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got no *Error in %v", err)
	}
	if got, want := e.Path, "store.backend"; got != want {
		t.Errorf("path: got %q, want %q", got, want)
	}
	if got, want := e.Line, 1; got != want {
		t.Errorf("line: got %d, want %d", got, want)
	}
	if e.Err == nil || errors.Unwrap(e) != e.Err {
		t.Errorf("got no section error wrapped, want store's own")
	}
}

func TestLogHandler(t *testing.T) {
	for _, tc := range []struct {
		cfg  LogConfig
		want string
	}{
		{LogConfig{Level: "debug", Format: "text"}, "level=DEBUG msg=hello\n"},
		{LogConfig{Level: "info", Format: "json"}, `{"level":"INFO","msg":"hello"}` + "\n"},
		{LogConfig{Level: "warn", Format: "text"}, ""},
	} {
		var b strings.Builder
		h := tc.cfg.Handler(&b)
		for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
			r := slog.NewRecord(time.Time{}, lv, "hello", 0)
			if h.Enabled(t.Context(), lv) {
				if err := h.Handle(t.Context(), r); err != nil {
					t.Fatal(err)
				}
				break
			}
		}
		if got := b.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

// TestProxyNeedsUsrloc: the proxy looks users up in the location service.
func TestProxyNeedsUsrloc(t *testing.T) {
	doc := "usrloc: {enabled: false}\nregistrar: {enabled: false}\npua_usrloc: {enabled: false}\n"
	want := []string{"proxy.enabled: the proxy needs the location service: set usrloc.enabled: true"}
	_, err := Parse([]byte(doc))
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := Parse([]byte(doc + "proxy: {enabled: false}\n")); err != nil {
		t.Errorf("without the proxy: got %v, want no error", err)
	}
}

func TestMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  int64
		err   string // the problem reported, or "" when valid
	}{
		{"", 0, ""},
		{"300MiB", 300 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"1048576", 1 << 20, ""},
		{"512KiB", 512 << 10, ""},
		{"1TiB", 1 << 40, ""},
		{"64B", 64, ""},
		{"300MB", 0, `memory_limit: want a size such as 300MiB (units B, KiB, MiB, GiB, TiB), got "300MB" (line 1)`},
		{"300 MiB", 0, `memory_limit: want a size such as 300MiB (units B, KiB, MiB, GiB, TiB), got "300 MiB" (line 1)`},
		{"0", 0, `memory_limit: want a positive size such as 300MiB, got "0" (line 1)`},
		{"-5MiB", 0, `memory_limit: want a positive size such as 300MiB, got "-5MiB" (line 1)`},
		{"9999999TiB", 0, `memory_limit: want a positive size such as 300MiB, got "9999999TiB" (line 1)`},
		{"lots", 0, `memory_limit: want a size such as 300MiB (units B, KiB, MiB, GiB, TiB), got "lots" (line 1)`},
	} {
		t.Run(tc.value, func(t *testing.T) {
			cfg, err := Parse([]byte("memory_limit: \"" + tc.value + "\"\n"))
			if tc.err != "" {
				if diff := cmp.Diff([]string{tc.err}, problems(t, err)); diff != "" {
					t.Errorf("problems (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got, err := cfg.MemoryLimitBytes()
			if err != nil || got != tc.want {
				t.Errorf("MemoryLimitBytes() = %d, %v; want %d", got, err, tc.want)
			}
		})
	}
}
