package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/meter"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/tokens"
)

// HeaderMaxTokensClamped is the output limit a request was given when its budget
// could not afford the one it asked for.
const HeaderMaxTokensClamped = "x-tollgate-max-tokens-clamped"

// admit reserves the request's tokens and rate-limit share through the meter;
// refusals are *apierr.Error. On success the budget and rate-limit headers are
// set and the output limit is clamped when the budget required it.
func (x *exchange) admit(ctx context.Context, w http.ResponseWriter, cfg *tenant.Config) error {
	maxOut := int64(x.c.req.MaxTokens)
	if maxOut == 0 {
		maxOut = int64(x.h.DefaultMaxOutputTokens)
	}
	// Every choice may use the whole output limit: n choices reserve n times it.
	choices := int64(x.c.req.Choices())
	maxOut *= choices
	cost := meter.Cost{
		RequestID:    x.reqID,
		Input:        int64(tokens.RequestBound(&x.c.req)),
		Output:       maxOut,
		RateEstimate: int64(tokens.RequestEstimate(&x.c.req)) + maxOut,
		OutputParam:  "max_tokens",
	}
	switch {
	case x.c.native:
		cost.OutputParam = "maxTokens"
	case x.c.resp != nil:
		cost.OutputParam = "max_output_tokens"
	}
	// Now as late as possible: instances' stamps reach the store in another order.
	t, refusal, err := x.h.meter.Admit(ctx, cfg, x.h.Now(), cost, w.Header())
	switch refusal {
	case meter.BudgetRefused:
		x.budgetRefused = true
	case meter.RateLimited:
		x.rateLimited = true
	}
	if err != nil {
		return err
	}
	x.ticket = t
	if adm := t.Admitted; adm.Clamped {
		per := max(adm.Output/choices, 1)
		x.c.req.MaxTokens = int(per)
		w.Header().Set(HeaderMaxTokensClamped, strconv.FormatInt(per, 10))
	}
	x.budgetInfo = budgetInfo(t.Budget(cfg, x.start))
	return nil
}

// budgetInfo is what the native usage event reports about budgets.
type budgetInfo struct {
	RemainingDaily   *int64 `json:"remainingDaily,omitempty"`
	RemainingMonthly *int64 `json:"remainingMonthly,omitempty"`
	ResetDaily       string `json:"resetDaily,omitempty"`
	ResetMonthly     string `json:"resetMonthly,omitempty"`
}

// settle records what the request used, exactly once, on every exit path.
func (x *exchange) settle(ctx context.Context) {
	x.ticket.Settle(ctx, x.charge())
}

// charge is what the request has used so far: nothing before the provider
// answered anything.
func (x *exchange) charge() budget.Charge {
	if x.usage == nil && x.outBytes == 0 {
		return budget.Charge{}
	}
	u := x.finalUsage()
	return budget.Charge{Input: int64(u.InputTokens), Output: int64(u.OutputTokens), Model: x.model.String()}
}

// checkpoint records, every so many output tokens of a stream, what it has
// served, so that a process dying mid-stream leaves little uncharged.
func (x *exchange) checkpoint(ctx context.Context) {
	out := int64((x.outBytes + 3) / 4)
	if x.usage != nil {
		out = int64(x.usage.OutputTokens)
	}
	if x.ticket.CheckpointDue(out) {
		x.ticket.Checkpoint(ctx, x.charge())
	}
}
