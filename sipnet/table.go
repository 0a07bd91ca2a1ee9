package sipnet

import (
	"hash/maphash"
	"sync"
)

// table is a sharded map of live transactions by key. Shard mutexes are
// leaves: nothing else is locked while one is held.
type table[T any] struct {
	seed   maphash.Seed
	shards [64]tableShard[T]
}

type tableShard[T any] struct {
	mu sync.Mutex
	m  map[string]*T
}

func newTable[T any]() *table[T] {
	t := &table[T]{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*T)
	}
	return t
}

func (t *table[T]) shard(key string) *tableShard[T] {
	return &t.shards[maphash.String(t.seed, key)%uint64(len(t.shards))]
}

func (t *table[T]) get(key string) *T {
	sh := t.shard(key)
	sh.mu.Lock()
	v := sh.m[key]
	sh.mu.Unlock()
	return v
}

// getOrAdd returns the entry of key, or adds the one made by mk.
func (t *table[T]) getOrAdd(key string, mk func() *T) (v *T, added bool) {
	sh := t.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if v := sh.m[key]; v != nil {
		return v, false
	}
	v = mk()
	sh.m[key] = v
	return v, true
}

// add adds v unless key is taken.
func (t *table[T]) add(key string, v *T) bool {
	sh := t.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[key] != nil {
		return false
	}
	sh.m[key] = v
	return true
}

// remove deletes key if it still maps to v.
func (t *table[T]) remove(key string, v *T) bool {
	sh := t.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.m[key] != v {
		return false
	}
	delete(sh.m, key)
	return true
}

// drain removes and returns every entry.
func (t *table[T]) drain() []*T {
	var out []*T
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for k, v := range sh.m {
			out = append(out, v)
			delete(sh.m, k)
		}
		sh.mu.Unlock()
	}
	return out
}
