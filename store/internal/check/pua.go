package check

import (
	"errors"

	"github.com/presenced/presenced/pua"
)

// PUAPublication checks a pua publication to be put.
func PUAPublication(p *pua.Publication) error {
	if p == nil {
		return errNil
	}
	if p.ID == "" {
		return errors.New("empty id")
	}
	if err := Time("expires", p.Expires); err != nil {
		return err
	}
	return Time("desired", p.Desired)
}

// PUASubscription checks a pua subscription to be put.
func PUASubscription(s *pua.Subscription) error {
	if s == nil {
		return errNil
	}
	if s.ID == "" {
		return errors.New("empty id")
	}
	if err := Time("expires", s.Expires); err != nil {
		return err
	}
	if err := Time("desired", s.Desired); err != nil {
		return err
	}
	return Time("notify at", s.NotifyAt)
}

// PUABatch checks every row b puts, as PresenceBatch does.
func PUABatch(b *pua.Batch) error {
	for i, p := range b.PutPublications {
		if err := PUAPublication(p); err != nil {
			return PutError("publication", i, err)
		}
	}
	for i, s := range b.PutSubscriptions {
		if err := PUASubscription(s); err != nil {
			return PutError("subscription", i, err)
		}
	}
	return nil
}
