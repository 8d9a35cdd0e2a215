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
}

// Admitted is an admitted request.
type Admitted struct {
	Reservation Reservation
	Output      int64 // the output limit to send the provider (clamped when Clamped)
	Clamped     bool
	Rates       map[string]ratelimit.State // after this request
}

// Charge is what a settled request used.
type Charge struct {
	Input, Output int64
	Model         string // provider/model that answered; "" when none did
}

// PeriodUsage is a tenant's usage in one period.
type PeriodUsage struct {
	Used     int64 // settled tokens
	Reserved int64 // tokens of reservations in flight
}

// DayStats is one day's settled usage.
type DayStats struct {
	Date         string // yyyy-mm-dd
	InputTokens  int64
	OutputTokens int64
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
	Requests     int64
}

// MonthUsage is what a tenant's usage holds for a month.
type MonthUsage struct {
	Month        string
	Total        PeriodUsage
	Days         map[string]PeriodUsage // by dd
	Stats        map[string]*DayStats   // by dd
	Reservations []OpenReservation
}

// OpenReservation is a reservation not yet settled.
type OpenReservation struct {
	RequestID string
	Day       string
	Tokens    int64
	Lease     time.Time
	// Served is the request's last checkpoint (what a long stream had served
	// when it last recorded it), zero without one: what the period-close job
	// charges when the request never settles.
	Served Charge
}

// Charged is what closing the reservation on its last checkpoint charges:
// what was served, never more than was reserved.
func (r OpenReservation) Charged() int64 { return min(r.Served.Input+r.Served.Output, r.Tokens) }
