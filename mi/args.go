package mi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	vals   map[string]any // given and not null, as decodeJSON decodes them
}

// NewArgs resolves raw, the "params" member of a request (an object, an
// array, null or empty), against the declared params. Problems are
// reported as an -32602 *Error: an unknown name, too many positional
// values, a required parameter missing or null. It lets other packages
// test their Run functions without HTTP.
func NewArgs(params []Param, raw json.RawMessage) (Args, error) {
	var v any
	if raw = bytes.TrimSpace(raw); len(raw) > 0 {
		if err := decodeJSON(raw, &v); err != nil {
			return Args{}, Errorf(CodeInvalidParams, "params: %v", err)
		}
	}
	a, err := newArgs(params, v)
	if err != nil {
		return Args{}, err
	}
	return a, nil
}

// newArgs resolves the decoded "params" member (nil when absent or null).
func newArgs(params []Param, raw any) (Args, *Error) {
	a := Args{params: params, vals: make(map[string]any, len(params))}
	switch v := raw.(type) {
	case nil:
	case map[string]any:
		var unknown []string
		for name, x := range v {
			if !a.declared(name) {
				unknown = append(unknown, name)
				continue
			}
			if x != nil {
				a.vals[name] = x
			}
		}
		if len(unknown) > 0 {
			slices.Sort(unknown)
			return Args{}, Errorf(CodeInvalidParams, "unknown param %q", unknown[0])
		}
	case []any:
		if len(v) > len(params) {
			return Args{}, Errorf(CodeInvalidParams, "too many params: want at most %d, got %d", len(params), len(v))
		}
		for i, x := range v {
			if x != nil {
				a.vals[params[i].Name] = x
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

// get returns the decoded value of name, or an error when the command
// reads a param it did not declare (a bug: -32603).
func (a Args) get(name string) (any, bool, *Error) {
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

func toString(name string, v any) (string, *Error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return string(x), nil
	}
	return "", Errorf(CodeInvalidParams, "param %q: want a string, got %s", name, describe(v))
}

func toInt(name string, v any) (int, *Error) {
	bad := Errorf(CodeInvalidParams, "param %q: want an integer, got %s", name, describe(v))
	switch x := v.(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(x), 10, strconv.IntSize)
		if err != nil {
			return 0, bad
		}
		return int(n), nil
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, strconv.IntSize); err == nil {
			return int(n), nil
		}
		// 3600.0 or 3.6e3: accept when integral and in range.
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || f != math.Trunc(f) || f < math.MinInt || f >= math.MaxInt {
			return 0, bad
		}
		return int(f), nil
	}
	return 0, bad
}

// isNone reports whether v is the "." placeholder.
func isNone(v any) bool {
	s, ok := v.(string)
	return ok && s == None
}

// decodeJSON decodes one JSON value of data, and nothing after it, into
// v in a single decoding pass: objects as map[string]any, arrays as []any,
// numbers as json.Number (their text kept, so that an id or an integer is
// never rounded through float64), strings unescaped.
func decodeJSON(data []byte, v *any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return errors.New("unexpected end of JSON input")
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// encodeValue is the JSON text of a decoded value, without HTML escaping.
func encodeValue(v any) []byte {
	if n, ok := v.(json.Number); ok {
		return []byte(n)
	}
	b, err := encode(v)
	if err != nil { // decoded values always encode
		return []byte("null")
	}
	return bytes.TrimSuffix(b, []byte("\n"))
}

// describe names a decoded JSON value for an error message: strings and
// numbers are shown (shortened), other values by their kind.
func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	const max = 40
	b := encodeValue(v)
	if len(b) > max {
		return fmt.Sprintf("%s...", b[:max])
	}
	return string(b)
}
