// Package budget holds the pure parts of token budgets: UTC periods, how much a
// request reserves, how an output limit is clamped to what remains, and the
// reservation a request carries until it is settled. It takes now as a parameter
// and does no I/O.
package budget

import (
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/shared/ratelimit"
)

// Period is a budget period.
type Period string

// The periods; both are UTC calendar periods.
const (
	Day   Period = "daily"
	Month Period = "monthly"
)

// Periods are the UTC day and month that contain an instant.
type Periods struct {
	Month string // "2026-11"
	Day   string // "25" (the day of the month, two digits)
	Date  string // "2026-11-25"
	// DayReset and MonthReset are when the day and the month end.
	DayReset, MonthReset time.Time
}

// PeriodsAt returns the periods containing now.
func PeriodsAt(now time.Time) Periods {
	now = now.UTC()
	y, m, d := now.Date()
	return Periods{
		Month:      now.Format("2006-01"),
		Day:        now.Format("02"),
		Date:       now.Format("2006-01-02"),
		DayReset:   time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC),
		MonthReset: time.Date(y, m+1, 1, 0, 0, 0, 0, time.UTC),
	}
}

// Limits are a tenant's budgets; 0 means unlimited.
type Limits struct {
	Daily, Monthly int64
	// MinOutput is the smallest output a clamped request may be given.
	MinOutput int64
	// CostDaily and CostMonthly are the money budgets, in micro-dollars.
	CostDaily, CostMonthly int64
	// InputPrice and OutputPrice are the highest prices (micro-dollars per
	// million tokens) of the models the request may reach: what its worst case
	// costs, which the money budgets reserve.
	InputPrice, OutputPrice int64
}

// Used is what a period item holds: committed tokens and micro-dollars
// (settled plus reserved).
type Used struct {
	Day, Month         int64
	CostDay, CostMonth int64
}

// Costed reports whether the limits include a money budget.
func (l Limits) Costed() bool { return l.CostDaily > 0 || l.CostMonthly > 0 }

// ReserveCost is the worst-case cost (micro-dollars, rounded up) of prompt
// input tokens and output tokens at the limits' prices.
func (l Limits) ReserveCost(prompt, output int64) int64 {
	return ceilDiv(prompt*l.InputPrice+output*l.OutputPrice, 1_000_000)
}

func ceilDiv(a, b int64) int64 {
	if a <= 0 {
		return 0
	}
	return (a + b - 1) / b
}

// ExhaustedError says which budget refused a request and when it resets. For
// a money budget (Cost), the amounts are micro-dollars.
type ExhaustedError struct {
	Period    Period
	Cost      bool
	Limit     int64
	Used      int64 // committed in the period (settled plus in flight)
	Needed    int64 // the smallest reservation that would have been useful
	ResetsAt  time.Time
	RetryFrom time.Time // now, for Retry-After
}

func (e *ExhaustedError) Error() string {
	if e.Cost {
		return fmt.Sprintf("the %s cost budget of $%s is exhausted ($%s committed, this request needs at least $%s); it resets at %s",
			e.Period, usd(e.Limit), usd(e.Used), usd(e.Needed), e.ResetsAt.Format(time.RFC3339))
	}
	return fmt.Sprintf("the %s token budget of %d is exhausted (%d committed, this request needs at least %d); it resets at %s",
		e.Period, e.Limit, e.Used, e.Needed, e.ResetsAt.Format(time.RFC3339))
}

// usd formats micro-dollars as dollars with six decimal places.
func usd(micros int64) string { return fmt.Sprintf("%d.%06d", micros/1_000_000, micros%1_000_000) }

// ErrExhausted matches every *ExhaustedError with errors.Is.
var ErrExhausted = errors.New("token budget exhausted")

func (e *ExhaustedError) Is(target error) bool { return target == ErrExhausted }

// Remaining returns how many tokens the tenant may still commit in the tighter of
// its budgets given used, and which budget that is. ok is false when both are
// unlimited.
func (l Limits) Remaining(u Used) (n int64, p Period, ok bool) {
	if l.Daily > 0 {
		n, p, ok = l.Daily-u.Day, Day, true
	}
	if l.Monthly > 0 && (!ok || l.Monthly-u.Month < n) {
		n, p, ok = l.Monthly-u.Month, Month, true
	}
	return max(n, 0), p, ok
}

