package commit

// Latest coalesces the changes of one write: for each key the last change
// wins, a put (a value) or a delete (nil), and keys keep the order in
// which they were first changed. The zero value is ready to use.
type Latest[K comparable, V any] struct {
	vals  map[K]*V
	order []K
}

// Put records v as the latest value of k; nil deletes k.
func (l *Latest[K, V]) Put(k K, v *V) {
	if l.vals == nil {
		l.vals = map[K]*V{}
	}
	if _, ok := l.vals[k]; !ok {
		l.order = append(l.order, k)
	}
	l.vals[k] = v
}

// Delete records the deletion of k.
func (l *Latest[K, V]) Delete(k K) { l.Put(k, nil) }

// Split returns the keys' latest values, puts and deletes apart, each in
// first-change order.
func (l *Latest[K, V]) Split() (puts []*V, deletes []K) {
	for _, k := range l.order {
		if v := l.vals[k]; v != nil {
			puts = append(puts, v)
		} else {
			deletes = append(deletes, k)
		}
	}
	return puts, deletes
}
