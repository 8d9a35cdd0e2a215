package budget_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
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
