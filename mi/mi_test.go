package mi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// publishResult is what the test pua_publish returns.
type publishResult struct {
	URI         string `json:"presentity_uri"`
	Expires     int    `json:"expires"`
	Event       string `json:"event_package"`
	ETag        string `json:"etag,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Body        string `json:"body,omitempty"`
}

// testCommands are registered on every test server: a pua_publish shaped
// like OpenSIPS's, and commands failing in each way a command can.
func testCommands() []Command {
	return []Command{
		{
			Name:    "pua_mi:publish",
			Aliases: []string{"pua_publish", "pua.publish"},
			Help:    "publish",
			Params: []Param{
				{Name: "presentity_uri", Required: true},
				{Name: "expires", Required: true},
				{Name: "event_package", Required: true},
				{Name: "etag"},
				{Name: "extra_headers"},
				{Name: "content_type"},
				{Name: "body"},
			},
			Run: func(_ context.Context, a Args) (any, error) {
				var r publishResult
				var err error
				if r.URI, err = a.String("presentity_uri"); err != nil {
					return nil, err
				}
				if r.Expires, err = a.Int("expires"); err != nil {
					return nil, err
				}
				if r.Event, err = a.String("event_package"); err != nil {
					return nil, err
				}
				if r.ETag, err = a.OptString("etag"); err != nil {
					return nil, err
				}
				if r.ETag == "unknown" {
					return nil, &Error{Code: 404, Message: "no such ETag"}
				}
				if a.Has("content_type") != a.Has("body") {
					return nil, Errorf(400, "content_type and body go together")
				}
				if r.ContentType, err = a.OptString("content_type"); err != nil {
					return nil, err
				}
				if r.Body, err = a.OptString("body"); err != nil {
					return nil, err
				}
				return r, nil
			},
		},
		{Name: "timeout", Run: func(context.Context, Args) (any, error) {
			return nil, fmt.Errorf("publish sip:a@b: %w", &Error{Code: 408, Message: "Request Timeout"})
		}},
		{Name: "fail", Run: func(context.Context, Args) (any, error) {
			return nil, errors.New("store unavailable")
		}},
		{Name: "panic", Run: func(context.Context, Args) (any, error) {
			panic("bug")
		}},
		{Name: "unencodable", Run: func(context.Context, Args) (any, error) {
			return make(chan int), nil
		}},
		{Name: "undeclared", Run: func(_ context.Context, a Args) (any, error) {
			return a.String("nope")
		}},
		{Name: "nothing", Run: func(context.Context, Args) (any, error) {
			return nil, nil
		}},
	}
}

// newCommandServer is a server with the test commands registered, not
// listening: its handler is called directly.
func newCommandServer(tb testing.TB) *Server {
	tb.Helper()
	s, err := New(Config{}, Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	for _, c := range testCommands() {
		if err := s.Register(c); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// startServer starts a server on 127.0.0.1:0 with the test commands and
// stops it when the test ends.
func startServer(t *testing.T, deps Deps, extra ...Command) *Server {
	t.Helper()
	s, err := New(Config{Enabled: true, Listen: "127.0.0.1:0"}, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, c := range append(testCommands(), extra...) {
		if err := s.Register(c); err != nil {
			t.Fatalf("Register: %v", err)
		}
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return s
}

// do sends one HTTP request on a connection of its own (no idle
// connection is left for goleak) and returns the status and body.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, string(b)
}

func post(t *testing.T, addr, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/mi", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// jsonEqual compares two JSON texts by value and returns a diff.
func jsonDiff(t *testing.T, got, want string) string {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		return fmt.Sprintf("got invalid JSON %q: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want invalid JSON %q: %v", want, err)
	}
	return cmp.Diff(w, g)
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name       string
		health     func() error
		wantStatus int
		wantBody   string
	}{
		{"no check", nil, http.StatusOK, "ok\n"},
		{"healthy", func() error { return nil }, http.StatusOK, "ok\n"},
		{"unhealthy", func() error { return errors.New("store: connection lost") }, http.StatusServiceUnavailable, "store: connection lost\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startServer(t, Deps{Health: tt.health})
			status, body := get(t, s.Addr(), "/health")
			if status != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", status, body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "presenced_test_total", Help: "x"})
	reg.MustRegister(other)
	other.Add(3)
	s := startServer(t, Deps{Registry: reg})

	post(t, s.Addr(), `{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",60,"presence"],"id":1}`)
	post(t, s.Addr(), `{"jsonrpc":"2.0","method":"timeout","id":2}`)
	post(t, s.Addr(), `{"jsonrpc":"2.0","method":"nosuch","id":3}`)

	status, body := get(t, s.Addr(), "/metrics")
	if status != http.StatusOK {
		t.Fatalf("got status %d, want 200", status)
	}
	for _, want := range []string{
		"presenced_test_total 3",
		`presenced_mi_requests_total{code="ok",command="pua_mi:publish"} 1`,
		`presenced_mi_requests_total{code="408",command="timeout"} 1`,
		`presenced_mi_requests_total{code="-32601",command="unknown"} 1`,
		`presenced_mi_request_duration_seconds_count{command="pua_mi:publish"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("got /metrics without %q:\n%s", want, body)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	_, err := New(Config{Enabled: true, Listen: "nowhere"}, Deps{})
	if err == nil || !strings.Contains(err.Error(), "listen:") {
		t.Errorf("got %v, want a listen: error", err)
	}
}

func TestNewRejectsTakenMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{}, Deps{Registry: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{}, Deps{Registry: reg}); err == nil {
		t.Errorf("got no error registering the metrics twice, want one")
	}
}

func TestDisabledOpensNoSocket(t *testing.T) {
	s, err := New(Config{Enabled: false, Listen: "127.0.0.1:0"}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got := s.Addr(); got != "" {
		t.Errorf("got Addr %q, want none", got)
	}
	if err := s.Stop(t.Context()); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func TestStartTwice(t *testing.T) {
	s := startServer(t, Deps{})
	if err := s.Start(t.Context()); err == nil {
		t.Errorf("got no error from a second Start, want one")
	}
}

func TestRestart(t *testing.T) {
	s := startServer(t, Deps{})
	if err := s.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if status, _ := get(t, s.Addr(), "/health"); status != http.StatusOK {
		t.Errorf("got status %d after restart, want 200", status)
	}
}

func TestRegister(t *testing.T) {
	run := func(context.Context, Args) (any, error) { return nil, nil }
	tests := []struct {
		name    string
		cmd     Command
		wantErr string // "" for success
	}{
		{"new", Command{Name: "fresh", Aliases: []string{"fresh2"}, Run: run}, ""},
		{"duplicate name", Command{Name: "pua_mi:publish", Run: run}, `name "pua_mi:publish" already registered`},
		{"name taken by an alias", Command{Name: "pua_publish", Run: run}, `name "pua_publish" already registered`},
		{"alias taken by a name", Command{Name: "x", Aliases: []string{"which"}, Run: run}, `name "which" already registered`},
		{"alias taken by an alias", Command{Name: "y", Aliases: []string{"list_commands"}, Run: run}, `name "list_commands" already registered`},
		{"alias is its name", Command{Name: "z", Aliases: []string{"z"}, Run: run}, `alias "z" empty or repeated`},
		{"empty name", Command{Run: run}, "empty name"},
		{"no run", Command{Name: "norun"}, "no Run function"},
		{"repeated param", Command{Name: "p", Params: []Param{{Name: "a"}, {Name: "a"}}, Run: run}, `param "a" empty or repeated`},
	}
	s := newCommandServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Register(tt.cmd)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	// A refused command leaves nothing behind.
	if _, ok := s.lookup("x"); ok {
		t.Errorf("got command x registered after a refused Register, want none")
	}
}

// TestStopGraceful: Stop lets a running command finish and its answer
// reach the client.
func TestStopGraceful(t *testing.T) {
	defer goleak.VerifyNone(t)
	started, release := make(chan struct{}), make(chan struct{})
	s := startServer(t, Deps{}, Command{Name: "slow", Run: func(ctx context.Context, _ Args) (any, error) {
		close(started)
		<-release
		return "done", nil
	}})
	type answer struct {
		raw json.RawMessage
		err error
	}
	answers := make(chan answer, 1)
	go func() {
		raw, err := Call(context.Background(), s.Addr(), "slow", nil)
		answers <- answer{raw, err}
	}()
	<-started
	addr := s.Addr()
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(context.Background()) }()

	// Stop must wait for the command: new connections are refused
	// meanwhile, and Stop has not returned.
	waitFor(t, func() bool {
		_, err := Call(t.Context(), addr, "which", nil)
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("got Stop returning %v while a command runs, want it waiting", err)
	default:
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("got Stop error %v, want nil", err)
	}
	a := <-answers
	if a.err != nil || string(a.raw) != `"done"` {
		t.Errorf("got %s, %v, want \"done\"", a.raw, a.err)
	}
}

// TestStopDeadline: when the grace period ends, Stop cancels the running
// command's context and returns the deadline error.
func TestStopDeadline(t *testing.T) {
	defer goleak.VerifyNone(t)
	started := make(chan struct{})
	cancelled := make(chan struct{})
	s, err := New(Config{Enabled: true, Listen: "127.0.0.1:0"}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Register(Command{Name: "stuck", Run: func(ctx context.Context, _ Args) (any, error) {
		close(started)
		<-ctx.Done()
		close(cancelled)
		return nil, &Error{Code: 408, Message: "cancelled"}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		Call(context.Background(), addr, "stuck", nil) //nolint:errcheck // the connection is closed under it
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got Stop error %v, want %v", err, context.DeadlineExceeded)
	}
	<-cancelled
	<-clientDone
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBrowserRequestsRefused(t *testing.T) {
	s := startServer(t, Deps{})
	body := `{"jsonrpc":"2.0","method":"which","id":1}`
	tests := []struct {
		name       string
		header     map[string]string
		host       string
		wantStatus int
	}{
		{"curl", nil, "", http.StatusOK},
		{"localhost host", nil, "localhost:8888", http.StatusOK},
		{"ipv6 loopback host", nil, "[::1]:8888", http.StatusOK},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, "", http.StatusOK},
		{"cross site", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", http.StatusForbidden},
		{"foreign origin", map[string]string{"Origin": "http://evil.example"}, "", http.StatusForbidden},
		{"rebound host", nil, "evil.example:8888", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/mi", bytes.NewReader([]byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.host != "" {
				req.Host = tt.host
			}
			status, got := do(t, req)
			if status != tt.wantStatus {
				t.Errorf("got status %d (%s), want %d", status, got, tt.wantStatus)
			}
			if status == http.StatusForbidden {
				var r response
				if err := json.Unmarshal([]byte(got), &r); err != nil || r.Error == nil || r.Error.Code != CodeInvalidRequest {
					t.Errorf("got body %s, want a JSON-RPC error %d", got, CodeInvalidRequest)
				}
			}
		})
	}
}
