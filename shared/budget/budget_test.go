package budget_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
)

func TestPeriodsAt(t *testing.T) {
	p := budget.PeriodsAt(time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("x", -3600)))
	// 23:59:59 at UTC-1 is 00:59:59 on 1 January in UTC.
	if p.Month != "2027-01" || p.Day != "01" || p.Date != "2027-01-01" ||
		!p.DayReset.Equal(time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC)) || !p.MonthReset.Equal(time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("PeriodsAt = %+v", p)
	}
}

func TestFit(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		l          budget.Limits
		u          budget.Used
		prompt, mo int64
		want       int64
		period     budget.Period
	}{
		{"unlimited", budget.Limits{}, budget.Used{Day: 1e9}, 100, 4096, 4096, ""},
		{"fits", budget.Limits{Daily: 10000}, budget.Used{Day: 1000}, 100, 4096, 4096, ""},
		{"clamped by day", budget.Limits{Daily: 10000, MinOutput: 16}, budget.Used{Day: 9000}, 100, 4096, 900, ""},
		{"clamped by month", budget.Limits{Daily: 10000, Monthly: 5000, MinOutput: 16}, budget.Used{Day: 0, Month: 4800}, 100, 4096, 100, ""},
		{"exactly the minimum", budget.Limits{Daily: 1000, MinOutput: 16}, budget.Used{Day: 884}, 100, 4096, 16, ""},
		{"day exhausted", budget.Limits{Daily: 1000, Monthly: 1e6, MinOutput: 16}, budget.Used{Day: 885}, 100, 4096, 0, budget.Day},
		{"month exhausted, day has room", budget.Limits{Daily: 1e6, Monthly: 1000, MinOutput: 16}, budget.Used{Day: 0, Month: 990}, 100, 4096, 0, budget.Month},
		{"over the limit already", budget.Limits{Daily: 100}, budget.Used{Day: 500}, 1, 10, 0, budget.Day},
		{"small request under minimum", budget.Limits{Daily: 1000, MinOutput: 16}, budget.Used{Day: 990}, 5, 4, 4, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.l.Fit(tt.u, tt.prompt, tt.mo, now)
			if tt.period != "" {
				var e *budget.ExhaustedError
				if !errors.As(err, &e) || e.Period != tt.period || !errors.Is(err, budget.ErrExhausted) {
					t.Fatalf("Fit = %d, %v; want exhausted %s", got, err, tt.period)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Fit = %d, %v; want %d", got, err, tt.want)
			}
			if rem, _, ok := tt.l.Remaining(tt.u); ok && tt.prompt+got > rem {
				t.Errorf("reservation %d exceeds remaining %d", tt.prompt+got, rem)
			}
		})
	}
}
