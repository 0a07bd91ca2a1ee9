package check

import (
	"errors"

	"github.com/presenced/presenced/usrloc"
)

// Binding checks a binding to be put: it needs its id and its address of
// record, the key the registrar looks bindings up by.
func Binding(b *usrloc.Binding) error {
	if b == nil {
		return errNil
	}
	if b.ID == "" {
		return errors.New("empty id")
	}
	if b.AOR == "" {
		return errors.New("empty aor")
	}
	if err := Time("expires", b.Expires); err != nil {
		return err
	}
	return Time("updated", b.Updated)
}

// UsrlocBatch checks every binding b puts, as PresenceBatch does.
func UsrlocBatch(b *usrloc.Batch) error {
	for i, v := range b.Put {
		if err := Binding(v); err != nil {
			return PutError("binding", i, err)
		}
	}
	return nil
}
