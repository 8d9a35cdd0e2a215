package money

import (
	"context"
	"sync"
	"time"
)

// Book is the price table a deployment charges by: the shipped defaults,
// overridden by the deployment's MODEL_PRICES, overridden by what operators set
// through the admin API (read from the store, cached for TTL). It is safe for
// concurrent use.
type Book struct {
	Base  Table                                    // defaults merged with the deployment's setting
	Load  func(ctx context.Context) (Table, error) // the admin API's prices; nil: none
	TTL   time.Duration
	mu    sync.Mutex
	table Table
	at    time.Time
}

// Table returns the prices in force at now.
func (b *Book) Table(ctx context.Context, now time.Time) (Table, error) {
	if b == nil {
		return nil, nil
	}
	if b.Load == nil {
		return b.Base, nil
	}
	b.mu.Lock()
	if b.table != nil && now.Sub(b.at) < b.TTL {
		t := b.table
		b.mu.Unlock()
		return t, nil
	}
	b.mu.Unlock()
	admin, err := b.Load(ctx)
	if err != nil {
		return nil, err
	}
	t := Merge(b.Base, admin)
	b.mu.Lock()
	b.table, b.at = t, now
	b.mu.Unlock()
	return t, nil
}

// Forget drops the cached table, so the next call reads the store (after an
// admin change in this process).
func (b *Book) Forget() {
	b.mu.Lock()
	b.table = nil
	b.mu.Unlock()
}