// Fit decides how much a request may reserve: prompt (an upper bound of its input
// tokens) plus maxOutput, clamped down to what the token and money budgets leave
// but never below prompt plus the minimum output. It returns the output limit to
// send to the provider, or an *ExhaustedError when not even that minimum fits.
func (l Limits) Fit(u Used, prompt, maxOutput int64, now time.Time) (output int64, err error) {
	if output, err = l.fitTokens(u, prompt, maxOutput, now); err != nil || !l.Costed() {
		return output, err
	}
	return l.fitCost(u, prompt, output, now)
}

func (l Limits) fitTokens(u Used, prompt, maxOutput int64, now time.Time) (output int64, err error) {
	rem, p, ok := l.Remaining(u)
	if !ok || prompt+maxOutput <= rem {
		return maxOutput, nil
	}
	minOut := min(max(l.MinOutput, 1), maxOutput)
	if prompt+minOut > rem {
		// Report the budget that cannot take the minimum.
		per := p
		if l.Daily > 0 && l.Daily-u.Day < prompt+minOut {
			per = Day
		} else if l.Monthly > 0 {
			per = Month
		}
		return 0, l.exhausted(per, u, prompt+minOut, now)
	}
	return rem - prompt, nil
}

// fitCost clamps output to what the money budgets leave at the worst-case
// prices.
func (l Limits) fitCost(u Used, prompt, output int64, now time.Time) (int64, error) {
	rem, per := int64(-1), Day
	if l.CostDaily > 0 {
		rem = l.CostDaily - u.CostDay
	}
	if l.CostMonthly > 0 && (rem < 0 || l.CostMonthly-u.CostMonth < rem) {
		rem, per = l.CostMonthly-u.CostMonth, Month
	}
	rem = max(rem, 0)
	if l.ReserveCost(prompt, output) <= rem {
		return output, nil
	}
	minOut := min(max(l.MinOutput, 1), output)
	if need := l.ReserveCost(prompt, minOut); need > rem {
		e := &ExhaustedError{Period: per, Cost: true, Needed: need, RetryFrom: now}
		ps := PeriodsAt(now)
		if per == Day {
			e.Limit, e.Used, e.ResetsAt = l.CostDaily, u.CostDay, ps.DayReset
		} else {
			e.Limit, e.Used, e.ResetsAt = l.CostMonthly, u.CostMonth, ps.MonthReset
		}
		return 0, e
	}
	// The most output whose worst case fits: (rem·10⁶ − prompt·in) / out,
	// checked against the rounding of ReserveCost.
	fit := (rem*1_000_000 - prompt*l.InputPrice) / l.OutputPrice
	for fit > minOut && l.ReserveCost(prompt, fit) > rem {
		fit--
	}
	return min(output, fit), nil
}

func (l Limits) exhausted(p Period, u Used, needed int64, now time.Time) *ExhaustedError {
	ps := PeriodsAt(now)
	e := &ExhaustedError{Period: p, Needed: needed, RetryFrom: now}
	if p == Day {
		e.Limit, e.Used, e.ResetsAt = l.Daily, u.Day, ps.DayReset
	} else {
		e.Limit, e.Used, e.ResetsAt = l.Monthly, u.Month, ps.MonthReset
	}
	return e
}

// Reservation is what a request has reserved, until it is settled.
type Reservation struct {
	TenantID  string
	RequestID string
	Month     string // the period item it lives in
	Day       string
	At        time.Time // admission: the usage record's time
	Meta      Meta
	Tokens    int64 // reserved tokens (0 when the tenant has no budget)
	Cost      int64 // reserved micro-dollars (0 without a money budget)
	// After the reservation: committed tokens in each period, for the remaining
	// headers.
	Used Used
	// TokenRate is what the tokens-per-minute limit counted at admission (zero
	// without that limit): settlement gives back what the request did not use.
	TokenRate ratelimit.Cost
}
