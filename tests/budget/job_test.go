package budget_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/periodclose"
	"github.com/tollgate/tollgate/shared/ratelimit"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// reserve admits a request that is then "killed": it never settles.
func reserve(t *testing.T, st *dynamo.Store, id string, now time.Time, lease time.Duration) budget.Admitted {
	t.Helper()
	adm, err := st.Admit(context.Background(), budget.Admission{
		TenantID: dynamotest.Scope(t, st, "acme"), RequestID: id, Now: now, Prompt: 100, MaxOutput: 400, Lease: lease,
		Budget: budget.Limits{Daily: 10_000, MinOutput: 16},
		Rates:  []ratelimit.Cost{{Name: ratelimit.Requests, Limit: 100, Units: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return adm
}

// TestJobReturnsExpiredReservations: a request killed between reserve and settle
// leaves a reservation that the job returns after its lease, exactly once, even
// with two jobs running at once; a late settle of it changes nothing.
func TestJobReturnsExpiredReservations(t *testing.T) {
	t.Parallel()
	st := dynamotest.Require(t, ddb).NewStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if _, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme", TokenBudget: tenant.Budget{Daily: 10_000}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	killed := reserve(t, st, "req-killed", t0, 15*time.Minute)
	live := reserve(t, st, "req-live", t0.Add(10*time.Minute), 15*time.Minute)
	if err := st.Settle(ctx, live.Reservation, budget.Charge{Input: 80, Output: 20, Model: "echo/echo-1"}); err != nil {
		t.Fatal(err)
	}

	res, err := periodclose.Run(ctx, st, quiet, t0.Add(10*time.Minute)) // lease not over yet
	if err != nil || res.Returned != 0 {
		t.Fatalf("before the lease ended: %+v, %v", res, err)
	}
	mu, _ := st.MonthUsage(ctx, dynamotest.Scope(t, st, "acme"), "2026-11")
	if mu.Days["25"].Reserved != 500 {
		t.Fatalf("reserved = %d, want the killed request's 500", mu.Days["25"].Reserved)
	}

	// Two jobs at once after the lease: the reservation is returned once.
	var wg sync.WaitGroup
	results := make([]periodclose.Result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := periodclose.Run(ctx, st, quiet, t0.Add(16*time.Minute))
			if err != nil {
				t.Error(err)
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if got := results[0].Returned + results[1].Returned; got != 1 {
		t.Errorf("returned %d times, want once: %+v", got, results)
	}
	again, _ := periodclose.Run(ctx, st, quiet, t0.Add(20*time.Minute))
	if again.Returned != 0 {
		t.Errorf("a third run returned %d", again.Returned)
	}
	// A settle arriving after the job is harmless.
	if err := st.Settle(ctx, killed.Reservation, budget.Charge{Input: 100, Output: 400}); err != nil {
		t.Fatal(err)
	}
	mu, _ = st.MonthUsage(ctx, dynamotest.Scope(t, st, "acme"), "2026-11")
	if d := mu.Days["25"]; d.Used != 100 || d.Reserved != 0 {
		t.Errorf("day usage %+v, want only the live request's 100 tokens", d)
	}
}

// TestJobWritesLedger: closed days reach the ledger; rerunning writes nothing new;
// GET /usage history reads it.
func TestJobWritesLedger(t *testing.T) {
	t.Parallel()
	st := dynamotest.Require(t, ddb).NewStore(t)
	ctx := context.Background()
	yesterday := time.Date(2026, 11, 24, 23, 59, 0, 0, time.UTC)
	if _, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme"}, nil, yesterday); err != nil {
		t.Fatal(err)
	}
	adm := reserve(t, st, "req-1", yesterday, 15*time.Minute)
	// Settled just after midnight: it still counts for the day it was reserved in.
	if err := st.Settle(ctx, adm.Reservation, budget.Charge{Input: 30, Output: 12, Model: "openai/gpt-4o-mini"}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 0, 5, 0, 0, time.UTC)
	res, err := periodclose.Run(ctx, st, quiet, now)
	if err != nil || res.DaysWritten != 1 {
		t.Fatalf("first run: %+v, %v; want one day written", res, err)
	}
	if res, _ := periodclose.Run(ctx, st, quiet, now.Add(15*time.Minute)); res.DaysWritten != 0 {
		t.Errorf("second run wrote %d days, want 0", res.DaysWritten)
	}
	days, err := st.Days(ctx, dynamotest.Scope(t, st, "acme"), "2026-11-01", "2026-11-30")
	if err != nil {
		t.Fatal(err)
	}
	d := days["2026-11-24"]
	if d.InputTokens != 30 || d.OutputTokens != 12 || d.Requests != 1 || d.ByModel["openai/gpt-4o-mini"].Requests != 1 {
		t.Errorf("ledger day = %+v", d)
	}
}

// TestJobFunction runs the budget-reset Lambda build with its event under the
// Runtime Interface Emulator, against dynalite.
func TestJobFunction(t *testing.T) {
	t.Parallel()
	srv := dynamotest.Require(t, ddb)
	table := srv.NewTable(t)
	st := dynamo.New(srv.Client(), table)
	ctx := context.Background()
	now := time.Now()
	if _, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme"}, nil, now); err != nil {
		t.Fatal(err)
	}
	reserve(t, st, "req-dead", now.Add(-time.Hour), time.Minute)

	rie := lambdatest.StartRIE(t, lambdatest.Build(t, "budget-reset"), map[string]string{
		"TABLE_NAME": table, "AWS_ENDPOINT_URL_DYNAMODB": srv.URL,
	})
	out := rie.InvokeFile(t, "../../events/budget-reset-scheduled.json")
	var res periodclose.Result
	if err := json.Unmarshal(out, &res); err != nil || res.Tenants != 1 || res.Returned != 1 || res.ReturnedTokens != 500 {
		t.Fatalf("job result %s (%v), want one tenant and one returned reservation of 500", out, err)
	}
	rie.WaitOutput(t, `"msg":"period close"`)
	mu, _ := st.MonthUsage(ctx, dynamotest.Scope(t, st, "acme"), budget.PeriodsAt(now.Add(-time.Hour)).Month)
	if len(mu.Reservations) != 0 {
		t.Errorf("reservations left: %+v", mu.Reservations)
	}
}
