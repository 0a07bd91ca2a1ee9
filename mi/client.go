package mi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
)

// maxAnswer bounds the answer Call reads; listings can be large.
const maxAnswer = 256 << 20

// cliUsage is printed by RunCLI on a usage error and for -h.
const cliUsage = `usage:
  presenced mi COMMAND [VALUE...]              positional params
  presenced mi COMMAND -p NAME=VALUE [-p ...]  named params
  presenced mi COMMAND -- VALUE...             every VALUE positional
"." stands for an optional param not given; "presenced mi which" lists the commands.
`

// Call sends one JSON-RPC request to the management API at addr
// ("127.0.0.1:8888", or a URL such as "http://host:8888/mi") and returns
// the result. params is nil, a slice (positional) or a map (named). A
// JSON-RPC error is returned as a *Error; a server that cannot be reached
// gives an error saying so.
func Call(ctx context.Context, addr string, method string, params any) (json.RawMessage, error) {
	if addr == "" {
		addr = Default().Listen
	}
	endpoint, err := endpointURL(addr)
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		Method  string `json:"method"`
		Params  any    `json:"params,omitempty"`
		ID      int    `json:"id"`
	}{"2.0", method, params, 1})
	if err != nil {
		return nil, fmt.Errorf("call %s: encode params: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", method, err)
	}
	req.Header.Set("Content-Type", "application/json")
	tr := &http.Transport{DisableKeepAlives: true} // one call, no proxy
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("call %s: %w", method, ctx.Err())
		}
		return nil, &reachError{addr: addr, err: err}
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("call %s: read answer: %w", method, err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *Error          `json:"error"`
	}
	if err := json.Unmarshal(answer, &r); err != nil || (r.Result == nil && r.Error == nil) {
		return nil, fmt.Errorf("call %s: unexpected answer from %s: %s: %.200q", method, endpoint, resp.Status, answer)
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return r.Result, nil
}

// endpointURL turns "host:port" into "http://host:port/mi"; a URL is kept,
// with /mi added when it has no path.
func endpointURL(addr string) (string, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("management API address %q: %w", addr, err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/mi"
	}
	return u.String(), nil
}

// reachError says that the management API could not be reached.
type reachError struct {
	addr string
	err  error
}

func (e *reachError) Error() string {
	reason := e.err.Error()
	var se *os.SyscallError
	var dns *net.DNSError
	switch {
	case errors.Is(e.err, syscall.ECONNREFUSED):
		reason = "connection refused (is presenced running?)"
	case errors.As(e.err, &dns):
		reason = dns.Error()
	case errors.As(e.err, &se):
		reason = se.Err.Error()
	default:
		var ue *url.Error
		if errors.As(e.err, &ue) {
			reason = ue.Err.Error()
		}
	}
	return fmt.Sprintf("cannot reach the management API at %s: %s", e.addr, reason)
}

func (e *reachError) Unwrap() error { return e.err }

// CLIArgs turns the arguments of `presenced mi COMMAND [ARGS...]` into a
// method and its params:
//
//	COMMAND [VALUE...]            positional: a []string (nil when none)
//	COMMAND -p NAME=VALUE ...     named: a map[string]string
//	COMMAND -- VALUE...           positional, even values like "-p"
//
// Only "-p" (or "--param") and "--" are options; every other argument is
// a value, so "-1" is a value. Values stay strings ("." included); the
// server converts them. Mixing positional values and -p is an error.
func CLIArgs(args []string) (method string, params any, err error) {
	if len(args) == 0 || args[0] == "" {
		return "", nil, errors.New("missing command")
	}
	method = args[0]
	if strings.HasPrefix(method, "-") {
		return "", nil, fmt.Errorf("want a command before options, got %q", method)
	}
	var pos []string
	named := map[string]string{}
	for i := 1; i < len(args); i++ {
		switch a := args[i]; a {
		case "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case "-p", "--param":
			if i+1 == len(args) {
				return "", nil, fmt.Errorf("%s needs NAME=VALUE", a)
			}
			i++
			name, value, ok := strings.Cut(args[i], "=")
			if !ok || name == "" {
				return "", nil, fmt.Errorf("%s %q: want NAME=VALUE", a, args[i])
			}
			if _, dup := named[name]; dup {
				return "", nil, fmt.Errorf("param %q given twice", name)
			}
			named[name] = value
		default:
			pos = append(pos, a)
		}
	}
	switch {
	case len(named) > 0 && len(pos) > 0:
		return "", nil, fmt.Errorf("cannot mix positional values (%q) with -p NAME=VALUE", pos[0])
	case len(named) > 0:
		return method, named, nil
	case len(pos) > 0:
		return method, pos, nil
	}
	return method, nil, nil
}

// FormatResult writes a result as indented JSON and a newline.
func FormatResult(w io.Writer, raw json.RawMessage) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("format result: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// RunCLI runs `presenced mi ARGS...` against the management API at addr
// ("" means 127.0.0.1:8888) and returns the exit status: 0 with the result
// on stdout; 1 for a JSON-RPC or command error, printed on stderr as
// "error CODE: MESSAGE"; 2 for a usage error or an unreachable server.
func RunCLI(ctx context.Context, addr string, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help") {
		fmt.Fprint(stdout, cliUsage)
		return 0
	}
	method, params, err := CLIArgs(args)
	if err != nil {
		fmt.Fprintf(stderr, "%v\n%s", err, cliUsage)
		return 2
	}
	raw, err := Call(ctx, addr, method, params)
	var e *Error
	switch {
	case errors.As(err, &e):
		fmt.Fprintf(stderr, "error %d: %s\n", e.Code, e.Message)
		return 1
	case err != nil:
		fmt.Fprintln(stderr, err)
		return 2
	}
	if err := FormatResult(stdout, raw); err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	return 0
}
