// Package meter admits and settles the token cost of a metered request, for
// every route that spends a tenant's tokens (chat, embeddings): before any
// provider call it reserves the request's bound against the tenant's budgets and
// rate limits (one conditional write in the ledger), and afterwards it settles,
// exactly once, what the request really used. Refusals are OpenAI-shaped
// *apierr.Error values; admission sets the budget and rate-limit headers.
package meter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/ratelimit"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Ledger admits requests against budgets and rate limits and settles what they
// used. *dynamo.Store implements it.
type Ledger interface {
	Admit(ctx context.Context, a budget.Admission) (budget.Admitted, error)
	// Settle closes reservation r with charge c, exactly once: settling a closed
	// reservation again does nothing and succeeds, so a failed call may be retried.
	Settle(ctx context.Context, r budget.Reservation, c budget.Charge) error
	// Checkpoint records in r what its request has served so far, for the
	// period-close job to charge if the request never settles.
	Checkpoint(ctx context.Context, r budget.Reservation, c budget.Charge) error
}

// Budget and rate-limit headers.
const (
	HeaderBudgetRemainingDaily   = "x-budget-remaining-daily"
	HeaderBudgetRemainingMonthly = "x-budget-remaining-monthly"
	HeaderBudgetResetDaily       = "x-budget-reset-daily"
	HeaderBudgetResetMonthly     = "x-budget-reset-monthly"
	// The money budgets' remainders, in US dollars ("4.998736").
	HeaderBudgetRemainingCostDaily   = "x-budget-remaining-cost-daily"
	HeaderBudgetRemainingCostMonthly = "x-budget-remaining-cost-monthly"
)

// DefaultSettleWindow is how long settlement is retried when the ledger fails.
const DefaultSettleWindow = 20 * time.Second

// CheckpointTimeout bounds one checkpoint write: Settle may wait this long for
// one in flight before its own window starts.
const CheckpointTimeout = 5 * time.Second

// Settlement retries back off from settleBackoff, doubling up to settleBackoffMax.
const (
	settleBackoff    = 100 * time.Millisecond
	settleBackoffMax = 2 * time.Second
)

// Meter admits and settles requests. Its zero value is not usable: Ledger is
// required.
type Meter struct {
	Ledger Ledger
	Log    *slog.Logger
	// Lease is how long a reservation may stay unsettled before the period-close
	// job returns it: longer than any request may run.
	Lease time.Duration
	// SettleWindow bounds the retries of a failed settlement (0:
	// DefaultSettleWindow). What is not settled within it, the period-close job
	// closes after the lease, charging the last checkpoint.
	SettleWindow time.Duration
	// CheckpointEvery is how many output tokens a stream serves between two
	// checkpoints of what it served (0: none): at most this much of a stream
	// whose process dies goes uncharged.
	CheckpointEvery int64
}

// Cost is what a request may spend.
type Cost struct {
	RequestID string
	// Input bounds the input tokens from above (the reservation holds it).
	Input int64
	// Output is the output limit (0 for routes without output, such as
	// embeddings); admission may clamp it to what the budget leaves.
	Output int64
	// RateEstimate is what the tokens-per-minute limit counts: an estimate of
	// the input plus Output.
	RateEstimate int64
	// OutputParam names the output limit in the route's API, for the refusal of
	// a request that can never fit its tokens-per-minute limit ("max_tokens");
	// "" for routes without output.
	OutputParam string
	// Meta describes the request for its usage record.
	Meta budget.Meta
	// InputPrice and OutputPrice are the highest prices (micro-dollars per
	// million tokens) of the models the request may reach, for a tenant with a
	// money budget: its worst case is reserved at them.
	InputPrice, OutputPrice money.Micros
}

// Ticket is an admitted request, until it is settled. Its methods are for the
// request's own goroutine.
type Ticket struct {
	m        *Meter
	Admitted budget.Admitted
	settled  bool
	// The last checkpoint's output tokens, and the checkpoint write in flight.
	checkpointed int64
	writing      chan struct{}
}

// Refusal says why Admit refused a request, for metrics.
type Refusal uint8

const (
	Admitted      Refusal = iota
	BudgetRefused         // 429 budget_exceeded
	RateLimited           // 429 rate_limit_exceeded, or 400 when it can never fit
	StoreFailed           // 503: the ledger could not be reached
	ClientGone            // the client left while admission ran: ErrClientGone
)

// ErrClientGone is Admit's error when the request's context ended (the client
// hung up, or the request timed out) while the admission write ran: the
// reservation, if it landed, is released at once, and nobody is left to answer.
var ErrClientGone = errors.New("meter: the client left during admission")

// admitTimeout bounds the admission write, which runs to its answer whatever
// the client does: a reservation that landed must be known to be released.
const admitTimeout = 10 * time.Second

