package usage

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/web"
)

// RecordStore reads usage records. *dynamo.Store implements it.
type RecordStore interface {
	Records(ctx context.Context, scope string, q budget.RecordQuery) ([]budget.Record, string, error)
}

// Page limits of GET /usage/requests.
const (
	DefaultRecordLimit = 100
	MaxRecordLimit     = 1000
	maxFilterLength    = 256
)

// RecordList is the JSON body of GET /usage/requests.
type RecordList struct {
	Object     string      `json:"object"` // "list"
	Data       []RecordRow `json:"data"`
	HasMore    bool        `json:"has_more"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// RecordRow is one request's usage record as the API shows it.
type RecordRow struct {
	Object         string `json:"object"` // "usage.request"
	RequestID      string `json:"requestId"`
	Time           string `json:"time"` // admission, RFC 3339 with nanoseconds
	TenantID       string `json:"tenantId"`
	KeyID          string `json:"keyId,omitempty"`
	User           string `json:"user,omitempty"`
	Route          string `json:"route,omitempty"`
	Model          string `json:"model,omitempty"`
	Attempts       int    `json:"attempts"`
	InputTokens    int64  `json:"inputTokens"`
	OutputTokens   int64  `json:"outputTokens"`
	CachedTokens   int64  `json:"cachedTokens"`
	ReservedTokens int64  `json:"reservedTokens"`
	ChargedTokens  int64  `json:"chargedTokens"`
	OverrunTokens  int64  `json:"overrunTokens"`
	// CostUSD is what the request cost at its model's price (0 for an
	// unpriced model); CostChargedUSD what the money budget was charged.
	CostUSD        money.Micros `json:"costUsd"`
	CostChargedUSD money.Micros `json:"costChargedUsd"`
	Outcome        string       `json:"outcome"`
	UsageSource    string       `json:"usageSource"`
	LatencyMs      float64      `json:"latencyMs"`
	TTFTMs         float64      `json:"timeToFirstTokenMs"`
}

func row(tenantID string, r budget.Record) RecordRow {
	return RecordRow{Object: "usage.request", RequestID: r.RequestID, Time: r.Time.UTC().Format(time.RFC3339Nano), TenantID: tenantID,
		KeyID: r.KeyID, User: r.User, Route: r.Route, Model: r.Model, Attempts: r.Attempts,
		InputTokens: r.Input, OutputTokens: r.Output, CachedTokens: r.Cached,
		ReservedTokens: r.Reserved, ChargedTokens: r.Charged, OverrunTokens: r.Overrun(),
		CostUSD: money.Micros(r.Cost), CostChargedUSD: money.Micros(r.CostCharged),
		Outcome: r.Outcome, UsageSource: r.Source,
		LatencyMs: millis(r.Latency), TTFTMs: millis(r.TTFT)}
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// csvHeader names RecordRow's columns, in order.
var csvHeader = []string{"requestId", "time", "tenantId", "keyId", "user", "route", "model", "attempts",
	"inputTokens", "outputTokens", "cachedTokens", "reservedTokens", "chargedTokens", "overrunTokens",
	"costUsd", "costChargedUsd", "outcome", "usageSource", "latencyMs", "timeToFirstTokenMs"}

func (r RecordRow) csv() []string {
	n := func(v int64) string { return strconv.FormatInt(v, 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return []string{r.RequestID, r.Time, r.TenantID, r.KeyID, r.User, r.Route, r.Model, strconv.Itoa(r.Attempts),
		n(r.InputTokens), n(r.OutputTokens), n(r.CachedTokens), n(r.ReservedTokens), n(r.ChargedTokens), n(r.OverrunTokens),
		r.CostUSD.String(), r.CostChargedUSD.String(), r.Outcome, r.UsageSource, f(r.LatencyMs), f(r.TTFTMs)}
}

// ParseRecordQuery reads GET /usage/requests's parameters: from and to (RFC
// 3339 instants, or yyyy-mm-dd dates: from the start of from's date to the
// end of to's), model, user, limit (1 to MaxRecordLimit) and cursor. limited
// is false when limit was not given.
func ParseRecordQuery(r *http.Request) (q budget.RecordQuery, limited bool, err error) {
	v := r.URL.Query()
	if q.From, err = instant(v.Get("from"), "from", false); err != nil {
		return q, false, err
	}
	if q.To, err = instant(v.Get("to"), "to", true); err != nil {
		return q, false, err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return q, false, apierr.InvalidParam("invalid_time_range", "to", "to must be later than from")
	}
	q.Model, q.User = v.Get("model"), v.Get("user")
	for name, s := range map[string]string{"model": q.Model, "user": q.User} {
		if len(s) > maxFilterLength {
			return q, false, apierr.InvalidParam("invalid_"+name, name, name+" must be at most "+strconv.Itoa(maxFilterLength)+" bytes")
		}
	}
	q.Limit = DefaultRecordLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxRecordLimit {
			return q, false, apierr.InvalidParam("invalid_limit", "limit", "limit must be an integer from 1 to "+strconv.Itoa(MaxRecordLimit))
		}
		q.Limit, limited = n, true
	}
	q.Cursor = v.Get("cursor")
	return q, limited, nil
}

// instant parses a from or to parameter; a date's end (for to) is the next
// day's start.
func instant(s, param string, end bool) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, apierr.InvalidParam("invalid_"+param, param, param+" must be an RFC 3339 time (2026-11-25T10:00:00Z) or a date (2026-11-25)")
	}
	if end {
		d = d.AddDate(0, 0, 1)
	}
	return d, nil
}

// ServeRecords answers GET /usage/requests for cfg's tenant: a page of its
// usage records, newest first, as JSON; or, with Accept: text/csv, as CSV,
// every matching record unless limit is given (the next page's cursor is then
// in the x-next-cursor header).
func ServeRecords(w http.ResponseWriter, r *http.Request, st RecordStore, cfg *tenant.Config) {
	q, limited, err := ParseRecordQuery(r)
	if err != nil {
		apierr.Write(w, err)
		return
	}
	wantCSV := acceptsCSV(r.Header.Get("Accept"))
	if wantCSV && !limited {
		q.Limit = MaxRecordLimit
	}
	recs, next, err := st.Records(r.Context(), cfg.Scope(), q)
	if errors.Is(err, tenant.ErrBadCursor) {
		apierr.Write(w, apierr.InvalidParam("invalid_cursor", "cursor", "cursor is not one this endpoint returned for these from and to"))
		return
	}
	if err != nil {
		apierr.Write(w, apierr.StoreUnavailable("read usage records", err))
		return
	}
	if !wantCSV {
		out := RecordList{Object: "list", Data: make([]RecordRow, len(recs)), HasMore: next != "", NextCursor: next}
		for i, rec := range recs {
			out.Data[i] = row(cfg.ID, rec)
		}
		web.JSON(w, http.StatusOK, out)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="usage-`+cfg.ID+`.csv"`)
	if limited && next != "" {
		w.Header().Set("x-next-cursor", next)
	}
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for {
		for _, rec := range recs {
			_ = cw.Write(row(cfg.ID, rec).csv())
		}
		if limited || next == "" {
			break
		}
		cw.Flush()
		q.Cursor = next
		if recs, next, err = st.Records(r.Context(), cfg.Scope(), q); err != nil {
			// The status is sent: web.Wrap logs this and aborts the response,
			// so the client sees a cut download, never a clean end.
			panic(fmt.Errorf("usage: CSV export cut short: %w", err))
		}
	}
	cw.Flush()
}

// acceptsCSV reports whether an Accept header asks for text/csv.
func acceptsCSV(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, _ := strings.Cut(part, ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/csv") {
			return true
		}
	}
	return false
}
