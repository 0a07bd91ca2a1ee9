package mi

import (
	"net/http"
	"strings"
	"testing"
)

func TestServeMI(t *testing.T) {
	s := startServer(t, Deps{})
	tests := []struct {
		name       string
		body       string
		wantStatus int
		want       string // JSON compared by value; "" for no body
	}{
		// Params by name, by position, through aliases.
		{
			"named params",
			`{"jsonrpc":"2.0","method":"pua_mi:publish","params":{"presentity_uri":"sip:alice@example.com","expires":3600,"event_package":"presence"},"id":1}`,
			200, `{"jsonrpc":"2.0","result":{"presentity_uri":"sip:alice@example.com","expires":3600,"event_package":"presence"},"id":1}`,
		},
		{
			"positional params",
			`{"jsonrpc":"2.0","method":"pua_mi:publish","params":["sip:alice@example.com",3600,"presence","a.1"],"id":2}`,
			200, `{"jsonrpc":"2.0","result":{"presentity_uri":"sip:alice@example.com","expires":3600,"event_package":"presence","etag":"a.1"},"id":2}`,
		},
		{
			"numbers as strings",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:alice@example.com","3600","presence"],"id":3}`,
			200, `{"jsonrpc":"2.0","result":{"presentity_uri":"sip:alice@example.com","expires":3600,"event_package":"presence"},"id":3}`,
		},
		{
			"dot skips a positional param",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",60,"presence",".",".","application/pidf+xml","<presence/>"],"id":4}`,
			200, `{"jsonrpc":"2.0","result":{"presentity_uri":"sip:a@b","expires":60,"event_package":"presence","content_type":"application/pidf+xml","body":"<presence/>"},"id":4}`,
		},
		{
			"kamailio alias and string id",
			`{"jsonrpc":"2.0","method":"pua.publish","params":{"presentity_uri":"sip:a@b","expires":0,"event_package":"dialog"},"id":"x-1"}`,
			200, `{"jsonrpc":"2.0","result":{"presentity_uri":"sip:a@b","expires":0,"event_package":"dialog"},"id":"x-1"}`,
		},
		{
			"null id is answered",
			`{"jsonrpc":"2.0","method":"nothing","id":null}`,
			200, `{"jsonrpc":"2.0","result":null,"id":null}`,
		},
		{
			"null params",
			`{"jsonrpc":"2.0","method":"nothing","params":null,"id":5}`,
			200, `{"jsonrpc":"2.0","result":null,"id":5}`,
		},
		{
			"empty positional params",
			`{"jsonrpc":"2.0","method":"nothing","params":[],"id":6}`,
			200, `{"jsonrpc":"2.0","result":null,"id":6}`,
		},

		// Protocol errors.
		{
			"not JSON",
			`{"jsonrpc":"2.0","method":`,
			200, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: body is not JSON"},"id":null}`,
		},
		{
			"empty body",
			``,
			200, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: body is not JSON"},"id":null}`,
		},
		{
			"not an object",
			`"which"`,
			200, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: want an object, got \"which\""},"id":null}`,
		},
		{
			"wrong jsonrpc version",
			`{"jsonrpc":"1.0","method":"which","id":7}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: jsonrpc must be \"2.0\""},"id":7}`,
		},
		{
			"no jsonrpc member",
			`{"method":"which","id":8}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: jsonrpc must be \"2.0\""},"id":8}`,
		},
		{
			"method not a string",
			`{"jsonrpc":"2.0","method":1,"params":"bar"}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: method must be a string"},"id":null}`,
		},
		{
			"id an object",
			`{"jsonrpc":"2.0","method":"which","id":{"a":1}}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: id must be a string, a number or null, got an object"},"id":null}`,
		},
		{
			"unknown method",
			`{"jsonrpc":"2.0","method":"pua_unpublish","id":9}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"pua_unpublish\""},"id":9}`,
		},

		// Invalid params.
		{
			"missing required param",
			`{"jsonrpc":"2.0","method":"pua_publish","params":{"presentity_uri":"sip:a@b","expires":60},"id":10}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"missing required param \"event_package\""},"id":10}`,
		},
		{
			"required param null",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",null,"presence"],"id":11}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"missing required param \"expires\""},"id":11}`,
		},
		{
			"unknown named param",
			`{"jsonrpc":"2.0","method":"pua_publish","params":{"presentity_uri":"sip:a@b","expires":60,"event_package":"presence","event":"x"},"id":12}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"unknown param \"event\""},"id":12}`,
		},
		{
			"too many positional params",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",60,"presence",".",".",".",".","extra"],"id":13}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"too many params: want at most 7, got 8"},"id":13}`,
		},
		{
			"params on a command taking none",
			`{"jsonrpc":"2.0","method":"nothing","params":["x"],"id":14}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"too many params: want at most 0, got 1"},"id":14}`,
		},
		{
			"params a string",
			`{"jsonrpc":"2.0","method":"pua_publish","params":"sip:a@b","id":15}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"params: want an object or an array, got \"sip:a@b\""},"id":15}`,
		},
		{
			"integer param not a number",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b","soon","presence"],"id":16}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"param \"expires\": want an integer, got \"soon\""},"id":16}`,
		},
		{
			"integer param fractional",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",1.5,"presence"],"id":17}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"param \"expires\": want an integer, got 1.5"},"id":17}`,
		},
		{
			"string param an object",
			`{"jsonrpc":"2.0","method":"pua_publish","params":[{"uri":"sip:a@b"},60,"presence"],"id":18}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"param \"presentity_uri\": want a string, got an object"},"id":18}`,
		},
		{
			"string param a boolean",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",60,true],"id":19}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32602,"message":"param \"event_package\": want a string, got a boolean"},"id":19}`,
		},

		// Command errors.
		{
			"typed command error",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",60,"presence","unknown"],"id":20}`,
			200, `{"jsonrpc":"2.0","error":{"code":404,"message":"no such ETag"},"id":20}`,
		},
		{
			"wrapped typed error",
			`{"jsonrpc":"2.0","method":"timeout","id":21}`,
			200, `{"jsonrpc":"2.0","error":{"code":408,"message":"Request Timeout"},"id":21}`,
		},
		{
			"untyped command error",
			`{"jsonrpc":"2.0","method":"fail","id":22}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"store unavailable"},"id":22}`,
		},
		{
			"command panics",
			`{"jsonrpc":"2.0","method":"panic","id":23}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error: command panic panicked"},"id":23}`,
		},
		{
			"result cannot be encoded",
			`{"jsonrpc":"2.0","method":"unencodable","id":24}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error: encode result: json: unsupported type: chan int"},"id":24}`,
		},
		{
			"command reads an undeclared param",
			`{"jsonrpc":"2.0","method":"undeclared","id":25}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32603,"message":"command reads undeclared param \"nope\""},"id":25}`,
		},

		// Notifications and batches.
		{
			"notification",
			`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",60,"presence"]}`,
			204, ``,
		},
		{
			"failing notification",
			`{"jsonrpc":"2.0","method":"nosuch"}`,
			204, ``,
		},
		{
			"invalid notification is answered",
			`{"jsonrpc":"2.0","method":7}`,
			200, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: method must be a string"},"id":null}`,
		},
		{
			"batch",
			`[{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b",60,"presence"],"id":1},
			  {"jsonrpc":"2.0","method":"nothing"},
			  {"jsonrpc":"2.0","method":"nosuch","id":2},
			  1,
			  {"jsonrpc":"2.0","method":"timeout","id":3}]`,
			200, `[{"jsonrpc":"2.0","result":{"presentity_uri":"sip:a@b","expires":60,"event_package":"presence"},"id":1},
			       {"jsonrpc":"2.0","error":{"code":-32601,"message":"method not found: \"nosuch\""},"id":2},
			       {"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: want an object, got 1"},"id":null},
			       {"jsonrpc":"2.0","error":{"code":408,"message":"Request Timeout"},"id":3}]`,
		},
		{
			"batch of notifications",
			`[{"jsonrpc":"2.0","method":"nothing"},{"jsonrpc":"2.0","method":"fail"}]`,
			204, ``,
		},
		{
			"empty batch",
			`[]`,
			200, `{"jsonrpc":"2.0","error":{"code":-32600,"message":"invalid request: empty batch"},"id":null}`,
		},
		{
			"invalid batch JSON",
			`[{"jsonrpc":"2.0","method":"which","id":1},`,
			200, `{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: body is not JSON"},"id":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, s.Addr(), tt.body)
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			if tt.want == "" {
				if body != "" {
					t.Errorf("got body %q, want none", body)
				}
				return
			}
			if d := jsonDiff(t, body, tt.want); d != "" {
				t.Errorf("got %s, want %s (-want +got):\n%s", body, tt.want, d)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	s := startServer(t, Deps{})
	tests := []struct {
		name       string
		size       int
		wantStatus int
		wantCode   int // 0: success
	}{
		{"at the limit", maxBody, 200, 0},
		{"over the limit", maxBody + 1, http.StatusRequestEntityTooLarge, CodeParseError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A valid request padded with spaces to the size.
			req := `{"jsonrpc":"2.0","method":"nothing","id":1}`
			body := req + strings.Repeat(" ", tt.size-len(req))
			status, got := post(t, s.Addr(), body)
			if status != tt.wantStatus {
				t.Errorf("got status %d, want %d", status, tt.wantStatus)
			}
			want := `{"jsonrpc":"2.0","result":null,"id":1}`
			if tt.wantCode != 0 {
				want = `{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error: request body over 1048576 bytes"},"id":null}`
			}
			if d := jsonDiff(t, got, want); d != "" {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestWrongHTTPMethod(t *testing.T) {
	s := startServer(t, Deps{})
	status, _ := get(t, s.Addr(), "/mi")
	if status != http.StatusMethodNotAllowed {
		t.Errorf("got status %d for GET /mi, want %d", status, http.StatusMethodNotAllowed)
	}
}

func TestWhich(t *testing.T) {
	s := startServer(t, Deps{})
	tests := []struct {
		name string
		body string
		want string
	}{
		{
			"one command by alias",
			`{"jsonrpc":"2.0","method":"list_commands","params":["pua_publish"],"id":1}`,
			`{"jsonrpc":"2.0","result":{"name":"pua_mi:publish","aliases":["pua_publish","pua.publish"],"help":"publish","params":[
				{"name":"presentity_uri","required":true},{"name":"expires","required":true},{"name":"event_package","required":true},
				{"name":"etag","required":false},{"name":"extra_headers","required":false},{"name":"content_type","required":false},
				{"name":"body","required":false}]},"id":1}`,
		},
		{
			"no such command",
			`{"jsonrpc":"2.0","method":"which","params":{"command":"nosuch"},"id":2}`,
			`{"jsonrpc":"2.0","error":{"code":404,"message":"no such command \"nosuch\""},"id":2}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body := post(t, s.Addr(), tt.body)
			if d := jsonDiff(t, body, tt.want); d != "" {
				t.Errorf("got %s (-want +got):\n%s", body, d)
			}
		})
	}

	t.Run("all commands sorted, each once", func(t *testing.T) {
		var names []string
		for _, c := range s.Commands() {
			names = append(names, c.Name)
		}
		want := "fail nothing panic pua_mi:publish timeout undeclared unencodable which"
		if got := strings.Join(names, " "); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
		_, body := post(t, s.Addr(), `{"jsonrpc":"2.0","method":"which","id":3}`)
		if !strings.Contains(body, `{"name":"which","aliases":["list_commands"]`) || !strings.Contains(body, `"name":"nothing","params":[]`) {
			t.Errorf("got %s, want every command with its aliases and params", body)
		}
	})
}
