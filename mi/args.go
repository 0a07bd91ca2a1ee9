package mi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// None is the OpenSIPS placeholder for an optional parameter that is not
// given, so that positional calls can skip one: ["sip:a@b", 60, "presence", "."].
const None = "."

// Args are a command's parameters, resolved by name whether the client
// sent them by name (an object) or by position (an array). Values are JSON
// strings or numbers; the getters convert them and report a wrong type as
// an -32602 *Error naming the parameter, which Run returns as is.
type Args struct {
	params []Param
	vals   map[string]json.RawMessage // given and not null
}

// NewArgs resolves raw, the "params" member of a request (an object, an
// array, null or empty), against the declared params. Problems are
// reported as an -32602 *Error: an unknown name, too many positional
// values, a required parameter missing or null. It lets other packages
// test their Run functions without HTTP.
func NewArgs(params []Param, raw json.RawMessage) (Args, error) {
	a, err := newArgs(params, raw)
	if err != nil {
		return Args{}, err
	}
	return a, nil
}

func newArgs(params []Param, raw json.RawMessage) (Args, *Error) {
	a := Args{params: params, vals: map[string]json.RawMessage{}}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
	case raw[0] == '{':
		var named map[string]json.RawMessage
		if err := json.Unmarshal(raw, &named); err != nil {
			return Args{}, Errorf(CodeInvalidParams, "params: %v", err)
		}
		var unknown []string
		for name, v := range named {
			if !a.declared(name) {
				unknown = append(unknown, name)
				continue
			}
			if !isNull(v) {
				a.vals[name] = v
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return Args{}, Errorf(CodeInvalidParams, "unknown param %q", unknown[0])
		}
	case raw[0] == '[':
		var pos []json.RawMessage
		if err := json.Unmarshal(raw, &pos); err != nil {
			return Args{}, Errorf(CodeInvalidParams, "params: %v", err)
		}
		if len(pos) > len(params) {
			return Args{}, Errorf(CodeInvalidParams, "too many params: want at most %d, got %d", len(params), len(pos))
		}
		for i, v := range pos {
			if !isNull(v) {
				a.vals[params[i].Name] = v
			}
		}
	default:
		return Args{}, Errorf(CodeInvalidParams, "params: want an object or an array, got %s", describe(raw))
	}
	for _, p := range params {
		if _, ok := a.vals[p.Name]; p.Required && !ok {
			return Args{}, Errorf(CodeInvalidParams, "missing required param %q", p.Name)
		}
	}
	return a, nil
}

func (a Args) declared(name string) bool {
	return slices.ContainsFunc(a.params, func(p Param) bool { return p.Name == name })
}

// get returns the raw value of name, or an error when the command reads a
// param it did not declare (a bug: -32603).
func (a Args) get(name string) (json.RawMessage, bool, *Error) {
	if !a.declared(name) {
		return nil, false, Errorf(CodeInternalError, "command reads undeclared param %q", name)
	}
	v, ok := a.vals[name]
	return v, ok, nil
}

// Has reports whether name was given with a value other than null or ".".
func (a Args) Has(name string) bool {
	v, ok := a.vals[name]
	return ok && !isNone(v)
}

// String returns the value of name: a JSON string, or the text of a JSON
// number. "." is returned as is.
func (a Args) String(name string) (string, error) {
	v, ok, err := a.get(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", Errorf(CodeInvalidParams, "missing param %q", name)
	}
	s, err := toString(name, v)
	if err != nil {
		return "", err
	}
	return s, nil
}

// OptString returns the value of name like String, or "" when it was not
// given, null or ".".
func (a Args) OptString(name string) (string, error) {
	if _, _, err := a.get(name); err != nil {
		return "", err
	}
	if !a.Has(name) {
		return "", nil
	}
	return a.String(name)
}

// Int returns the value of name: a JSON integer, or a string holding one
// ("3600"), as OpenSIPS clients send numbers as strings.
func (a Args) Int(name string) (int, error) {
	v, ok, err := a.get(name)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, Errorf(CodeInvalidParams, "missing param %q", name)
	}
	n, err := toInt(name, v)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// OptInt returns the value of name like Int, or def when it was not
// given, null or ".".
func (a Args) OptInt(name string, def int) (int, error) {
	if _, _, err := a.get(name); err != nil {
		return 0, err
	}
	if !a.Has(name) {
		return def, nil
	}
	return a.Int(name)
}

func toString(name string, v json.RawMessage) (string, *Error) {
	switch {
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return "", Errorf(CodeInvalidParams, "param %q: %v", name, err)
		}
		return s, nil
	case isNumber(v):
		return string(v), nil
	}
	return "", Errorf(CodeInvalidParams, "param %q: want a string, got %s", name, describe(v))
}

func toInt(name string, v json.RawMessage) (int, *Error) {
	bad := Errorf(CodeInvalidParams, "param %q: want an integer, got %s", name, describe(v))
	switch {
	case v[0] == '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, bad
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, strconv.IntSize)
		if err != nil {
			return 0, bad
		}
		return int(n), nil
	case isNumber(v):
		if n, err := strconv.ParseInt(string(v), 10, strconv.IntSize); err == nil {
			return int(n), nil
		}
		// 3600.0 or 3.6e3: accept when integral and in range.
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || f != math.Trunc(f) || f < math.MinInt || f >= math.MaxInt {
			return 0, bad
		}
		return int(f), nil
	}
	return 0, bad
}

func isNull(v json.RawMessage) bool {
	return string(bytes.TrimSpace(v)) == "null"
}

// isNone reports whether v is the "." placeholder.
func isNone(v json.RawMessage) bool {
	return string(v) == `"`+None+`"`
}

func isNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9')
}

// describe names a JSON value for an error message: strings and numbers
// are shown (shortened), other values by their kind.
func describe(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	const max = 40
	if len(v) > max {
		return fmt.Sprintf("%s...", v[:max])
	}
	return string(v)
}
