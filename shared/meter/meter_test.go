package meter_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/meter"
	"github.com/tollgate/tollgate/shared/ratelimit"
	"github.com/tollgate/tollgate/shared/tenant"
)

// ledger answers Admit with err (or admits), fails the first settleFails
// settlements, and records settlements and checkpoints. The store itself is
// tested against dynalite in shared/dynamo and tests/budget; this checks what
// the meter makes of its answers.
type ledger struct {
	err          error
	got          budget.Admission
	settleFails  int
	settleTries  int
	settled      []budget.Charge
	checkpoints  chan budget.Charge // nil: none expected
	checkpointed []budget.Charge
}

func (l *ledger) Admit(_ context.Context, a budget.Admission) (budget.Admitted, error) {
	l.got = a
	if l.err != nil {
		return budget.Admitted{}, l.err
	}
	return budget.Admitted{Reservation: budget.Reservation{RequestID: a.RequestID, Tokens: a.Prompt + a.MaxOutput,
		Used: budget.Used{Day: 40, Month: 90}}, Output: a.MaxOutput}, nil
}

func (l *ledger) Settle(_ context.Context, _ budget.Reservation, c budget.Charge) error {
	l.settleTries++
	if l.settleTries <= l.settleFails {
		return errors.New("throttled")
	}
	l.settled = append(l.settled, c)
	return nil
}

// Checkpoint waits for the test to let it through l.checkpoints, so the test
// decides when a checkpoint is in flight.
func (l *ledger) Checkpoint(_ context.Context, _ budget.Reservation, c budget.Charge) error {
	got := <-l.checkpoints
	if got != c {
		return errors.New("checkpoint released with another charge")
	}
	l.checkpointed = append(l.checkpointed, c)
	return nil
}

