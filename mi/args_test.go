package mi

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestArgsGetters(t *testing.T) {
	params := []Param{{Name: "s"}, {Name: "n"}}
	tests := []struct {
		name     string
		raw      string
		get      func(Args) (any, error)
		want     any
		wantCode int // 0: no error
	}{
		{"string", `{"s":"sip:a@b"}`, str("s"), "sip:a@b", 0},
		{"string from a number", `{"s":1001}`, str("s"), "1001", 0},
		{"string keeps dot", `{"s":"."}`, str("s"), ".", 0},
		{"string escapes", `{"s":"<a \"b\">\n"}`, str("s"), "<a \"b\">\n", 0},
		{"string missing", `{}`, str("s"), "", CodeInvalidParams},
		{"string an array", `{"s":[1]}`, str("s"), "", CodeInvalidParams},
		{"string undeclared", `{}`, str("x"), "", CodeInternalError},

		{"int", `{"n":3600}`, integer("n"), 3600, 0},
		{"int negative", `{"n":-1}`, integer("n"), -1, 0},
		{"int from a string", `{"n":"3600"}`, integer("n"), 3600, 0},
		{"int from a padded string", `{"n":" 60 "}`, integer("n"), 60, 0},
		{"int integral float", `{"n":3.6e3}`, integer("n"), 3600, 0},
		{"int fractional", `{"n":0.5}`, integer("n"), 0, CodeInvalidParams},
		{"int too big", `{"n":1e30}`, integer("n"), 0, CodeInvalidParams},
		{"int string too big", `{"n":"99999999999999999999"}`, integer("n"), 0, CodeInvalidParams},
		{"int a word", `{"n":"ten"}`, integer("n"), 0, CodeInvalidParams},
		{"int dot", `{"n":"."}`, integer("n"), 0, CodeInvalidParams},
		{"int a boolean", `{"n":false}`, integer("n"), 0, CodeInvalidParams},
		{"int missing", `[]`, integer("n"), 0, CodeInvalidParams},

		{"optstring given", `["x"]`, optStr("s"), "x", 0},
		{"optstring missing", `[]`, optStr("s"), "", 0},
		{"optstring null", `[null]`, optStr("s"), "", 0},
		{"optstring dot", `["."]`, optStr("s"), "", 0},
		{"optstring wrong type", `[{}]`, optStr("s"), "", CodeInvalidParams},
		{"optstring undeclared", `[]`, optStr("x"), "", CodeInternalError},

		{"optint given", `[".", "5"]`, optInt("n", 7), 5, 0},
		{"optint missing", `["x"]`, optInt("n", 7), 7, 0},
		{"optint dot", `["x", "."]`, optInt("n", 7), 7, 0},
		{"optint wrong", `["x", "y"]`, optInt("n", 7), 0, CodeInvalidParams},

		{"has given", `{"s":""}`, has("s"), true, 0},
		{"has missing", `{}`, has("s"), false, 0},
		{"has null", `{"s":null}`, has("s"), false, 0},
		{"has dot", `{"s":"."}`, has("s"), false, 0},
		{"has undeclared", `{"s":"x"}`, has("x"), false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewArgs(params, json.RawMessage(tt.raw))
			if err != nil {
				t.Fatalf("NewArgs(%s): %v", tt.raw, err)
			}
			got, err := tt.get(a)
			if code := errCode(err); code != tt.wantCode {
				t.Fatalf("got error %v (code %d), want code %d", err, code, tt.wantCode)
			}
			if err == nil && got != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestNewArgs(t *testing.T) {
	params := []Param{{Name: "a", Required: true}, {Name: "b"}}
	tests := []struct {
		name    string
		raw     string
		wantErr string // "" for success
	}{
		{"absent", ``, `missing required param "a"`},
		{"null", `null`, `missing required param "a"`},
		{"named", `{"a":"1","b":2}`, ""},
		{"positional", `["1"]`, ""},
		{"positional full", `["1",2]`, ""},
		{"unknown name, first in order", `{"a":"1","zz":1,"c":2}`, `unknown param "c"`},
		{"too many", `["1",2,3]`, "too many params: want at most 2, got 3"},
		{"required null", `{"a":null}`, `missing required param "a"`},
		{"a number", `12`, "params: want an object or an array, got 12"},
		{"broken object", `{"a":`, "params: unexpected end of JSON input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewArgs(params, json.RawMessage(tt.raw))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want success", err)
			case tt.wantErr != "":
				var e *Error
				if !errors.As(err, &e) || e.Code != CodeInvalidParams || e.Message != tt.wantErr {
					t.Errorf("got %v, want -32602 %q", err, tt.wantErr)
				}
			}
		})
	}
}

func errCode(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

func str(name string) func(Args) (any, error) {
	return func(a Args) (any, error) { return a.String(name) }
}

func integer(name string) func(Args) (any, error) {
	return func(a Args) (any, error) { return a.Int(name) }
}

func optStr(name string) func(Args) (any, error) {
	return func(a Args) (any, error) { return a.OptString(name) }
}

func optInt(name string, def int) func(Args) (any, error) {
	return func(a Args) (any, error) { return a.OptInt(name, def) }
}

func has(name string) func(Args) (any, error) {
	return func(a Args) (any, error) { return a.Has(name), nil }
}
