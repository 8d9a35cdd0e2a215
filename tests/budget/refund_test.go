package budget_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/ratelimit"
	"github.com/tollgate/tollgate/shared/tenant"
)

// TestTokensPerMinuteRefund: tokens-per-minute counts a request's estimate at
// admission and gives back, at settlement, what it did not use. With a limit
// of 1,000 and estimates of 600, a second request is refused while the first
// is in flight, and admitted once the first settled having used 100; a
// settlement that used its whole estimate gives nothing back.
func TestTokensPerMinuteRefund(t *testing.T) {
	t.Parallel()
	st := dynamotest.Require(t, ddb).NewStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if _, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme"}, nil, t0); err != nil {
		t.Fatal(err)
	}
	scope := dynamotest.Scope(t, st, "acme")
	admit := func(id string, at time.Time) (budget.Admitted, error) {
		return st.Admit(ctx, budget.Admission{TenantID: scope, RequestID: id, Now: at, Prompt: 100, MaxOutput: 500,
			Lease: time.Minute, Budget: budget.Limits{MinOutput: 16},
			Rates: []ratelimit.Cost{{Name: ratelimit.Tokens, Limit: 1000, Units: 600}}})
	}
	limited := func(err error) bool {
		var lim *ratelimit.LimitedError
		return errors.As(err, &lim)
	}
	first, err := admit("r1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admit("r2", t0); !limited(err) {
		t.Fatalf("a second 600 while the first is in flight: %v, want rate limited", err)
	}
	if err := st.Settle(ctx, first.Reservation, budget.Charge{Input: 60, Output: 40}); err != nil {
		t.Fatal(err)
	}
	second, err := admit("r3", t0)
	if err != nil {
		t.Fatalf("after the first settled at 100 of its 600: %v, want admitted", err)
	}
	if err := st.Settle(ctx, second.Reservation, budget.Charge{Input: 100, Output: 500}); err != nil {
		t.Fatal(err)
	}
	// 100 + 600 used of 1,000: a third 600 waits for the window to move on.
	if _, err := admit("r4", t0); !limited(err) {
		t.Fatalf("a third 600 after 700 used: %v, want rate limited", err)
	}
	if _, err := admit("r5", t0.Add(30*time.Second)); err != nil {
		t.Fatalf("half a minute later (500 freed): %v, want admitted", err)
	}
}

// TestTokensPerMinuteRefundAcrossStores: two stores on one table (the state
// of two processes: each its own view of the usage item) admit and settle a
// burst of short answers, 8 at a time, at one instant (no refill): with a
// limit of 20,000 and estimates of 500, all 400 requests are admitted (40
// would be without refunds), the bucket holds exactly what they used, and
// what is left admits exactly that much more and not one token beyond.
func TestTokensPerMinuteRefundAcrossStores(t *testing.T) {
	t.Parallel()
	srv := dynamotest.Require(t, ddb)
	table := srv.NewTable(t)
	stores := []*dynamo.Store{dynamo.New(srv.Client(), table), dynamo.New(srv.Client(), table)}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if _, _, err := stores[0].PutTenant(ctx, tenant.Config{ID: "acme"}, nil, t0); err != nil {
		t.Fatal(err)
	}
	scope := dynamotest.Scope(t, stores[0], "acme")
	const limit, estimate, workers, each = 20_000, 500, 8, 50
	admission := func(id string, units int64) budget.Admission {
		return budget.Admission{TenantID: scope, RequestID: id, Now: t0, Prompt: 100, MaxOutput: 400,
			Lease: time.Minute, Budget: budget.Limits{MinOutput: 16},
			Rates: []ratelimit.Cost{{Name: ratelimit.Tokens, Limit: limit, Units: units}}}
	}
	var wg sync.WaitGroup
	var used, admitted atomic.Int64
	for w := range workers {
		wg.Go(func() {
			st := stores[w%2]
			for i := range each {
				adm, err := st.Admit(ctx, admission(fmt.Sprintf("r-%d-%d", w, i), estimate))
				if err != nil {
					t.Errorf("request %d of worker %d: %v", i, w, err)
					continue
				}
				c := budget.Charge{Input: 7, Output: int64(1 + (w+i)%5)}
				if err := st.Settle(ctx, adm.Reservation, c); err != nil {
					t.Error(err)
				}
				admitted.Add(1)
				used.Add(c.Input + c.Output)
			}
		})
	}
	wg.Wait()
	if admitted.Load() != workers*each {
		t.Fatalf("admitted %d of %d", admitted.Load(), workers*each)
	}
	left := limit - used.Load()
	probe, err := stores[1].Admit(ctx, admission("probe", 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := probe.Rates[ratelimit.Tokens].Remaining; got != left-1 {
		t.Errorf("remaining after the burst and a 1-token probe = %d, want %d (limit %d − %d used − 1)", got, left-1, limit, used.Load())
	}
	if _, err := stores[0].Admit(ctx, admission("rest", left-1)); err != nil {
		t.Errorf("the %d tokens left: %v, want admitted", left-1, err)
	}
	var lim *ratelimit.LimitedError
	if _, err := stores[1].Admit(ctx, admission("beyond", 1)); !errors.As(err, &lim) {
		t.Errorf("one token beyond the allowance: %v, want rate limited", err)
	}
}
