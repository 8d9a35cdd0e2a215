// Package usage serves a tenant's token usage: GET /usage (totals, budgets and
// day history) and GET /usage/requests (per-request usage records) for the
// calling tenant, and the same under /admin/tenants/{id}/ for operators.
package usage

import (
	"context"
	"maps"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/web"
)

// Store reads usage items. *dynamo.Store implements it.
type Store interface {
	MonthUsage(ctx context.Context, tenantID, month string) (budget.MonthUsage, error)
	Days(ctx context.Context, tenantID, first, last string) (map[string]budget.DayStats, error)
	RecordStats(ctx context.Context, scope string, from, to time.Time) (map[string]*budget.DayStats, error)
	RecordStore
}

// Report is the body of a usage response.
type Report struct {
	TenantID string   `json:"tenantId"`
	Day      Period   `json:"day"`
	Month    Period   `json:"month"`
	History  []DayRow `json:"history,omitempty"`
}

// Period is one budget period's numbers. Limit and Remaining are null when the
// budget is unlimited.
type Period struct {
	Period    string `json:"period"`
	Used      int64  `json:"used"`     // settled tokens
	Reserved  int64  `json:"reserved"` // tokens of requests in flight
	Limit     *int64 `json:"limit"`
	Remaining *int64 `json:"remaining"`
	ResetsAt  string `json:"resetsAt"`
	// Cost is the money budget's numbers, for a tenant with one.
	Cost *CostPeriod `json:"cost,omitempty"`
}

// CostPeriod is a money budget's numbers in a period, in US dollars. Limit and
// Remaining are null when that period's money budget is unlimited.
type CostPeriod struct {
	Used      money.Micros  `json:"used"`     // settled
	Reserved  money.Micros  `json:"reserved"` // worst cases of requests in flight
	Limit     *money.Micros `json:"limit"`
	Remaining *money.Micros `json:"remaining"`
}

// DayRow is one day of history.
type DayRow struct {
	Date         string `json:"date"`
	InputTokens  int64  `json:"inputTokens"`
	OutputTokens int64  `json:"outputTokens"`
	CachedTokens int64  `json:"cachedTokens"` // of inputTokens, read from the provider's prompt cache
	// CostUSD is what the day's requests cost at their models' prices.
	CostUSD  money.Micros `json:"costUsd"`
	Requests int64        `json:"requests"`
	// OverrunTokens is what providers served beyond the output limit they were
	// given: in inputTokens and outputTokens, not charged to the budget.
	OverrunTokens int64               `json:"overrunTokens"`
	ByModel       map[string]ModelRow `json:"byModel"`
}

// ModelRow is one model's share of a day.
type ModelRow struct {
	InputTokens  int64        `json:"inputTokens"`
	OutputTokens int64        `json:"outputTokens"`
	CachedTokens int64        `json:"cachedTokens"`
	CostUSD      money.Micros `json:"costUsd"`
	Requests     int64        `json:"requests"`
}

// MaxDays is the longest history one request may ask for.
const MaxDays = 400

// ParseDays parses the days query parameter ("" means none).
func ParseDays(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxDays {
		return 0, apierr.InvalidParam("invalid_days", "days", "days must be an integer from 1 to "+strconv.Itoa(MaxDays))
	}
	return n, nil
}

// Build reads the tenant's usage at now, with days of history (0 for none), newest
// first, today included.
func Build(ctx context.Context, st Store, cfg *tenant.Config, now time.Time, days int) (Report, error) {
	ps := budget.PeriodsAt(now)
	cur, err := st.MonthUsage(ctx, cfg.Scope(), ps.Month)
	if err != nil {
		return Report{}, err
	}
	d := cur.Days[ps.Day]
	r := Report{
		TenantID: cfg.ID,
		Day:      period(ps.Date, d, cfg.TokenBudget.Daily, ps.DayReset),
		Month:    period(ps.Month, cur.Total, cfg.TokenBudget.Monthly, ps.MonthReset),
	}
	if cb := cfg.CostBudget; cb.Limited() {
		r.Day.Cost, r.Month.Cost = costPeriod(d, cb.Daily), costPeriod(cur.Total, cb.Monthly)
	}
	if days == 0 {
		return r, nil
	}
	// Closed days come from the ledger the period-close job writes; today, and any
	// closed day the job has not written (yet, or ever: a day without requests),
	// are summed from the usage records, one query per run of such days.
	ledger, err := st.Days(ctx, cfg.Scope(), budget.PeriodsAt(now.AddDate(0, 0, -(days-1))).Date, ps.Date)
	if err != nil {
		return Report{}, err
	}
	delete(ledger, ps.Date)
	live := map[string]*budget.DayStats{}
	for i := 0; i < days; {
		if _, ok := ledger[budget.PeriodsAt(now.AddDate(0, 0, -i)).Date]; ok {
			i++
			continue
		}
		j := i // days i..j-1 back lack a ledger entry
		for j < days {
			if _, ok := ledger[budget.PeriodsAt(now.AddDate(0, 0, -j)).Date]; ok {
				break
			}
			j++
		}
		to := budget.PeriodsAt(now.AddDate(0, 0, -i)).DayReset
		sums, err := st.RecordStats(ctx, cfg.Scope(), to.AddDate(0, 0, i-j), to)
		if err != nil {
			return Report{}, err
		}
		maps.Copy(live, sums)
		i = j
	}
	r.History = []DayRow{}
	for i := range days {
		date := budget.PeriodsAt(now.AddDate(0, 0, -i)).Date
		s, ok := ledger[date]
		if !ok {
			s = budget.DayStats{Date: date}
			if d := live[date]; d != nil {
				s = *d
			}
		}
		row := DayRow{Date: date, InputTokens: s.InputTokens, OutputTokens: s.OutputTokens, CachedTokens: s.CachedTokens,
			CostUSD: money.Micros(s.Cost), Requests: s.Requests, OverrunTokens: s.OverrunTokens, ByModel: make(map[string]ModelRow, len(s.ByModel))}
		for m, st := range s.ByModel {
			row.ByModel[m] = ModelRow{InputTokens: st.InputTokens, OutputTokens: st.OutputTokens, CachedTokens: st.CachedTokens,
				CostUSD: money.Micros(st.Cost), Requests: st.Requests}
		}
		r.History = append(r.History, row)
	}
	return r, nil
}

func costPeriod(u budget.PeriodUsage, limit money.Micros) *CostPeriod {
	c := &CostPeriod{Used: money.Micros(u.CostUsed), Reserved: money.Micros(u.CostReserved)}
	if limit > 0 {
		rem := max(limit-c.Used-c.Reserved, 0)
		c.Limit, c.Remaining = &limit, &rem
	}
	return c
}

func period(name string, u budget.PeriodUsage, limit int64, reset time.Time) Period {
	p := Period{Period: name, Used: u.Used, Reserved: u.Reserved, ResetsAt: reset.Format(time.RFC3339)}
	if limit > 0 {
		rem := max(limit-u.Used-u.Reserved, 0)
		p.Limit, p.Remaining = &limit, &rem
	}
	return p
}

// Serve answers a usage request for cfg's tenant: ?days=N adds history.
func Serve(w http.ResponseWriter, r *http.Request, st Store, cfg *tenant.Config, now time.Time) {
	days, err := ParseDays(r.URL.Query().Get("days"))
	if err != nil {
		apierr.Write(w, err)
		return
	}
	rep, err := Build(r.Context(), st, cfg, now, days)
	if err != nil {
		apierr.Write(w, apierr.StoreUnavailable("read usage", err))
		return
	}
	web.JSON(w, http.StatusOK, rep)
}
