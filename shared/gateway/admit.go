package gateway

import (
	"context"
	"net/http"
	"strconv"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/meter"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/tokens"
	"github.com/tollgate/tollgate/shared/web"
)

// HeaderMaxTokensClamped is the output limit a request was given when its budget
// could not afford the one it asked for.
const HeaderMaxTokensClamped = "x-tollgate-max-tokens-clamped"

// admit reserves the request's tokens and rate-limit share through the meter;
// refusals are *apierr.Error. On success the budget and rate-limit headers are
// set and the output limit is clamped when the budget required it.
func (x *exchange) admit(ctx context.Context, w http.ResponseWriter, cfg *tenant.Config) error {
	clamp, err := x.reserve(ctx, w.Header(), cfg)
	if err == nil && clamp > 0 {
		x.c.req.MaxTokens = clamp
	}
	return err
}

// reserve is admission without changing the request: it sets the budget and
// rate-limit headers on hd, and returns the output limit per choice the
// request must be clamped to (0: none). It reads the request and writes only
// admission's own fields of x, so it may run beside the provider's first
// attempt (startAdmission).
func (x *exchange) reserve(ctx context.Context, hd http.Header, cfg *tenant.Config) (clamp int, err error) {
	maxOut := int64(x.c.req.MaxTokens)
	if maxOut == 0 {
		maxOut = int64(x.h.DefaultMaxOutputTokens)
	}
	// Every choice may use the whole output limit: n choices reserve n times it.
	choices := int64(x.c.req.Choices())
	maxOut *= choices
	var counter *tokens.Counter
	if reservationMatters(cfg) {
		counter = x.counter()
	}
	cost := meter.Cost{
		RequestID:    x.reqID,
		Input:        int64(tokens.RequestBoundWith(&x.c.req, counter)),
		Output:       maxOut,
		RateEstimate: int64(tokens.RequestEstimateWith(&x.c.req, counter)) + maxOut,
		OutputParam:  "max_tokens",
		Meta:         budget.Meta{KeyID: web.InfoFrom(ctx).Key(), User: x.c.req.User, Route: RouteChatCompletions},
	}
	switch {
	case x.c.native:
		cost.OutputParam, cost.Meta.Route = "maxTokens", RouteChat
	case x.c.resp != nil:
		cost.OutputParam, cost.Meta.Route = "max_output_tokens", RouteResponses
	}
	// The price table: what the cost is reported at, and for a money budget
	// what it is metered at (then it must be read; else a failure only leaves
	// the cost unreported).
	prices, err := x.h.Prices.Table(ctx, x.h.Now())
	if err != nil && cfg.CostBudget.Limited() {
		return 0, apierr.StoreUnavailable("read the price table", err)
	}
	x.prices = prices
	if cfg.CostBudget.Limited() {
		if cost.InputPrice, cost.OutputPrice, err = worstPrices(prices, x.plan.Models, x.c.native); err != nil {
			return 0, err
		}
	}
	// Now as late as possible: instances' stamps reach the store in another order.
	t, refusal, err := x.h.meter.Admit(ctx, cfg, x.h.Now(), cost, hd)
	switch refusal {
	case meter.BudgetRefused:
		x.budgetRefused = true
	case meter.RateLimited:
		x.rateLimited = true
	}
	if err != nil {
		return 0, err
	}
	x.ticket = t
	if adm := t.Admitted; adm.Clamped {
		per := max(adm.Output/choices, 1)
		clamp = int(per)
		hd.Set(HeaderMaxTokensClamped, strconv.FormatInt(per, 10))
	}
	x.budgetInfo = budgetInfo(t.Budget(cfg, x.start))
	return clamp, nil
}

// reservationMatters reports whether the size of a reservation can change what
// cfg's tenant is admitted (a token or money budget, a tokens-per-minute
// limit): only then is the prompt counted exactly, which costs about 150 ns a
// byte of CPU (docs/benchmarks.md) where the byte bound costs 0.1.
func reservationMatters(cfg *tenant.Config) bool {
	return cfg.TokenBudget.Daily > 0 || cfg.TokenBudget.Monthly > 0 || cfg.CostBudget.Limited() || cfg.RateLimit.TokensPerMinute > 0
}

// counter is the exact token counter that holds for every model the request
// may reach (its fallbacks included), or nil: bytes bound the prompt.
func (x *exchange) counter() *tokens.Counter {
	cs := make([]*tokens.Counter, len(x.plan.Models))
	for i, m := range x.plan.Models {
		cs[i] = tokens.CounterFor(m.Provider, m.Model)
	}
	return tokens.Same(cs...)
}

// worstPrices are the highest input and output prices of the models a request
// may reach: its worst case, which a money budget reserves. A model without a
// price cannot be metered against a money budget: the request is refused.
func worstPrices(t money.Table, models []model.Name, native bool) (in, out money.Micros, err error) {
	for _, m := range models {
		p, ok := t.Lookup(m.String())
		if !ok {
			param := "model"
			if native {
				param = "modelId"
			}
			return 0, 0, &apierr.Error{Kind: apierr.Invalid, Code: "model_not_priced", Param: param,
				Message: "the tenant has a cost budget, and model " + m.String() + " has no price in this deployment's price table (MODEL_PRICES, or PUT /admin/prices)"}
		}
		in, out = max(in, p.MaxInput()), max(out, p.Output)
	}
	return in, out, nil
}

// budgetInfo is what the native usage event reports about budgets.
type budgetInfo struct {
	RemainingDaily       *int64        `json:"remainingDaily,omitempty"`
	RemainingMonthly     *int64        `json:"remainingMonthly,omitempty"`
	ResetDaily           string        `json:"resetDaily,omitempty"`
	ResetMonthly         string        `json:"resetMonthly,omitempty"`
	RemainingCostDaily   *money.Micros `json:"remainingCostDaily,omitempty"`
	RemainingCostMonthly *money.Micros `json:"remainingCostMonthly,omitempty"`
}

// settle records what the request used, exactly once, on every exit path.
func (x *exchange) settle(ctx context.Context) {
	x.ticket.Settle(ctx, x.charge())
}

// Routes, as usage records name them.
const (
	RouteChatCompletions = "chat.completions" // POST /v1/chat/completions
	RouteResponses       = "responses"        // POST /v1/responses
	RouteChat            = "chat"             // POST /chat (native)
	RouteEmbeddings      = "embeddings"       // POST /v1/embeddings
)

// charge is what the request has used so far (nothing before the provider
// answered anything), and how it went.
func (x *exchange) charge() budget.Charge {
	c := budget.Charge{Attempts: x.attempts, Outcome: x.outcome, Latency: x.h.Now().Sub(x.start), TTFT: x.ttft}
	if x.attempts > 0 {
		c.Model = x.model.String()
	}
	if x.usage == nil && x.outBytes == 0 {
		return c
	}
	u := x.finalUsage()
	c.Input, c.Output, c.Cached, c.Estimated = int64(u.InputTokens), int64(u.OutputTokens), int64(u.CacheReadTokens), u.Estimated
	c.Cost = int64(x.cost(u))
	return c
}

// cost is what usage u of the answering model costs at its price (0 for an
// unpriced model).
func (x *exchange) cost(u chat.Usage) money.Micros {
	p, ok := x.prices.Lookup(x.model.String())
	if !ok {
		return 0
	}
	return p.Cost(int64(u.InputTokens), int64(u.CacheReadTokens), int64(u.OutputTokens))
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
