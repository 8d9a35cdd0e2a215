// Package periodclose is the scheduled budget-reset job. Budgets never depend on
// it, since counters are period-keyed and a new day or month starts at zero by
// itself. It does the two things only a job can: it returns reservations whose
// request died without settling (a Lambda timeout or crash), once their lease has
// expired, and it copies each closed UTC day's usage into the durable ledger that
// GET /usage?days=N reads. It also finishes the deletion of deleted tenants'
// data (see dynamo.Purge). Running it twice, or two copies at once, changes
// nothing more than running it once.
package periodclose

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Store is what the job reads and writes. *dynamo.Store implements it.
type Store interface {
	ListTenants(ctx context.Context, limit int, cursor string) ([]tenant.Config, string, error)
	MonthUsage(ctx context.Context, tenantID, month string) (budget.MonthUsage, error)
	ReturnReservation(ctx context.Context, tenantID, month string, r budget.OpenReservation) (bool, error)
	PutDay(ctx context.Context, tenantID string, d budget.DayStats, closedAt time.Time) error
	Days(ctx context.Context, tenantID, first, last string) (map[string]budget.DayStats, error)
	GetTenant(ctx context.Context, id string) (tenant.Config, error)
	Purges(ctx context.Context) ([]tenant.Purge, error)
	Purge(ctx context.Context, scope string) (int, error)
	EndPurge(ctx context.Context, scope string) error
}

// CatchUpDays is how many closed days each run (re)writes into the ledger, so a
// run that failed or was skipped is made good by the next ones, and a settlement
// that lands just after midnight still reaches yesterday's ledger entry.
const CatchUpDays = 3

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
	months := map[string]budget.MonthUsage{}
	month := func(m string) (budget.MonthUsage, error) {
		if mu, ok := months[m]; ok {
			return mu, nil
		}
		mu, err := st.MonthUsage(ctx, id, m)
		if err != nil {
			return mu, fmt.Errorf("periodclose: %s: %w", id, err)
		}
		months[m] = mu
		return mu, nil
	}
	// (a) Expired reservations, this month's and last month's.
	for _, m := range []string{today.Month, budget.PeriodsAt(now.AddDate(0, -1, 0)).Month} {
		mu, err := month(m)
		if err != nil {
			return err
		}
		for _, r := range mu.Reservations {
			if !r.Lease.Before(now) {
				continue
			}
			ok, err := st.ReturnReservation(ctx, id, m, r)
			if err != nil {
				return fmt.Errorf("periodclose: %s: %w", id, err)
			}
			if ok {
				charged := r.Charged()
				res.Returned++
				res.ReturnedTokens += r.Tokens - charged
				res.ChargedTokens += charged
				log.WarnContext(ctx, "returned expired reservation", "tenantId", id, "requestId", r.RequestID,
					"tokens", r.Tokens, "chargedTokens", charged, "leaseExpired", r.Lease)
			}
		}
	}
	// (b) The closed days into the ledger, where it lacks them or differs: a run
	// that changes nothing writes nothing.
	have, err := st.Days(ctx, id, budget.PeriodsAt(now.AddDate(0, 0, -CatchUpDays)).Date, budget.PeriodsAt(now.AddDate(0, 0, -1)).Date)
	if err != nil {
		return fmt.Errorf("periodclose: %s: %w", id, err)
	}
	for i := 1; i <= CatchUpDays; i++ {
		p := budget.PeriodsAt(now.AddDate(0, 0, -i))
		mu, err := month(p.Month)
		if err != nil {
			return err
		}
		d := budget.DayStats{Date: p.Date, ByModel: map[string]budget.ModelStats{}}
		if s := mu.Stats[p.Day]; s != nil {
			d = *s
		}
		old, ok := have[p.Date]
		if (!ok && d.Requests == 0) || (ok && reflect.DeepEqual(normal(old), normal(d))) {
			continue
		}
		if err := st.PutDay(ctx, id, d, now); err != nil {
			return fmt.Errorf("periodclose: %s: %w", id, err)
		}
		res.DaysWritten++
	}
	return nil
}

// normal makes empty and nil per-model maps compare equal.
func normal(d budget.DayStats) budget.DayStats {
	if len(d.ByModel) == 0 {
		d.ByModel = nil
	}
	return d
}
