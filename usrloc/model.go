package usrloc

import (
	"context"
	"time"
)

// Binding is one registered contact of an address of record (RFC 3261
// section 10).
type Binding struct {
	ID        string // stable id
	AOR       string // canonical "sip:user@domain"
	Contact   string // the contact URI as registered
	Q         int    // q-value in thousandths (0..1000), -1 when not given
	Expires   time.Time
	CallID    string
	CSeq      uint32
	Instance  string   // +sip.instance (RFC 5626), "" when absent
	RegID     int      // reg-id (RFC 5626), 0 when absent
	Path      []string // Path header values (RFC 3327), in order
	Received  string   // "ip:port" the REGISTER came from
	Transport string   // "udp" or "tcp"
	UserAgent string
	Updated   time.Time
}

// Batch is a set of changes written together, in one transaction.
type Batch struct {
	Put    []*Binding
	Delete []string // Binding.ID
}

// Empty reports whether the batch changes nothing.
func (b *Batch) Empty() bool { return len(b.Put) == 0 && len(b.Delete) == 0 }

// Store persists the bindings. WriteBindings is called from one goroutine
// at a time with coalesced batches; LoadBindings once at start.
type Store interface {
	LoadBindings(ctx context.Context) ([]*Binding, error)
	WriteBindings(ctx context.Context, b *Batch) error
}
