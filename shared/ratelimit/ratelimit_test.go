package ratelimit_test

import (
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/ratelimit"
)

// simulate runs requests through the pure algorithm, as the store's conditional
// updates do, and returns how many were admitted.
func simulate(c ratelimit.Cost, tat *int64, now int64, n int) int {
	admitted := 0
	for range n {
		if ok, _ := c.Admit(*tat, now); ok {
			*tat = max(*tat, now) + c.Increment()
			admitted++
		}
	}
	return admitted
}

func TestBurstIsTheLimit(t *testing.T) {
	for _, limit := range []int64{1, 7, 60, 600, 1000} {
		c := ratelimit.Cost{Name: ratelimit.Requests, Limit: limit, Units: 1}
		var tat int64
		now := int64(time.Hour)
		if got := simulate(c, &tat, now, int(limit)*3); got != int(limit) {
			t.Errorf("limit %d: a burst admitted %d", limit, got)
		}
		// Refill: after a twelfth of a minute, a twelfth of the limit passes again
		// (plus the half-unit skew tolerance).
		later := now + int64(5*time.Second)
		interval := int64(time.Minute) / limit
		if got, want := simulate(c, &tat, later, int(limit)), int((int64(5*time.Second)+interval/2)/interval); got != want {
			t.Errorf("limit %d: after 5s admitted %d, want %d", limit, got, want)
		}
	}
}

// TestNoBoundaryDoubling: a fixed window lets 2L through around a window boundary;
// GCRA never admits more than L in any one instant, nor more than L + L·w/1min in
// any interval w.
func TestNoBoundaryDoubling(t *testing.T) {
	c := ratelimit.Cost{Name: ratelimit.Requests, Limit: 100, Units: 1}
	var tat int64
	now := int64(59_900 * time.Millisecond) // just before a minute boundary
	a := simulate(c, &tat, now, 200)
	b := simulate(c, &tat, now+int64(200*time.Millisecond), 200) // 0.2 s later, across the boundary
	if a+b > 100+1 {
		t.Errorf("admitted %d+%d around a boundary, want at most 101", a, b)
	}
}

// TestSkewedBurst: concurrent requests stamp their own clocks and reach the store
// out of order; a skew below half an emission interval still admits exactly L.
func TestSkewedBurst(t *testing.T) {
	c := ratelimit.Cost{Name: ratelimit.Requests, Limit: 10, Units: 1}
	var tat int64
	base := int64(time.Hour)
	admitted := 0
	for i := range 30 {
		now := base + int64(i%7)*int64(time.Millisecond)*400 // up to 2.4 s apart, in no order
		if i%2 == 0 {
			now = base + int64(2400*time.Millisecond) - int64(i%5)*int64(time.Millisecond)*300
		}
		if ok, _ := c.Admit(tat, now); ok {
			tat = max(tat, now) + c.Increment()
			admitted++
		}
	}
	if admitted != 10 {
		t.Errorf("a skewed burst admitted %d, want exactly 10", admitted)
	}
}

func TestTokens(t *testing.T) {
	c := ratelimit.Cost{Name: ratelimit.Tokens, Limit: 10_000, Units: 4_000}
	var tat int64
	if got := simulate(c, &tat, 0, 5); got != 2 {
		t.Errorf("4000-token requests under 10000/min: burst admitted %d, want 2", got)
	}
	ok, retry := c.Admit(tat, 0)
	if ok || retry <= 0 || retry > time.Minute {
		t.Errorf("third request: ok=%v retry=%v", ok, retry)
	}
	if big := (ratelimit.Cost{Limit: 10, Units: 11}); big.Fits() {
		t.Error("11 units fit a limit of 10")
	}
	st := c.StateAt(tat, 0)
	if st.Remaining != 2000 || st.Reset != 48*time.Second {
		t.Errorf("state = %+v, want 2000 remaining, reset 48s", st)
	}
}

func TestRefund(t *testing.T) {
	c := ratelimit.Cost{Name: ratelimit.Tokens, Limit: 1000, Units: 600}
	per := int64(time.Minute) / 1000
	for _, tc := range []struct{ used, want int64 }{{100, 500 * per}, {0, 600 * per}, {600, 0}, {900, 0}, {-5, 600 * per}} {
		if got := c.Refund(tc.used); got != tc.want {
			t.Errorf("Refund(%d) = %d, want %d", tc.used, got, tc.want)
		}
	}
	if got := (ratelimit.Cost{}).Refund(0); got != 0 {
		t.Errorf("no limit: Refund = %d", got)
	}
}
