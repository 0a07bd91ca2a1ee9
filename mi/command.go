package mi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// JSON-RPC 2.0 error codes. A command's own errors use other codes,
// usually SIP-like ones (400, 404, 408, 500), as OpenSIPS does.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// Error is a JSON-RPC error object. A command returns one (possibly
// wrapped) to choose the code and message the client sees; Call returns one
// when the server answered with an error.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// Error returns "CODE MESSAGE", like textproto.Error.
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Param declares one parameter of a command. The order of Command.Params
// is the order of positional parameters.
type Param struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Help     string `json:"help,omitempty"`
}

// Command is one management command.
type Command struct {
	// Name is the method name, e.g. "pua_mi:publish".
	Name string `json:"name"`
	// Aliases are other method names for the same command, e.g. the old
	// OpenSIPS "pua_publish" or Kamailio's "pua.publish".
	Aliases []string `json:"aliases,omitempty"`
	Help    string   `json:"help,omitempty"`
	// Params are the parameters in positional order.
	Params []Param `json:"params"`
	// Run executes the command. ctx is cancelled when the client goes
	// away or when Stop's grace period ends. It returns a value encoded
	// as the JSON-RPC result, or an error: a *Error (possibly wrapped)
	// chooses the JSON-RPC error code, any other error is -32603.
	Run func(ctx context.Context, args Args) (any, error) `json:"-"`
}

// Register adds a command. Names and aliases share one namespace: a
// duplicate is an error, as is a command without a name or Run, or with an
// empty or repeated parameter name. Register may be called at any time,
// also while the server runs.
func (s *Server) Register(c Command) error {
	if err := c.check(); err != nil {
		return fmt.Errorf("register command %q: %w", c.Name, err)
	}
	c.Aliases = slices.Clone(c.Aliases)
	c.Params = slices.Clone(c.Params)
	if c.Params == nil {
		c.Params = []Param{} // "params": [] in which, not null
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	names := append([]string{c.Name}, c.Aliases...)
	for _, n := range names {
		if _, ok := s.cmds[n]; ok {
			return fmt.Errorf("register command %q: name %q already registered", c.Name, n)
		}
	}
	cmd := &c
	for _, n := range names {
		s.cmds[n] = cmd
	}
	return nil
}

func (c *Command) check() error {
	if c.Name == "" {
		return errors.New("empty name")
	}
	if c.Run == nil {
		return errors.New("no Run function")
	}
	seen := map[string]bool{c.Name: true}
	for _, a := range c.Aliases {
		if a == "" || seen[a] {
			return fmt.Errorf("alias %q empty or repeated", a)
		}
		seen[a] = true
	}
	params := map[string]bool{}
	for _, p := range c.Params {
		if p.Name == "" || params[p.Name] {
			return fmt.Errorf("param %q empty or repeated", p.Name)
		}
		params[p.Name] = true
	}
	return nil
}

// lookup finds a command by name or alias.
func (s *Server) lookup(method string) (*Command, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.cmds[method]
	return c, ok
}

// Commands returns the registered commands sorted by name, each once.
func (s *Server) Commands() []Command {
	s.mu.RLock()
	var out []Command
	for n, c := range s.cmds {
		if n == c.Name {
			out = append(out, *c)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Command) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// registerBuiltins adds the commands the server itself answers.
func (s *Server) registerBuiltins() error {
	return s.Register(Command{
		Name:    "which",
		Aliases: []string{"list_commands"},
		Help:    "list the commands with their aliases, params and help; with command, only that one",
		Params:  []Param{{Name: "command", Help: "a command name or alias"}},
		Run:     s.which,
	})
}

func (s *Server) which(_ context.Context, a Args) (any, error) {
	name, err := a.OptString("command")
	if err != nil {
		return nil, err
	}
	if name == "" {
		return s.Commands(), nil
	}
	c, ok := s.lookup(name)
	if !ok {
		return nil, Errorf(404, "no such command %q", name)
	}
	return *c, nil
}
