// Package mi is the management interface: a registry of commands served as
// JSON-RPC 2.0 (https://www.jsonrpc.org/specification) over HTTP, in the
// request shape of OpenSIPS 3's mi_http module (POST /mi), together with
// Prometheus metrics (GET /metrics) and a health check (GET /health) on the
// same listener. It also holds the client behind `presenced mi`.
//
// Modules expose typed Go methods; a Command only decodes its Args, calls
// the method and returns its struct, or a *Error whose code becomes the
// JSON-RPC error code.
//
// Goroutines: Start starts one, which runs http.Server.Serve and ends when
// Stop shuts the server down. Request handlers run on net/http's goroutines;
// Stop waits for them until its context is done, then cancels their
// contexts and closes the connections.
//
// Locks: Server.mu guards the command table, Server.life guards the
// listener state. They are never held together.
package mi
