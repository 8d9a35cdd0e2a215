// Package cache is a small in-memory cache whose entries expire after a fixed time
// to live. The hot path uses it so that API keys and tenant configurations are not
// read from DynamoDB on every request.
package cache

import (
	"sync"
	"time"
)

// TTL maps keys to values that expire ttl after they were stored. A zero ttl
// disables caching. It is safe for concurrent use; it holds at most max entries,
// dropping expired ones first and then arbitrary ones when full.
type TTL[K comparable, V any] struct {
	ttl time.Duration
	max int
	mu  sync.Mutex
	m   map[K]entry[V]
}

type entry[V any] struct {
	v       V
	expires time.Time
}

// New returns a cache of at most max entries living ttl each.
func New[K comparable, V any](ttl time.Duration, max int) *TTL[K, V] {
	return &TTL[K, V]{ttl: ttl, max: max, m: make(map[K]entry[V])}
}

// Get returns the value stored for k if it has not expired at now.
func (c *TTL[K, V]) Get(k K, now time.Time) (V, bool) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// Put stores v for k from now on.
func (c *TTL[K, V]) Put(k K, v V, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, key)
			}
		}
		for key := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = entry[V]{v, now.Add(c.ttl)}
}
