// Package sipnet is presenced's SIP transport and transaction layer: UDP
// and TCP listeners, server and client transactions (RFC 3261 sections 17
// and 18, RFC 6026 for INVITE, RFC 3581 rport), method routing to
// handlers, and sending requests.
//
// # Why our own transports and transactions
//
// We use sipgo v1.7.3 only for its message types and parser
// (github.com/emiago/sipgo/sip: sip.Request, sip.Response, the headers,
// Parser.ParseSIP for datagrams and Parser.NewSIPStream for TCP framing).
// Its transports and transactions are not used: as measured in
// reference/go-deps.md section 3, they keep about 4.3 KB per UDP server
// transaction for 32 s (1.4 GB at 10,000 requests a second), open a new
// UDP socket per destination for client requests (so NOTIFYs would not
// come from port 5060), refuse UDP messages over 1300 bytes, use
// process-global timers (sip.SetTimers), and spawn a goroutine per
// message. No other package builds transports or transactions: they use
// *sip.Request / *sip.Response and this package's API. This package never
// changes sipgo's globals.
//
// # Goroutines
//
// Start starts, and Stop ends and waits for:
//   - one reader per UDP socket: it only reads datagrams into pooled
//     buffers and queues them for the workers;
//   - one accept loop per TCP listener, and one reader per TCP connection
//     (accepted or dialed) that frames messages with sipgo's stream parser
//     and queues them for the worker chosen by Call-ID, so that one
//     dialog's messages on one connection stay in order;
//   - Config.Workers workers (default 2 x GOMAXPROCS): they parse
//     datagrams, validate, match transactions and run handlers;
//   - one timer goroutine for every transaction timer (see timers.go: one
//     FIFO list per duration, no time.Timer per transaction);
//   - short-lived goroutines for a TCP connect or a DNS lookup, only when
//     a message needs one (never per transaction when the next hop is an
//     IP address with an open connection or UDP).
//
// Stop first stops reading (sockets stay open so late answers go out),
// waits until every handler has sent its final response or the context
// is done, then closes the sockets and waits for the goroutines. Client
// transactions still running end with ErrStopped.
//
// # Callbacks
//
// Handlers run on workers and must return promptly. Send and SendInvite
// callbacks run on workers (responses and timeouts: the timer goroutine
// hands them over, so it never waits for user code), on a dial or lookup
// goroutine (transport errors), or in Stop (ErrStopped); they run with no
// lock of the stack held, in order per transaction, and must not block.
//
// # Locks
//
// A transaction's mutex may be held while taking a table shard mutex, the
// timer set's mutex or the TCP pool's mutex; those three are leaves and
// are never held while taking another lock. No transaction mutex is held
// while a callback or handler runs, nor while taking another
// transaction's mutex (a CANCEL takes its INVITE's mutex only after its
// own work). Stack.life guards the stack's state against Stop.
package sipnet
