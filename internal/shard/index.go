package shard

import (
	"hash/maphash"
	"sync"
)

// Index is a concurrent map from string keys to values, split in buckets
// with their own mutex. It maps dialog ids to the keys of the shards that
// own them, so requests that do not name the key (in-dialog requests
// addressed to our Contact) find their shard.
type Index[V any] struct {
	seed    maphash.Seed
	buckets [64]bucket[V]
}

type bucket[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

// NewIndex builds an empty index.
func NewIndex[V any]() *Index[V] {
	x := &Index[V]{seed: maphash.MakeSeed()}
	for i := range x.buckets {
		x.buckets[i].m = map[string]V{}
	}
	return x
}

func (x *Index[V]) bucket(k string) *bucket[V] {
	return &x.buckets[maphash.String(x.seed, k)%uint64(len(x.buckets))]
}

// Put sets k to v.
func (x *Index[V]) Put(k string, v V) {
	b := x.bucket(k)
	b.mu.Lock()
	b.m[k] = v
	b.mu.Unlock()
}

// Get returns the value of k.
func (x *Index[V]) Get(k string) (V, bool) {
	b := x.bucket(k)
	b.mu.Lock()
	v, ok := b.m[k]
	b.mu.Unlock()
	return v, ok
}

// Delete removes k.
func (x *Index[V]) Delete(k string) {
	b := x.bucket(k)
	b.mu.Lock()
	delete(b.m, k)
	b.mu.Unlock()
}

// Len counts the entries.
func (x *Index[V]) Len() int {
	n := 0
	for i := range x.buckets {
		b := &x.buckets[i]
		b.mu.Lock()
		n += len(b.m)
		b.mu.Unlock()
	}
	return n
}
