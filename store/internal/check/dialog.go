package check

import (
	"errors"

	"github.com/presenced/presenced/dialog"
)

// Dialog checks a dialog to be put: it needs its id and its Call-ID, the
// key a BYE finds it by.
func Dialog(r *dialog.Record) error {
	if r == nil {
		return errNil
	}
	if r.ID == "" {
		return errors.New("empty id")
	}
	if r.CallID == "" {
		return errors.New("empty call id")
	}
	if err := Time("created", r.Created); err != nil {
		return err
	}
	if err := Time("confirmed", r.Confirmed); err != nil {
		return err
	}
	return Time("expires", r.Expires)
}

// DialogBatch checks every dialog b puts, as PresenceBatch does.
func DialogBatch(b *dialog.Batch) error {
	for i, v := range b.Put {
		if err := Dialog(v); err != nil {
			return PutError("dialog", i, err)
		}
	}
	return nil
}