// Admit reserves c for the tenant cfg at now, and on success sets the budget and
// rate-limit headers on h. A refusal is an *apierr.Error (429 with Retry-After
// for budgets and rate limits, 400 for a request larger than its rate limit, 503
// when the ledger fails) with the Refusal kind for metrics.
func (m *Meter) Admit(ctx context.Context, cfg *tenant.Config, now time.Time, c Cost, h http.Header) (*Ticket, Refusal, error) {
	a := budget.Admission{
		TenantID:  cfg.Scope(), // the ledger keeps the tenant's data under its scope
		RequestID: c.RequestID,
		Now:       now,
		Budget: budget.Limits{Daily: cfg.TokenBudget.Daily, Monthly: cfg.TokenBudget.Monthly,
			MinOutput: cfg.TokenBudget.MinOutputTokens,
			CostDaily: int64(cfg.CostBudget.Daily), CostMonthly: int64(cfg.CostBudget.Monthly),
			InputPrice: int64(c.InputPrice), OutputPrice: int64(c.OutputPrice)},
		Prompt:    c.Input,
		MaxOutput: c.Output,
		Lease:     m.Lease,
		Meta:      c.Meta,
	}
	if a.Budget.MinOutput == 0 {
		a.Budget.MinOutput = tenant.DefaultMinOutputTokens
	}
	if l := cfg.RateLimit.RequestsPerMinute; l > 0 {
		a.Rates = append(a.Rates, ratelimit.Cost{Name: ratelimit.Requests, Limit: l, Units: 1})
	}
	if l := cfg.RateLimit.TokensPerMinute; l > 0 {
		a.Rates = append(a.Rates, ratelimit.Cost{Name: ratelimit.Tokens, Limit: l, Units: c.RateEstimate})
	}
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), admitTimeout)
	defer cancel()
	adm, err := m.Ledger.Admit(actx, a)
	if ctx.Err() != nil {
		if err == nil {
			(&Ticket{m: m, Admitted: adm}).Settle(ctx, budget.Charge{Outcome: "client_gone"})
		}
		return nil, ClientGone, fmt.Errorf("%w: %w", ErrClientGone, ctx.Err())
	}
	var ex *budget.ExhaustedError
	var lim *ratelimit.LimitedError
	switch {
	case errors.As(err, &ex):
		return nil, BudgetRefused, &apierr.Error{Kind: apierr.BudgetExceeded, Code: "budget_exceeded", Message: ex.Error(),
			RetryAfter: ex.ResetsAt.Sub(now), NoRetry: true}
	case errors.As(err, &lim):
		e := &apierr.Error{Kind: apierr.RateLimited, Code: "rate_limit_exceeded", Message: lim.Error(), RetryAfter: lim.RetryAfter}
		if lim.RetryAfter == 0 { // can never pass: a client error, not a wait
			e.Kind, e.Code, e.Param = apierr.Invalid, "request_exceeds_rate_limit", c.OutputParam
			if c.OutputParam != "" {
				e.Message += "; set " + c.OutputParam + " lower"
			} else {
				e.Message += "; send less input per request"
			}
		}
		return nil, RateLimited, e
	case err != nil:
		return nil, StoreFailed, apierr.StoreUnavailable("meter this request", err)
	}
	t := &Ticket{m: m, Admitted: adm}
	t.setHeaders(h, cfg, now)
	return t, Admitted, nil
}

// Budget is what the tenant's budgets leave after a reservation, and when each
// resets (RFC 3339); a period without a budget has nil and "".
type Budget struct {
	RemainingDaily, RemainingMonthly *int64
	ResetDaily, ResetMonthly         string
	// The money budgets' remainders (nil without one).
	RemainingCostDaily, RemainingCostMonthly *money.Micros
}

// Budget returns the state of cfg's budgets after the reservation, at now.
func (t *Ticket) Budget(cfg *tenant.Config, now time.Time) Budget {
	var b Budget
	ps := budget.PeriodsAt(now)
	if l := cfg.TokenBudget.Daily; l > 0 {
		b.RemainingDaily = ptr(max(l-t.Admitted.Reservation.Used.Day, 0))
		b.ResetDaily = ps.DayReset.Format(time.RFC3339)
	}
	if l := cfg.TokenBudget.Monthly; l > 0 {
		b.RemainingMonthly = ptr(max(l-t.Admitted.Reservation.Used.Month, 0))
		b.ResetMonthly = ps.MonthReset.Format(time.RFC3339)
	}
	u := t.Admitted.Reservation.Used
	if l := cfg.CostBudget.Daily; l > 0 {
		b.RemainingCostDaily = ptr(max(l-money.Micros(u.CostDay), 0))
		b.ResetDaily = ps.DayReset.Format(time.RFC3339)
	}
	if l := cfg.CostBudget.Monthly; l > 0 {
		b.RemainingCostMonthly = ptr(max(l-money.Micros(u.CostMonth), 0))
		b.ResetMonthly = ps.MonthReset.Format(time.RFC3339)
	}
	return b
}

