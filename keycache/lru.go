package keycache

import (
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// lruMap is a bounded LRU of entries under one mutex. It wraps simplelru
// rather than using lru.Cache so that replacing an entry and retiring the
// one it replaces happen atomically (lru.Cache.Add does not report or evict
// the value it overwrites). Every entry that leaves the map is retired, which
// wipes its key once no callback holds it.
type lruMap[K comparable] struct {
	mu sync.Mutex
	l  *simplelru.LRU[K, *entry]
}

func newLRUMap[K comparable](size int) *lruMap[K] {
	l, err := simplelru.NewLRU(size, func(_ K, e *entry) { e.retire() })
	if err != nil { // only for size <= 0, which withDefaults rules out
		panic(err)
	}
	return &lruMap[K]{l: l}
}

func (m *lruMap[K]) get(k K) (*entry, bool) {
	m.mu.Lock()
	e, ok := m.l.Get(k)
	m.mu.Unlock()
	return e, ok
}

func (m *lruMap[K]) peek(k K) (*entry, bool) {
	m.mu.Lock()
	e, ok := m.l.Peek(k)
	m.mu.Unlock()
	return e, ok
}

// put stores e under k, retiring the entry it replaces (and, through the
// eviction callback, any entry evicted for room).
func (m *lruMap[K]) put(k K, e *entry) {
	m.mu.Lock()
	old, ok := m.l.Peek(k)
	m.l.Add(k, e)
	m.mu.Unlock()
	if ok && old != e {
		old.retire()
	}
}

// removeExpired drops the entries whose life ended at now, so their keys
// are wiped without waiting for eviction.
func (m *lruMap[K]) removeExpired(now time.Time) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, k := range m.l.Keys() {
		if e, ok := m.l.Peek(k); ok && !now.Before(e.expires) {
			m.l.Remove(k)
			n++
		}
	}
	return n
}

func (m *lruMap[K]) purge() {
	m.mu.Lock()
	m.l.Purge()
	m.mu.Unlock()
}

func (m *lruMap[K]) len() int {
	m.mu.Lock()
	n := m.l.Len()
	m.mu.Unlock()
	return n
}
