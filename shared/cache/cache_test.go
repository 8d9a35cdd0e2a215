package cache_test

import (
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/cache"
)

func TestTTL(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	c := cache.New[string, int](30*time.Second, 2)
	c.Put("a", 1, t0)
	if v, ok := c.Get("a", t0.Add(29*time.Second)); !ok || v != 1 {
		t.Errorf("Get within the TTL = %d, %v", v, ok)
	}
	if _, ok := c.Get("a", t0.Add(30*time.Second)); ok {
		t.Error("Get at the TTL still hits")
	}
	// Full: expired entries go first, then others, never past max.
	c.Put("b", 2, t0.Add(40*time.Second))
	c.Put("c", 3, t0.Add(41*time.Second))
	if _, ok := c.Get("c", t0.Add(42*time.Second)); !ok {
		t.Error("the newest entry was evicted")
	}
	if _, okB := c.Get("b", t0.Add(42*time.Second)); okB {
		if _, okA := c.Get("a", t0.Add(42*time.Second)); okA {
			t.Error("more than max entries are kept")
		}
	}
	off := cache.New[string, int](0, 10)
	off.Put("a", 1, t0)
	if _, ok := off.Get("a", t0); ok {
		t.Error("a zero TTL caches")
	}
}
