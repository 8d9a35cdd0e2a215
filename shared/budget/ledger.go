package budget

import (
	"time"

	"github.com/tollgate/tollgate/shared/ratelimit"
)

// What a metered request asks of the ledger and what it gets; what a tenant's
// usage holds when read back. The ledger is storage (dynamo.Store implements
// it); these types are its vocabulary, free of any storage.

// Admission is a request asking to be admitted.
type Admission struct {
	TenantID  string
	RequestID string
	Now       time.Time
	Budget    Limits
	Prompt    int64 // upper bound of the input tokens
	MaxOutput int64 // requested output limit (0 for routes without output)
	// Rates are the rate-limit dimensions that apply (limit > 0).
	Rates []ratelimit.Cost
	// Lease is how long the reservation may stay unsettled before the period-close
	// job returns it.
	Lease time.Duration
	// Meta describes the request for its usage record.
	Meta Meta
}

// Meta is what a request's usage record says about who sent it and where,
// known at admission.
type Meta struct {
	KeyID string // the API key's id
	User  string // the end-user id the request named (OpenAI's user field)
	Route string // the API route, e.g. "chat.completions", "embeddings"
}

// Admitted is an admitted request.
type Admitted struct {
	Reservation Reservation
	Output      int64 // the output limit to send the provider (clamped when Clamped)
	Clamped     bool
	Rates       map[string]ratelimit.State // after this request
}

// Charge is what a settled request used, and how it ended. Checkpoints use
// only Input, Output and Model.
type Charge struct {
	Input, Output int64
	Cached        int64  // of Input, read from the provider's prompt cache
	Model         string // provider/model that answered; "" when none did
	Cost          int64  // micro-dollars, at the model's price (0 unpriced)
	Estimated     bool   // counted by Tollgate, not reported by the provider
	Attempts      int    // provider calls made (fallbacks included)
	Outcome       string // "ok", "provider_error", "client_gone", ...
	Latency       time.Duration
	TTFT          time.Duration // time to first token (0 when none)
}

// Record is the durable usage record of one metered request, written when it
// settles (or when the period-close job closes its expired reservation).
type Record struct {
	RequestID string
	Time      time.Time // admission
	Meta
	Model    string
	Attempts int
	Input    int64
	Output   int64
	Cached   int64
	Reserved int64 // tokens the reservation held
	Charged  int64 // tokens charged to the budget: Input+Output, at most Reserved
	// Cost is what the request cost at its model's price (micro-dollars; 0
	// for an unpriced model); CostReserved and CostCharged are what the money
	// budgets reserved and were charged (at most CostReserved; 0 without one).
	Cost         int64
	CostReserved int64
	CostCharged  int64
	Outcome      string
	// Source says where the token counts come from: "provider" (reported),
	// "estimated" (counted by Tollgate), "checkpoint" (the last checkpoint of a
	// request that never settled) or "none" (nothing was served).
	Source  string
	Latency time.Duration
	TTFT    time.Duration
}

// RecordQuery selects usage records: those at or after From and before To
// (zero: unbounded), of Model and User when set, newest first, at most Limit,
// after the record Cursor names (the cursor a previous page returned).
type RecordQuery struct {
	From, To    time.Time
	Model, User string
	Limit       int
	Cursor      string
}

// Usage sources of a Record.
const (
	SourceProvider   = "provider"
	SourceEstimated  = "estimated"
	SourceCheckpoint = "checkpoint"
	SourceNone       = "none"
)

// OutcomeExpired is the outcome of a record the period-close job wrote for a
// reservation whose request never settled.
const OutcomeExpired = "expired"

// Overrun is what the provider served beyond the reservation (counted in Input
// and Output, not charged).
func (r Record) Overrun() int64 { return r.Input + r.Output - r.Charged }

// NewRecord is the usage record of reservation r settled with c.
func NewRecord(r Reservation, c Charge) Record {
	rec := Record{RequestID: r.RequestID, Time: r.At, Meta: r.Meta, Model: c.Model, Attempts: c.Attempts,
		Input: c.Input, Output: c.Output, Cached: c.Cached, Reserved: r.Tokens, Charged: min(c.Input+c.Output, r.Tokens),
		Cost: c.Cost, CostReserved: r.Cost, CostCharged: min(c.Cost, r.Cost),
		Outcome: c.Outcome, Source: SourceProvider, Latency: c.Latency, TTFT: c.TTFT}
	switch {
	case c.Input+c.Output == 0:
		rec.Source = SourceNone
	case c.Estimated:
		rec.Source = SourceEstimated
	}
	return rec
}

// Add adds record r to the day's statistics.
func (d *DayStats) Add(r Record) {
	d.InputTokens += r.Input
	d.OutputTokens += r.Output
	d.CachedTokens += r.Cached
	d.Cost += r.Cost
	d.Requests++
	d.OverrunTokens += r.Overrun()
	if r.Model == "" {
		return
	}
	if d.ByModel == nil {
		d.ByModel = map[string]ModelStats{}
	}
	m := d.ByModel[r.Model]
	m.InputTokens += r.Input
	m.OutputTokens += r.Output
	m.CachedTokens += r.Cached
	m.Cost += r.Cost
	m.Requests++
	d.ByModel[r.Model] = m
}

// PeriodUsage is a tenant's usage in one period.
type PeriodUsage struct {
	Used     int64 // settled tokens
	Reserved int64 // tokens of reservations in flight
	// The same for the money budgets, in micro-dollars (0 without one).
	CostUsed, CostReserved int64
}

// DayStats is one day's settled usage: the sums of its usage records.
type DayStats struct {
	Date         string // yyyy-mm-dd
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	Cost         int64 // micro-dollars
	Requests     int64
	// OverrunTokens is what providers served beyond the reservations (an
	// upstream ignoring max_tokens): counted in InputTokens and OutputTokens,
	// not charged to the budget.
	OverrunTokens int64
	ByModel       map[string]ModelStats
}

// ModelStats is one model's share of a day.
type ModelStats struct {
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	Cost         int64 // micro-dollars
	Requests     int64
}

// MonthUsage is what a tenant's admission item holds for a month: committed
// tokens and the reservations in flight. Statistics are in the usage records.
type MonthUsage struct {
	Month        string
	Total        PeriodUsage
	Days         map[string]PeriodUsage // by dd
	Reservations []OpenReservation
}

// OpenReservation is a reservation not yet settled.
type OpenReservation struct {
	RequestID string
	At        time.Time // admission (zero for a reservation written before it was kept)
	Day       string
	Tokens    int64
	Cost      int64 // reserved micro-dollars (0 without a money budget)
	Lease     time.Time
	// Served is the request's last checkpoint (what a long stream had served
	// when it last recorded it), zero without one: what the period-close job
	// charges when the request never settles.
	Served Charge
}

// Charged is what closing the reservation on its last checkpoint charges:
// what was served, never more than was reserved.
func (r OpenReservation) Charged() int64 { return min(r.Served.Input+r.Served.Output, r.Tokens) }
