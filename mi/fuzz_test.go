package mi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzServeMI posts random bodies to /mi: the handler never panics and
// always answers with JSON-RPC 2.0 (or nothing, for notifications).
// Seeds are in testdata/fuzz/FuzzServeMI.
func FuzzServeMI(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","method":"pua_publish","params":["sip:a@b","60","presence"],"id":1}`,
		`{"jsonrpc":"2.0","method":"pua_publish","params":{"presentity_uri":"sip:a@b","expires":1e2,"event_package":"presence","etag":"."},"id":"a"}`,
		`[{"jsonrpc":"2.0","method":"which"},{"jsonrpc":"2.0","method":"panic","id":null},7]`,
		`{"jsonrpc":"2.0","method":"undeclared","id":[]}`,
		`[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(seed))
	}
	s := newCommandServer(f)
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/mi", bytes.NewReader(body)))
		got := w.Body.Bytes()
		switch w.Code {
		case http.StatusNoContent:
			if len(got) != 0 || !json.Valid(body) {
				t.Fatalf("got 204 with body %q for %q, want 204 only for valid notifications", got, body)
			}
			return
		case http.StatusOK, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("got status %d for %q", w.Code, body)
		}
		var batch []json.RawMessage
		if err := json.Unmarshal(got, &batch); err == nil {
			if len(batch) == 0 {
				t.Fatalf("got an empty batch answer for %q", body)
			}
			for _, r := range batch {
				checkResponse(t, r, body)
			}
			return
		}
		checkResponse(t, got, body)
	})
}

// checkResponse fails unless raw is one JSON-RPC 2.0 response object:
// jsonrpc "2.0", an id member, and exactly one of result and error.
func checkResponse(t *testing.T, raw, body []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("got %q for %q, want a JSON-RPC response: %v", raw, body, err)
	}
	_, hasResult := m["result"]
	errRaw, hasError := m["error"]
	_, hasID := m["id"]
	if string(m["jsonrpc"]) != `"2.0"` || !hasID || hasResult == hasError {
		t.Fatalf("got %q for %q, want jsonrpc 2.0, an id, and result or error", raw, body)
	}
	if hasError {
		var e Error
		if err := json.Unmarshal(errRaw, &e); err != nil || e.Code == 0 || e.Message == "" {
			t.Fatalf("got error %q for %q, want a code and a message", errRaw, body)
		}
	}
}
