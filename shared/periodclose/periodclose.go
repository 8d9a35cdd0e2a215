// Package periodclose is the scheduled budget-reset job. Budgets never depend on
// it, since counters are period-keyed and a new day or month starts at zero by
// itself. It does the two things only a job can: it returns reservations whose
// request died without settling (a Lambda timeout or crash), once their lease has
// expired, writing their usage records, and it sums each closed UTC day's usage
// records into the durable ledger that GET /usage?days=N reads. It also finishes the deletion of deleted tenants'
// data (see dynamo.Purge). Running it twice, or two copies at once, changes
// nothing more than running it once.
package periodclose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Store is what the job reads and writes. *dynamo.Store implements it.
type Store interface {
	ListTenants(ctx context.Context, limit int, cursor string) ([]tenant.Config, string, error)
	MonthUsage(ctx context.Context, tenantID, month string) (budget.MonthUsage, error)
	ReturnReservation(ctx context.Context, tenantID, month string, r budget.OpenReservation) (budget.Record, bool, error)
	RecordStats(ctx context.Context, scope string, from, to time.Time) (map[string]*budget.DayStats, error)
	PutDay(ctx context.Context, tenantID string, d budget.DayStats, closedAt time.Time) error
	Days(ctx context.Context, tenantID, first, last string) (map[string]budget.DayStats, error)
	GetTenant(ctx context.Context, id string) (tenant.Config, error)
	Purges(ctx context.Context) ([]tenant.Purge, error)
	Purge(ctx context.Context, scope string) (int, error)
	EndPurge(ctx context.Context, scope string) error
}

// CatchUpDays is how many closed days each run writes into the ledger when they
// lack an entry, so a run that failed or was skipped is made good by the next
// ones.
const CatchUpDays = 3

// ClockSkew is how long after a day ends the job waits before it takes the
// day's records as final: an instance whose clock is behind may still admit a
// request stamped with that day.
const ClockSkew = time.Minute

// Result counts what one run did.
type Result struct {
	Tenants        int   `json:"tenants"`
	Returned       int   `json:"returnedReservations"`
	ReturnedTokens int64 `json:"returnedTokens"`
	// ChargedTokens is what returned reservations' checkpoints charged: tokens a
	// crashed stream had served.
	ChargedTokens int64 `json:"chargedTokens"`
	DaysWritten   int   `json:"daysWritten"`
	PurgedItems   int   `json:"purgedItems"` // of deleted tenants
}

// Run closes periods for every tenant at now. A failure for one tenant does not
// stop the others; all failures are returned together, so the scheduler records
// the run as failed and retries it.
func Run(ctx context.Context, st Store, log *slog.Logger, now time.Time) (Result, error) {
	var res Result
	var errs []error
	cursor := ""
	for {
		ts, next, err := st.ListTenants(ctx, 100, cursor)
		if err != nil {
			return res, errors.Join(append(errs, err)...)
		}
		for _, t := range ts {
			res.Tenants++
			if err := closeTenant(ctx, st, log, t.Scope(), now, &res); err != nil {
				errs = append(errs, err)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if err := purge(ctx, st, log, now, &res); err != nil {
		errs = append(errs, err)
	}
	return res, errors.Join(errs...)
}

// purge finishes the purges of deleted tenants: each marker's scope is purged
// on every run until its sweep time has passed, then the marker is deleted. A
// marker whose tenant is alive in that very scope (the deletion failed after the
// marker was written) is deleted without touching anything.
func purge(ctx context.Context, st Store, log *slog.Logger, now time.Time, res *Result) error {
	ps, err := st.Purges(ctx)
	if err != nil {
		return fmt.Errorf("periodclose: %w", err)
	}
	var errs []error
	for _, p := range ps {
		cfg, err := st.GetTenant(ctx, p.TenantID)
		switch {
		case err == nil && cfg.Scope() == p.Scope:
			err = st.EndPurge(ctx, p.Scope)
		case err == nil || errors.Is(err, tenant.ErrNotFound):
			var n int
			n, err = st.Purge(ctx, p.Scope)
			res.PurgedItems += n
			if n > 0 {
				log.InfoContext(ctx, "purged deleted tenant", "tenantId", p.TenantID, "scope", p.Scope, "items", n)
			}
			if err == nil && !now.Before(p.SweepAt) {
				err = st.EndPurge(ctx, p.Scope)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("periodclose: purge %s: %w", p.Scope, err))
		}
	}
	return errors.Join(errs...)
}

func closeTenant(ctx context.Context, st Store, log *slog.Logger, id string, now time.Time, res *Result) error {
	today := budget.PeriodsAt(now)
	// (a) Expired reservations, this month's and last month's. What stays open
	// holds the ledger back: its day's records are not all written yet.
	var open time.Time // the earliest admission still open (zero: from before admissions were kept)
	held := false      // some reservation is open
	for _, m := range []string{today.Month, budget.PeriodsAt(now.AddDate(0, -1, 0)).Month} {
		mu, err := st.MonthUsage(ctx, id, m)
		if err != nil {
			return fmt.Errorf("periodclose: %s: %w", id, err)
		}
		for _, r := range mu.Reservations {
			if !r.Lease.Before(now) {
				if !held || r.At.Before(open) {
					open, held = r.At, true
				}
				continue
			}
			rec, ok, err := st.ReturnReservation(ctx, id, m, r)
			if err != nil {
				return fmt.Errorf("periodclose: %s: %w", id, err)
			}
			if ok {
				res.Returned++
				res.ReturnedTokens += r.Tokens - rec.Charged
				res.ChargedTokens += rec.Charged
				log.WarnContext(ctx, "returned expired reservation", "tenantId", id, "requestId", r.RequestID,
					"tokens", r.Tokens, "chargedTokens", rec.Charged, "outcome", rec.Outcome, "leaseExpired", r.Lease)
			}
		}
	}
	// (b) The closed days into the ledger, once each, when their records are
	// final: none of their reservations is open. A run that changes nothing
	// writes nothing.
	first := budget.PeriodsAt(now.AddDate(0, 0, -CatchUpDays))
	have, err := st.Days(ctx, id, first.Date, budget.PeriodsAt(now.AddDate(0, 0, -1)).Date)
	if err != nil {
		return fmt.Errorf("periodclose: %s: %w", id, err)
	}
	for i := CatchUpDays; i >= 1; i-- {
		p := budget.PeriodsAt(now.AddDate(0, 0, -i))
		if _, ok := have[p.Date]; ok {
			continue
		}
		if held && open.Before(p.DayReset) || now.Before(p.DayReset.Add(ClockSkew)) {
			break // this day and the later ones wait for that request
		}
		stats, err := st.RecordStats(ctx, id, p.DayReset.AddDate(0, 0, -1), p.DayReset)
		if err != nil {
			return fmt.Errorf("periodclose: %s: %w", id, err)
		}
		d := stats[p.Date]
		if d == nil {
			continue // no requests that day
		}
		if err := st.PutDay(ctx, id, *d, now); err != nil {
			return fmt.Errorf("periodclose: %s: %w", id, err)
		}
		res.DaysWritten++
	}
	return nil
}
