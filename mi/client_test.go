package mi

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCLIArgs(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantMethod string
		wantParams any
		wantErr    string // "" for success
	}{
		{"no params", []string{"which"}, "which", nil, ""},
		{"positional", []string{"pua_publish", "sip:a@b", "3600", "presence"}, "pua_publish", []string{"sip:a@b", "3600", "presence"}, ""},
		{"dot stays", []string{"pua_publish", "sip:a@b", "3600", "presence", "."}, "pua_publish", []string{"sip:a@b", "3600", "presence", "."}, ""},
		{"value with equals", []string{"p", "a=b"}, "p", []string{"a=b"}, ""},
		{"dash value", []string{"p", "-1"}, "p", []string{"-1"}, ""},
		{"named", []string{"pua_publish", "-p", "presentity_uri=sip:a@b", "--param", "expires=0", "-p", "body=<x a=\"1\"/>"},
			"pua_publish", map[string]string{"presentity_uri": "sip:a@b", "expires": "0", "body": `<x a="1"/>`}, ""},
		{"named empty value", []string{"p", "-p", "etag="}, "p", map[string]string{"etag": ""}, ""},
		{"double dash", []string{"p", "--", "-p", "--"}, "p", []string{"-p", "--"}, ""},
		{"nothing", nil, "", nil, "missing command"},
		{"option first", []string{"-p", "a=b"}, "", nil, `want a command before options, got "-p"`},
		{"mixed", []string{"p", "x", "-p", "a=b"}, "", nil, `cannot mix positional values ("x") with -p NAME=VALUE`},
		{"p without value", []string{"p", "-p"}, "", nil, "-p needs NAME=VALUE"},
		{"p without equals", []string{"p", "-p", "ab"}, "", nil, `-p "ab": want NAME=VALUE`},
		{"p without name", []string{"p", "-p", "=b"}, "", nil, `-p "=b": want NAME=VALUE`},
		{"p twice", []string{"p", "-p", "a=1", "-p", "a=2"}, "", nil, `param "a" given twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, params, err := CLIArgs(tt.args)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if method != tt.wantMethod {
				t.Errorf("got method %q, want %q", method, tt.wantMethod)
			}
			if d := cmp.Diff(tt.wantParams, params); d != "" {
				t.Errorf("got params %#v, want %#v (-want +got):\n%s", params, tt.wantParams, d)
			}
		})
	}
}

func TestFormatResult(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    string
		wantErr bool
	}{
		{"string", `"Accepted"`, "\"Accepted\"\n", false},
		{"object", `{"etag":"a.1","expires":60,"body":"<x/>"}`, "{\n  \"etag\": \"a.1\",\n  \"expires\": 60,\n  \"body\": \"<x/>\"\n}\n", false},
		{"null", `null`, "null\n", false},
		{"not JSON", `{`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := FormatResult(&buf, []byte(tt.raw))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCall(t *testing.T) {
	s := startServer(t, Deps{})
	tests := []struct {
		name     string
		addr     string
		method   string
		params   any
		want     string
		wantCode int // 0: success
	}{
		{"positional", s.Addr(), "pua_publish", []string{"sip:a@b", "60", "presence"},
			`{"presentity_uri":"sip:a@b","expires":60,"event_package":"presence"}`, 0},
		{"named", s.Addr(), "pua_publish", map[string]string{"presentity_uri": "sip:a@b", "expires": "0", "event_package": "dialog"},
			`{"presentity_uri":"sip:a@b","expires":0,"event_package":"dialog"}`, 0},
		{"url address", "http://" + s.Addr(), "nothing", nil, `null`, 0},
		{"url with path", "http://" + s.Addr() + "/mi", "nothing", nil, `null`, 0},
		{"typed error", s.Addr(), "timeout", nil, "", 408},
		{"unknown method", s.Addr(), "nosuch", nil, "", CodeMethodNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := Call(t.Context(), tt.addr, tt.method, tt.params)
			if code := errCode(err); code != tt.wantCode {
				t.Fatalf("got error %v, want code %d", err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if d := jsonDiff(t, string(raw), tt.want); d != "" {
				t.Errorf("got %s, want %s", raw, tt.want)
			}
		})
	}
}

func TestCallNotJSONRPC(t *testing.T) {
	s := startServer(t, Deps{})
	_, err := Call(t.Context(), "http://"+s.Addr()+"/health", "which", nil)
	if err == nil || errCode(err) != -1 || !strings.Contains(err.Error(), "unexpected answer") {
		t.Errorf("got %v, want an unexpected answer error", err)
	}
}

func TestCallCancelled(t *testing.T) {
	started := make(chan struct{})
	s := startServer(t, Deps{}, Command{Name: "block", Run: func(ctx context.Context, _ Args) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := Call(ctx, s.Addr(), "block", nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want %v", err, context.Canceled)
	}
}

// closedAddr returns an address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRunCLI(t *testing.T) {
	s := startServer(t, Deps{})
	down := closedAddr(t)
	tests := []struct {
		name       string
		addr       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string // a prefix of stderr
	}{
		{"positional", s.Addr(), []string{"pua_publish", "sip:a@b", "3600", "presence"}, 0,
			"{\n  \"presentity_uri\": \"sip:a@b\",\n  \"expires\": 3600,\n  \"event_package\": \"presence\"\n}\n", ""},
		{"named", s.Addr(), []string{"pua_publish", "-p", "presentity_uri=sip:a@b", "-p", "expires=0", "-p", "event_package=presence", "-p", "body=<x/>", "-p", "content_type=application/pidf+xml"}, 0,
			"{\n  \"presentity_uri\": \"sip:a@b\",\n  \"expires\": 0,\n  \"event_package\": \"presence\",\n  \"content_type\": \"application/pidf+xml\",\n  \"body\": \"<x/>\"\n}\n", ""},
		{"command error", s.Addr(), []string{"pua_publish", "sip:a@b", "60", "presence", "unknown"}, 1,
			"", "error 404: no such ETag\n"},
		{"missing param", s.Addr(), []string{"pua_publish", "sip:a@b"}, 1,
			"", "error -32602: missing required param \"expires\"\n"},
		{"unknown command", s.Addr(), []string{"nosuch"}, 1,
			"", "error -32601: method not found: \"nosuch\"\n"},
		{"usage", s.Addr(), nil, 2, "", "missing command\nusage:"},
		{"bad option", s.Addr(), []string{"which", "-p", "x"}, 2, "", "-p \"x\": want NAME=VALUE\nusage:"},
		{"help", s.Addr(), []string{"--help"}, 0, cliUsage, ""},
		{"server down", down, []string{"which"}, 2, "",
			"cannot reach the management API at " + down + ": connection refused (is presenced running?)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := RunCLI(t.Context(), tt.addr, tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("got exit code %d, want %d (stderr %q)", code, tt.wantCode, stderr.String())
			}
			if got := stdout.String(); got != tt.wantStdout {
				t.Errorf("got stdout %q, want %q", got, tt.wantStdout)
			}
			if got := stderr.String(); !strings.HasPrefix(got, tt.wantStderr) || (tt.wantStderr == "") != (got == "") {
				t.Errorf("got stderr %q, want it to start with %q", got, tt.wantStderr)
			}
		})
	}
}