// TestSettleRetries: a failed settlement is retried until it lands, within the
// window; one that never lands is given up when the window ends.
func TestSettleRetries(t *testing.T) {
	cfg := &tenant.Config{ID: "acme"}
	cost := meter.Cost{RequestID: "r1", Input: 10, Output: 20}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

	l := &ledger{settleFails: 3}
	m := &meter.Meter{Ledger: l, SettleWindow: time.Minute}
	tk, _, err := m.Admit(context.Background(), cfg, now, cost, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	tk.Settle(context.Background(), budget.Charge{Input: 3, Output: 4})
	if l.settleTries != 4 || len(l.settled) != 1 {
		t.Errorf("%d tries, settled %v; want the fourth try to settle once", l.settleTries, l.settled)
	}

	l = &ledger{settleFails: 1 << 30}
	m = &meter.Meter{Ledger: l, SettleWindow: 350 * time.Millisecond}
	tk, _, _ = m.Admit(context.Background(), cfg, now, cost, http.Header{})
	tk.Settle(context.Background(), budget.Charge{Input: 3, Output: 4})
	// Backoff 100, 200 ms: tries at 0, 100 and 300 ms, then the window ends.
	if l.settleTries < 2 || len(l.settled) != 0 {
		t.Errorf("%d tries, settled %v; want retries, then giving up", l.settleTries, l.settled)
	}
}

// TestCheckpoints: a checkpoint is due every CheckpointEvery output tokens, never
// while one is in flight; Settle waits for the one in flight.
func TestCheckpoints(t *testing.T) {
	cfg := &tenant.Config{ID: "acme"}
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	l := &ledger{checkpoints: make(chan budget.Charge)}
	m := &meter.Meter{Ledger: l, CheckpointEvery: 100}
	tk, _, err := m.Admit(context.Background(), cfg, now, meter.Cost{RequestID: "r1", Input: 10, Output: 1000}, http.Header{})
	if err != nil {
		t.Fatal(err)
	}
	if tk.CheckpointDue(99) {
		t.Error("due before CheckpointEvery tokens")
	}
	if !tk.CheckpointDue(100) {
		t.Fatal("not due at CheckpointEvery tokens")
	}
	first := budget.Charge{Input: 10, Output: 100, Model: "echo/echo-1"}
	tk.Checkpoint(context.Background(), first)
	if tk.CheckpointDue(250) {
		t.Error("due while the last checkpoint is in flight")
	}
	l.checkpoints <- first // the write ends
	for !tk.CheckpointDue(250) {
		time.Sleep(time.Millisecond) // the ticket sees the write ended
	}
	second := budget.Charge{Input: 10, Output: 250, Model: "echo/echo-1"}
	tk.Checkpoint(context.Background(), second)
	go func() { l.checkpoints <- second }()
	tk.Settle(context.Background(), budget.Charge{Input: 10, Output: 300})
	if len(l.checkpointed) != 2 || len(l.settled) != 1 {
		t.Errorf("checkpoints %v, settlements %v", l.checkpointed, l.settled)
	}
	if tk.CheckpointDue(1000) {
		t.Error("due after settlement")
	}
	var none *meter.Ticket
	if none.CheckpointDue(1000) {
		t.Error("an unmetered request checkpoints")
	}
}

func TestAdmit(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	cfg := &tenant.Config{ID: "acme", TokenBudget: tenant.Budget{Daily: 100, Monthly: 1000},
		RateLimit: tenant.RateLimit{RequestsPerMinute: 5, TokensPerMinute: 500}}
	cost := meter.Cost{RequestID: "r1", Input: 10, Output: 20, RateEstimate: 25, OutputParam: "max_tokens"}

	l := &ledger{}
	m := &meter.Meter{Ledger: l, Lease: time.Minute}
	h := http.Header{}
	tk, refusal, err := m.Admit(context.Background(), cfg, now, cost, h)
	if err != nil || refusal != meter.Admitted || tk.Reserved() != 30 {
		t.Fatalf("Admit = %+v, %v, %v", tk, refusal, err)
	}
	if a := l.got; a.Prompt != 10 || a.MaxOutput != 20 || a.Budget.MinOutput != tenant.DefaultMinOutputTokens || len(a.Rates) != 2 ||
		a.Rates[1] != (ratelimit.Cost{Name: ratelimit.Tokens, Limit: 500, Units: 25}) || a.Lease != time.Minute {
		t.Errorf("admission %+v", a)
	}
	if h.Get(meter.HeaderBudgetRemainingDaily) != "60" || h.Get(meter.HeaderBudgetRemainingMonthly) != "910" ||
		h.Get(meter.HeaderBudgetResetDaily) != "2026-12-03T00:00:00Z" {
		t.Errorf("headers %v", h)
	}
	tk.Settle(context.Background(), budget.Charge{Input: 3, Output: 4})
	tk.Settle(context.Background(), budget.Charge{Input: 99})
	if len(l.settled) != 1 || l.settled[0].Input != 3 {
		t.Errorf("settlements %v, want one", l.settled)
	}
	var none *meter.Ticket
	none.Settle(context.Background(), budget.Charge{}) // not admitted: nothing to settle
	if none.Reserved() != 0 {
		t.Error("a nil ticket reserves nothing")
	}

	for _, tt := range []struct {
		name    string
		err     error
		refusal meter.Refusal
		status  int
		code    string
		param   string
	}{
		{"budget", &budget.ExhaustedError{Period: budget.Day, Limit: 100, Used: 100, ResetsAt: now.Add(time.Hour)}, meter.BudgetRefused, 429, "budget_exceeded", ""},
		{"rate", &ratelimit.LimitedError{Dimension: ratelimit.Requests, Limit: 5, RetryAfter: time.Second}, meter.RateLimited, 429, "rate_limit_exceeded", ""},
		{"never fits", &ratelimit.LimitedError{Dimension: ratelimit.Tokens, Limit: 5, Units: 30}, meter.RateLimited, 400, "request_exceeds_rate_limit", "max_tokens"},
		{"store", errors.New("connection refused"), meter.StoreFailed, 503, "", ""},
	} {
		l := &ledger{err: tt.err}
		m := &meter.Meter{Ledger: l}
		tk, refusal, err := m.Admit(context.Background(), cfg, now, cost, http.Header{})
		e := apierr.From(err)
		if tk != nil || refusal != tt.refusal || e.Kind.Status() != tt.status || (tt.code != "" && e.Code != tt.code) || e.Param != tt.param {
			t.Errorf("%s: Admit = %v, %v, %+v", tt.name, tk, refusal, e)
		}
		if tt.name == "budget" && e.RetryAfter != time.Hour {
			t.Errorf("budget refusal Retry-After %v, want 1h", e.RetryAfter)
		}
	}
}
