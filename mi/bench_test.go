package mi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// publishBody is a pua_publish request as the pua benchmark (bench/pua)
// sends it: named params, a PIDF body with escaped quotes and newlines.
var publishBody = []byte(`{"jsonrpc":"2.0","method":"pua_publish","params":{"presentity_uri":"sip:u12345@127.0.0.1","expires":3600,"event_package":"presence","content_type":"application/pidf+xml","etag":".","extra_headers":".","body":"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" entity=\"sip:u12345@127.0.0.1\">\n  <tuple id=\"t1\">\n    <status><basic>open</basic></status>\n    <note>available 12345</note>\n  </tuple>\n</presence>\n"},"id":42}`)

// BenchmarkServeMI is the management API's request path without the
// network: the HTTP handler, JSON-RPC decoding, parameter resolution, the
// command (which reads every param and returns them) and the encoded
// response.
func BenchmarkServeMI(b *testing.B) {
	s := newCommandServer(b)
	h := s.Handler()
	b.ReportAllocs()
	b.SetBytes(int64(len(publishBody)))
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/mi", bytes.NewReader(publishBody)))
		if w.Code != http.StatusOK || !bytes.HasPrefix(w.Body.Bytes(), []byte(`{"jsonrpc":"2.0","result":`)) {
			b.Fatalf("got %d %s", w.Code, w.Body)
		}
	}
}

// TestAppendSuccess: a success response written without re-encoding is
// byte for byte what encoding it would give.
func TestAppendSuccess(t *testing.T) {
	for _, r := range []*response{
		{JSONRPC: "2.0", Result: json.RawMessage(`{"code":200,"reason":"OK","ETag":"a1","Expires":60}` + "\n"), ID: json.RawMessage(`42`)},
		{JSONRPC: "2.0", Result: json.RawMessage(`"<presence/>"` + "\n"), ID: json.RawMessage(`"x\"y"`)},
		{JSONRPC: "2.0", Result: json.RawMessage(`null` + "\n"), ID: json.RawMessage(`null`)},
		{JSONRPC: "2.0", Result: json.RawMessage(`[1,2]` + "\n")},
	} {
		want, err := encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendSuccess(nil); !bytes.Equal(got, want) {
			t.Errorf("appendSuccess = %s, want %s", got, want)
		}
	}
}
