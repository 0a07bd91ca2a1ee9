package mi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxBody bounds a request body on /mi.
const maxBody = 1 << 20

// response is one JSON-RPC 2.0 response object. Result is encoded before
// the response so that a result that cannot be encoded fails this request
// alone; nil Result with nil Error never happens.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
	ID      json.RawMessage `json:"id"` // nil encodes as null
}

func errorResponse(id json.RawMessage, e *Error) *response {
	return &response{JSONRPC: "2.0", Error: e, ID: id}
}

// serveMI answers POST /mi.
func (s *Server) serveMI(w http.ResponseWriter, r *http.Request) {
	if err := s.checkOrigin(r); err != nil {
		writeJSON(w, http.StatusForbidden, errorResponse(nil, Errorf(CodeInvalidRequest, "%v", err)))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.count("unknown", CodeParseError)
			writeJSON(w, http.StatusRequestEntityTooLarge,
				errorResponse(nil, Errorf(CodeParseError, "parse error: request body over %d bytes", maxBody)))
			return
		}
		s.log.Debug("read request body", "err", err)
		return // the client went away; nobody reads an answer
	}
	out := s.handleBody(r.Context(), body)
	if out == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// handleBody runs a single request or a batch and returns what to send
// back: a *response, a []*response, or nil when nothing is to be sent
// (notifications only). The body is decoded once, in one pass.
func (s *Server) handleBody(ctx context.Context, body []byte) any {
	var v any
	if err := decodeJSON(bytes.TrimSpace(body), &v); err != nil {
		s.count("unknown", CodeParseError)
		return errorResponse(nil, Errorf(CodeParseError, "parse error: body is not JSON"))
	}
	batch, ok := v.([]any)
	if !ok {
		if r := s.handleOne(ctx, v); r != nil {
			return r
		}
		return nil
	}
	if len(batch) == 0 {
		s.count("unknown", CodeInvalidRequest)
		return errorResponse(nil, Errorf(CodeInvalidRequest, "invalid request: empty batch"))
	}
	var out []*response
	for _, x := range batch {
		if r := s.handleOne(ctx, x); r != nil {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// handleOne runs one decoded request object and returns its response, or
// nil for a notification.
func (s *Server) handleOne(ctx context.Context, v any) *response {
	req, id, notify, rerr := parseRequest(v)
	if rerr != nil {
		s.count("unknown", rerr.Code)
		return errorResponse(id, rerr)
	}
	c, ok := s.lookup(req.method)
	if !ok {
		s.count("unknown", CodeMethodNotFound)
		if notify {
			return nil
		}
		return errorResponse(id, Errorf(CodeMethodNotFound, "method not found: %q", req.method))
	}
	start := time.Now()
	result, rerr := s.run(ctx, c, req.params)
	d := time.Since(start)
	s.observe(c.Name, d)
	code := 0
	if rerr != nil {
		code = rerr.Code
	}
	s.count(c.Name, code)
	s.log.Debug("mi command", "method", req.method, "code", code, "duration", d)
	if notify {
		return nil
	}
	if rerr != nil {
		return errorResponse(id, rerr)
	}
	return &response{JSONRPC: "2.0", Result: result, ID: id}
}

type request struct {
	method string
	params any // decoded; nil when absent or null
}

// parseRequest checks the request object. It returns the id to answer
// with (the request's own when it is valid, else null), and whether the
// request is a notification. An invalid request is always answered.
func parseRequest(v any) (request, json.RawMessage, bool, *Error) {
	m, ok := v.(map[string]any)
	if !ok {
		return request{}, nil, false, Errorf(CodeInvalidRequest, "invalid request: want an object, got %s", describe(v))
	}
	idv, hasID := m["id"]
	var id json.RawMessage
	if hasID {
		switch idv.(type) {
		case string, json.Number, nil:
			id = encodeValue(idv)
		default:
			return request{}, nil, false, Errorf(CodeInvalidRequest, "invalid request: id must be a string, a number or null, got %s", describe(idv))
		}
	}
	if version, ok := m["jsonrpc"].(string); !ok || version != "2.0" {
		return request{}, id, false, Errorf(CodeInvalidRequest, `invalid request: jsonrpc must be "2.0"`)
	}
	method, ok := m["method"].(string)
	if !ok {
		return request{}, id, false, Errorf(CodeInvalidRequest, "invalid request: method must be a string")
	}
	return request{method: method, params: m["params"]}, id, !hasID, nil
}

// run resolves the params and runs c, turning every outcome into an
// encoded result or an *Error. A panic in the command is an internal error.
func (s *Server) run(ctx context.Context, c *Command, params any) (result json.RawMessage, rerr *Error) {
	args, rerr := newArgs(c.Params, params)
	if rerr != nil {
		return nil, rerr
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("mi command panicked", "method", c.Name, "panic", p)
			result, rerr = nil, Errorf(CodeInternalError, "internal error: command %s panicked", c.Name)
		}
	}()
	v, err := c.Run(ctx, args)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		s.log.Warn("mi command failed", "method", c.Name, "err", err)
		return nil, Errorf(CodeInternalError, "%v", err)
	}
	b, err := encode(v)
	if err != nil {
		s.log.Error("encode mi result", "method", c.Name, "err", err)
		return nil, Errorf(CodeInternalError, "internal error: encode result: %v", err)
	}
	return b, nil
}

// encode is json.Marshal without HTML escaping, so that XML bodies in
// results stay readable ("<presence", not "\u003cpresence"). The result
// ends with a newline.
func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// appendSuccess appends r, a success response, as encode would write it,
// without re-validating its already encoded result.
func (r *response) appendSuccess(b []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","result":`...)
	b = append(b, bytes.TrimRight(r.Result, "\n")...)
	b = append(b, `,"id":`...)
	if r.ID == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, r.ID...)
	}
	return append(b, "}\n"...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b []byte
	var err error
	if r, ok := v.(*response); ok && r.Error == nil {
		b = r.appendSuccess(make([]byte, 0, len(r.Result)+len(r.ID)+40))
	} else if b, err = encode(v); err != nil { // responses hold only encoded results and strings
		b = []byte(`{"jsonrpc":"2.0","error":{"code":-32603,"message":"internal error: encode response"},"id":null}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b) //nolint:errcheck // the client went away
}

// count and observe feed the metrics; code 0 is success.
func (s *Server) count(command string, code int) {
	c := "ok"
	if code != 0 {
		c = strconv.Itoa(code)
	}
	s.requests.WithLabelValues(command, c).Inc()
}

func (s *Server) observe(command string, d time.Duration) {
	s.duration.WithLabelValues(command).Observe(d.Seconds())
}
