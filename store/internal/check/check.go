// Package check holds the rules every backend applies to a row before it
// writes it, so that the memory backend used in tests rejects exactly what
// the SQL backends reject.
package check

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/presenced/presenced/presence"
)

// The times a backend stores: what int64 unix nanoseconds hold.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// errNil is a nil row in a batch.
var errNil = errors.New("nil row")

// Time reports whether t can be stored: the zero time or a time
// between 1677-09-21 and 2262-04-11.
func Time(name string, t time.Time) error {
	if t.IsZero() || (!t.Before(minTime) && !t.After(maxTime)) {
		return nil
	}
	return fmt.Errorf("%s %s out of range", name, t.Format(time.RFC3339))
}

// Publication checks a publication to be put.
func Publication(p *presence.Publication) error {
	if p == nil {
		return errNil
	}
	if p.ID == "" {
		return errors.New("empty id")
	}
	if err := Time("expires", p.Expires); err != nil {
		return err
	}
	return Time("updated", p.Updated)
}

// Subscription checks a subscription to be put.
func Subscription(s *presence.Subscription) error {
	if s == nil {
		return errNil
	}
	if s.ID == "" {
		return errors.New("empty id")
	}
	if err := Time("created", s.Created); err != nil {
		return err
	}
	return Time("expires", s.Expires)
}

// Authorization checks an authorization to be put.
func Authorization(a *presence.Authorization) error {
	if a == nil {
		return errNil
	}
	if a.Presentity == "" || a.Watcher == "" || a.Event == "" {
		return fmt.Errorf("incomplete key %q %q %q", a.Presentity, a.Watcher, a.Event)
	}
	return Time("updated", a.Updated)
}

// PresenceBatch checks every row b puts. The memory backend calls it
// before changing anything; the SQL backends check each row as they write
// it and roll back on the first error.
func PresenceBatch(b *presence.Batch) error {
	for i, p := range b.PutPublications {
		if err := Publication(p); err != nil {
			return PutError("publication", i, err)
		}
	}
	for i, s := range b.PutSubscriptions {
		if err := Subscription(s); err != nil {
			return PutError("subscription", i, err)
		}
	}
	for i, a := range b.PutAuthorizations {
		if err := Authorization(a); err != nil {
			return PutError("authorization", i, err)
		}
	}
	return nil
}

// PutError says which put of a batch failed: "put subscription 3: empty id".
func PutError(kind string, i int, err error) error {
	return fmt.Errorf("put %s %d: %w", kind, i, err)
}
