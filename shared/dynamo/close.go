package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/budget"
)

// Ledger items: pk TENANT#<id>, sk DAY#<yyyy-mm-dd>, one per tenant per closed UTC
// day, written once by the period-close job from the day's usage records, when
// they are final (no reservation admitted that day is still open). They hold the
// sums of the records (input, output, cached, requests, per model) as a JSON
// document and outlive the records' TTL.
func daySK(date string) string { return "DAY#" + date }

// ReturnReservation closes an expired reservation, exactly once: it writes the
// request's usage record, charging what the request last checkpointed (r.Served,
// nothing without a checkpoint), and returns the rest of its tokens to the
// budget. When the request wrote its own record first (it settled, but died
// before closing its reservation), that record is what is charged. It reports
// the record that stands, and false when the reservation was already closed (by
// its request, or by another job run).
func (s *Store) ReturnReservation(ctx context.Context, tenantID, month string, r budget.OpenReservation) (budget.Record, bool, error) {
	at := r.At
	if at.IsZero() { // a reservation from before admission times were kept
		at = r.Lease
	}
	rec := budget.NewRecord(budget.Reservation{RequestID: r.RequestID, At: at, Tokens: r.Tokens, Cost: r.Cost}, r.Served)
	rec.Outcome = budget.OutcomeExpired
	if rec.Source != budget.SourceNone {
		rec.Source = budget.SourceCheckpoint
	}
	rec, err := s.putRecord(ctx, tenantID, rec)
	if err != nil {
		return rec, false, fmt.Errorf("dynamo: return reservation %s: %w", r.RequestID, err)
	}
	err = s.close(ctx, tenantID, month, r.RequestID, r.Day, closing{tokens: r.Tokens, charged: rec.Charged, cost: r.Cost, costCharged: rec.CostCharged})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, fmt.Errorf("dynamo: return reservation %s: %w", r.RequestID, err)
	}
	return rec, true, nil
}

// ledgerDoc is the JSON document of a ledger item.
type ledgerDoc struct {
	InputTokens   int64                  `json:"inputTokens"`
	OutputTokens  int64                  `json:"outputTokens"`
	CachedTokens  int64                  `json:"cachedTokens,omitempty"`
	Cost          int64                  `json:"costMicros,omitempty"`
	Requests      int64                  `json:"requests"`
	OverrunTokens int64                  `json:"overrunTokens,omitempty"`
	ByModel       map[string]ledgerModel `json:"byModel"`
}

// ledgerModel is one model's share of a ledger day, as stored.
type ledgerModel struct {
	InputTokens  int64 `json:"inputTokens"`
	OutputTokens int64 `json:"outputTokens"`
	CachedTokens int64 `json:"cachedTokens,omitempty"`
	Cost         int64 `json:"costMicros,omitempty"`
	Requests     int64 `json:"requests"`
}

func toLedgerDoc(d budget.DayStats) ledgerDoc {
	doc := ledgerDoc{InputTokens: d.InputTokens, OutputTokens: d.OutputTokens, CachedTokens: d.CachedTokens, Cost: d.Cost,
		Requests: d.Requests, OverrunTokens: d.OverrunTokens}
	if d.ByModel != nil {
		doc.ByModel = make(map[string]ledgerModel, len(d.ByModel))
		for m, st := range d.ByModel {
			doc.ByModel[m] = ledgerModel(st)
		}
	}
	return doc
}

func (doc ledgerDoc) day(date string) budget.DayStats {
	d := budget.DayStats{Date: date, InputTokens: doc.InputTokens, OutputTokens: doc.OutputTokens, CachedTokens: doc.CachedTokens,
		Cost: doc.Cost, Requests: doc.Requests, OverrunTokens: doc.OverrunTokens}
	if doc.ByModel != nil {
		d.ByModel = make(map[string]budget.ModelStats, len(doc.ByModel))
		for m, st := range doc.ByModel {
			d.ByModel[m] = budget.ModelStats(st)
		}
	}
	return d
}

// PutDay writes a closed day's usage into the ledger. Writing the same day again
// replaces it with the same content, so the job is idempotent.
func (s *Store) PutDay(ctx context.Context, tenantID string, d budget.DayStats, closedAt time.Time) error {
	doc, err := json.Marshal(toLedgerDoc(d))
	if err != nil {
		return fmt.Errorf("dynamo: put day: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK: str(tenantPK(tenantID)), attrSK: str(daySK(d.Date)),
			"date": str(d.Date), "usage": str(string(doc)), "closedAt": timeAttr(closedAt),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamo: put day %s of %s: %w", d.Date, tenantID, err)
	}
	return nil
}

// Days reads the ledger's days from first to last (yyyy-mm-dd, inclusive).
func (s *Store) Days(ctx context.Context, tenantID, first, last string) (map[string]budget.DayStats, error) {
	out := map[string]budget.DayStats{}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :a AND :b"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(tenantPK(tenantID)), ":a": str(daySK(first)), ":b": str(daySK(last)),
		},
	})
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: read ledger of %s: %w", tenantID, err)
		}
		for _, it := range res.Items {
			var doc ledgerDoc
			if err := json.Unmarshal([]byte(getS(it, "usage")), &doc); err != nil {
				return nil, fmt.Errorf("dynamo: decode ledger day of %s: %w", tenantID, err)
			}
			date := getS(it, "date")
			out[date] = doc.day(date)
		}
	}
	return out, nil
}
