package dialog

import "context"

// Record is a dialog as persisted: the branch as subscribers see it, and
// what the proxy needs to send a BYE to either party (RFC 3261 12.2.1.1)
// after a restart.
type Record struct {
	Dialog
	// CallerCSeq and CalleeCSeq are the highest CSeq numbers seen in
	// requests from each party; a BYE we send on a party's behalf uses
	// one more.
	CallerCSeq uint32
	CalleeCSeq uint32
	// CallerRoute and CalleeRoute are the route sets from this proxy
	// toward each party, nearest hop first (Record-Route values below
	// ours, and above ours reversed).
	CallerRoute []string
	CalleeRoute []string
	// CallerDest and CalleeDest are "transport:ip:port" to send to when
	// the route set toward the party is empty and its target is not
	// reachable as it reads (NAT: where its INVITE came from, the
	// Received address of its binding); "" when the target is reachable.
	CallerDest string
	CalleeDest string
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.CallerRoute = append([]string(nil), r.CallerRoute...)
	c.CalleeRoute = append([]string(nil), r.CalleeRoute...)
	if len(c.CallerRoute) == 0 {
		c.CallerRoute = nil
	}
	if len(c.CalleeRoute) == 0 {
		c.CalleeRoute = nil
	}
	return &c
}

// Batch is a set of changes written together, in one transaction.
type Batch struct {
	Put    []*Record
	Delete []string // Dialog.ID
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool { return len(b.Put) == 0 && len(b.Delete) == 0 }

// Store persists confirmed dialogs. WriteDialogs is called from one
// goroutine at a time with coalesced batches; LoadDialogs once at Start.
type Store interface {
	LoadDialogs(ctx context.Context) ([]*Record, error)
	WriteDialogs(ctx context.Context, b *Batch) error
}
