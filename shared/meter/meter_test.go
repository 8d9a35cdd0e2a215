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

// ledger answers Admit with err (or admits), and counts settlements. The store
// itself is tested against dynalite in shared/dynamo and tests/budget; this
// checks what the meter makes of its answers.
type ledger struct {
	err     error
	got     budget.Admission
	settled []budget.Charge
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
	l.settled = append(l.settled, c)
	return nil
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
