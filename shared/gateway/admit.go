package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/ratelimit"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/tokens"
)

// Ledger admits requests against budgets and rate limits before any provider call
// and settles what they used afterwards. *dynamo.Store implements it.
type Ledger interface {
	Admit(ctx context.Context, a dynamo.Admission) (dynamo.Admitted, error)
	Settle(ctx context.Context, r budget.Reservation, c dynamo.Charge) error
}

// Budget and rate-limit headers.
const (
	HeaderBudgetRemainingDaily   = "x-budget-remaining-daily"
	HeaderBudgetRemainingMonthly = "x-budget-remaining-monthly"
	HeaderBudgetResetDaily       = "x-budget-reset-daily"
	HeaderBudgetResetMonthly     = "x-budget-reset-monthly"
	HeaderMaxTokensClamped       = "x-tollgate-max-tokens-clamped"
)

// settleTimeout bounds the settlement write, which runs after the client may be gone.
const settleTimeout = 5 * time.Second

// admit reserves the request's tokens and rate-limit share; refusals are
// *apierr.Error. On success the budget and rate-limit headers are set and the
// output limit is clamped when the budget required it.
func (x *exchange) admit(ctx context.Context, w http.ResponseWriter, cfg *tenant.Config) error {
	maxOut := int64(x.c.req.MaxTokens)
	if maxOut == 0 {
		maxOut = int64(x.h.DefaultMaxOutputTokens)
	}
	// Every choice may use the whole output limit: n choices reserve n times it.
	choices := int64(x.c.req.Choices())
	maxOut *= choices
	a := dynamo.Admission{
		TenantID:  cfg.ID,
		RequestID: x.reqID,
		Now:       x.h.Now(), // as late as possible: instances' stamps reach the store in another order
		Budget: budget.Limits{Daily: cfg.TokenBudget.Daily, Monthly: cfg.TokenBudget.Monthly,
			MinOutput: cfg.TokenBudget.MinOutputTokens},
		Prompt:    int64(tokens.RequestBound(&x.c.req)),
		MaxOutput: maxOut,
		Lease:     x.h.RequestTimeout + time.Minute,
	}
	if a.Budget.MinOutput == 0 {
		a.Budget.MinOutput = tenant.DefaultMinOutputTokens
	}
	if l := cfg.RateLimit.RequestsPerMinute; l > 0 {
		a.Rates = append(a.Rates, ratelimit.Cost{Name: ratelimit.Requests, Limit: l, Units: 1})
	}
	if l := cfg.RateLimit.TokensPerMinute; l > 0 {
		a.Rates = append(a.Rates, ratelimit.Cost{Name: ratelimit.Tokens, Limit: l,
			Units: int64(tokens.RequestEstimate(&x.c.req)) + maxOut})
	}
	adm, err := x.h.Ledger.Admit(ctx, a)
	var ex *budget.ExhaustedError
	var lim *ratelimit.LimitedError
	switch {
	case errors.As(err, &ex):
		x.budgetRefused = true
		return &apierr.Error{Kind: apierr.BudgetExceeded, Code: "budget_exceeded", Message: ex.Error(),
			RetryAfter: ex.ResetsAt.Sub(x.start)}
	case errors.As(err, &lim):
		x.rateLimited = true
		e := &apierr.Error{Kind: apierr.RateLimited, Code: "rate_limit_exceeded", Message: lim.Error(), RetryAfter: lim.RetryAfter}
		if lim.RetryAfter == 0 { // can never pass: a client error, not a wait
			e.Kind, e.Code, e.Param = apierr.Invalid, "request_exceeds_rate_limit", "max_tokens"
			if x.c.native {
				e.Param = "maxTokens"
			}
			e.Message += "; set " + e.Param + " lower"
		}
		return e
	case err != nil:
		return apierr.StoreUnavailable("meter this request", err)
	}
	x.res = &adm.Reservation
	if adm.Clamped {
		per := max(adm.Output/choices, 1)
		x.c.req.MaxTokens = int(per)
		w.Header().Set(HeaderMaxTokensClamped, strconv.FormatInt(per, 10))
	}
	x.setGovernanceHeaders(w, cfg, adm)
	return nil
}

func (x *exchange) setGovernanceHeaders(w http.ResponseWriter, cfg *tenant.Config, adm dynamo.Admitted) {
	h := w.Header()
	ps := budget.PeriodsAt(x.start)
	if l := cfg.TokenBudget.Daily; l > 0 {
		x.budgetInfo.RemainingDaily = ptr(max(l-adm.Reservation.Used.Day, 0))
		x.budgetInfo.ResetDaily = ps.DayReset.Format(time.RFC3339)
		h.Set(HeaderBudgetRemainingDaily, strconv.FormatInt(*x.budgetInfo.RemainingDaily, 10))
		h.Set(HeaderBudgetResetDaily, x.budgetInfo.ResetDaily)
	}
	if l := cfg.TokenBudget.Monthly; l > 0 {
		x.budgetInfo.RemainingMonthly = ptr(max(l-adm.Reservation.Used.Month, 0))
		x.budgetInfo.ResetMonthly = ps.MonthReset.Format(time.RFC3339)
		h.Set(HeaderBudgetRemainingMonthly, strconv.FormatInt(*x.budgetInfo.RemainingMonthly, 10))
		h.Set(HeaderBudgetResetMonthly, x.budgetInfo.ResetMonthly)
	}
	for name, st := range adm.Rates {
		h.Set("x-ratelimit-limit-"+name, strconv.FormatInt(st.Limit, 10))
		h.Set("x-ratelimit-remaining-"+name, strconv.FormatInt(st.Remaining, 10))
		h.Set("x-ratelimit-reset-"+name, st.Reset.Round(time.Millisecond).String())
	}
}

func ptr[T any](v T) *T { return &v }

// budgetInfo is what the native usage event reports about budgets.
type budgetInfo struct {
	RemainingDaily   *int64 `json:"remainingDaily,omitempty"`
	RemainingMonthly *int64 `json:"remainingMonthly,omitempty"`
	ResetDaily       string `json:"resetDaily,omitempty"`
	ResetMonthly     string `json:"resetMonthly,omitempty"`
}

// settle records what the request used, exactly once, on every exit path. It runs
// synchronously under a context that outlives a cancelled request: Lambda freezes
// the sandbox after the handler returns, so nothing may be left to a goroutine.
func (x *exchange) settle(ctx context.Context) {
	if x.res == nil {
		return
	}
	var c dynamo.Charge
	if x.usage != nil || x.outBytes > 0 {
		u := x.finalUsage()
		c = dynamo.Charge{Input: int64(u.InputTokens), Output: int64(u.OutputTokens), Model: x.model.String()}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := x.h.Ledger.Settle(sctx, *x.res, c); err != nil {
		x.h.Log.ErrorContext(sctx, "settle", "requestId", x.reqID, "err", err)
	}
}
