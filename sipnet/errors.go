package sipnet

import (
	"errors"
	"fmt"
)

// ErrTimeout is the outcome of a client transaction that got no final
// response in time (Timer F for non-INVITE, Timer B for INVITE, or 64*T1
// after a CANCEL).
var ErrTimeout = errors.New("sip transaction timed out")

// ErrStopped is the outcome of a client transaction still running when
// the stack stopped, and the error of calls made on a stack that is not
// running.
var ErrStopped = errors.New("sip stack not running")

// TransportError is a failure to deliver a message: name resolution,
// connecting, or writing.
type TransportError struct {
	Op        string // "resolve", "dial", "write"
	Transport string // "udp" or "tcp"
	Addr      string // the destination, host:port
	Err       error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("%s %s %s: %v", e.Op, e.Transport, e.Addr, e.Err)
}

func (e *TransportError) Unwrap() error { return e.Err }