// Reserved is the number of tokens the reservation holds: 0 when the tenant
// has no token budget, or t is nil (not admitted).
func (t *Ticket) Reserved() int64 {
	if t == nil {
		return 0
	}
	return t.Admitted.Reservation.Tokens
}

func (t *Ticket) setHeaders(h http.Header, cfg *tenant.Config, now time.Time) {
	b := t.Budget(cfg, now)
	if b.RemainingDaily != nil {
		h.Set(HeaderBudgetRemainingDaily, strconv.FormatInt(*b.RemainingDaily, 10))
		h.Set(HeaderBudgetResetDaily, b.ResetDaily)
	}
	if b.RemainingMonthly != nil {
		h.Set(HeaderBudgetRemainingMonthly, strconv.FormatInt(*b.RemainingMonthly, 10))
		h.Set(HeaderBudgetResetMonthly, b.ResetMonthly)
	}
	if b.RemainingCostDaily != nil {
		h.Set(HeaderBudgetRemainingCostDaily, b.RemainingCostDaily.String())
		h.Set(HeaderBudgetResetDaily, b.ResetDaily)
	}
	if b.RemainingCostMonthly != nil {
		h.Set(HeaderBudgetRemainingCostMonthly, b.RemainingCostMonthly.String())
		h.Set(HeaderBudgetResetMonthly, b.ResetMonthly)
	}
	for name, st := range t.Admitted.Rates {
		h.Set("x-ratelimit-limit-"+name, strconv.FormatInt(st.Limit, 10))
		h.Set("x-ratelimit-remaining-"+name, strconv.FormatInt(st.Remaining, 10))
		h.Set("x-ratelimit-reset-"+name, st.Reset.Round(time.Millisecond).String())
	}
}

// CheckpointDue reports whether a stream that has served output tokens so far
// should checkpoint: CheckpointEvery tokens since the last checkpoint, and none
// in flight.
func (t *Ticket) CheckpointDue(output int64) bool {
	if t == nil || t.settled || t.m.CheckpointEvery <= 0 || output-t.checkpointed < t.m.CheckpointEvery {
		return false
	}
	if t.writing != nil {
		select {
		case <-t.writing:
			t.writing = nil
		default:
			return false
		}
	}
	return true
}

// Checkpoint records what the request has served so far, c, in the background:
// the stream goes on while it is written. Settle waits for it. A failed
// checkpoint is logged; the next one, or the settlement, supersedes it.
func (t *Ticket) Checkpoint(ctx context.Context, c budget.Charge) {
	t.checkpointed = c.Output
	done := make(chan struct{})
	t.writing = done
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CheckpointTimeout)
	go func() {
		defer close(done)
		defer cancel()
		if err := t.m.Ledger.Checkpoint(cctx, t.Admitted.Reservation, c); err != nil && t.m.Log != nil {
			t.m.Log.WarnContext(cctx, "checkpoint failed", "requestId", t.Admitted.Reservation.RequestID, "err", err)
		}
	}()
}

// Settle records what the request used, once: later calls do nothing. It runs
// synchronously under a context that outlives a cancelled request (Lambda
// freezes the sandbox after the handler returns, so nothing may be left to a
// goroutine). A zero Charge returns the whole reservation. A failed write is
// retried with backoff for SettleWindow (settling is idempotent, so a write
// that landed but whose answer was lost is not counted twice); what still
// fails is logged, and the period-close job closes the reservation when its
// lease ends, charging the last checkpoint.
func (t *Ticket) Settle(ctx context.Context, c budget.Charge) {
	if t == nil || t.settled {
		return
	}
	t.settled = true
	if t.writing != nil {
		<-t.writing // bounded by CheckpointTimeout
	}
	window := t.m.SettleWindow
	if window <= 0 {
		window = DefaultSettleWindow
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), window)
	defer cancel()
	id := t.Admitted.Reservation.RequestID
	if used, reserved := c.Input+c.Output, t.Admitted.Reservation.Tokens; used > reserved && t.m.Log != nil {
		// An upstream that ignores its output limit: the budget is charged the
		// reservation (never more), the excess is counted as overrun.
		t.m.Log.WarnContext(sctx, "usage beyond the reservation", "requestId", id, "model", c.Model,
			"reservedTokens", reserved, "usedTokens", used)
	}
	wait := settleBackoff
	for try := 1; ; try++ {
		err := t.m.Ledger.Settle(sctx, t.Admitted.Reservation, c)
		if err == nil {
			if try > 1 && t.m.Log != nil {
				t.m.Log.InfoContext(sctx, "settled after retries", "requestId", id, "tries", try)
			}
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-sctx.Done():
			timer.Stop()
			if t.m.Log != nil {
				t.m.Log.ErrorContext(sctx, "settle failed", "requestId", id, "tries", try,
					"inputTokens", c.Input, "outputTokens", c.Output, "model", c.Model, "err", err)
			}
			return
		case <-timer.C:
		}
		wait = min(2*wait, settleBackoffMax)
	}
}

func ptr[T any](v T) *T { return &v }
