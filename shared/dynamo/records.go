package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Usage records: pk TENANT#<scope>, sk REQ#<admission time>#<requestId>, one per
// metered request, written before its reservation is closed and never changed
// after. The time is UTC with nanoseconds at fixed width, so the sort key orders
// records by time and a time range is one key condition. They expire after
// Store.RecordTTL. Day statistics (GET /usage?days=N, the ledger's DAY# items)
// are their sums.
//
//	requestId, keyId, user, route, model, attempts, outcome, source
//	input, output, cached       tokens
//	reserved, charged           tokens the reservation held, tokens charged
//	cost, costReserved, costCharged   micro-dollars: at the model's price, and
//	                            what the money budgets reserved and were charged
//	latencyUs, ttftUs           microseconds
//	ttl                         expiry (epoch seconds)
const recordPrefix = "REQ#"

// recordTime is the sort key's time layout: fixed width, so that strings sort
// as times.
const recordTime = "2006-01-02T15:04:05.000000000Z"

// DefaultRecordTTL is how long usage records are kept when Store.RecordTTL is 0.
const DefaultRecordTTL = 90 * 24 * time.Hour

func recordSK(at time.Time, requestID string) string {
	return recordPrefix + at.UTC().Format(recordTime) + "#" + requestID
}

// recordBound is the sort key every record at or after t follows.
func recordBound(t time.Time) string { return recordPrefix + t.UTC().Format(recordTime) }

func (s *Store) recordTTL() time.Duration {
	if s.RecordTTL > 0 {
		return s.RecordTTL
	}
	return DefaultRecordTTL
}

func encodeRecord(scope string, r budget.Record, ttl time.Duration) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrPK: str(tenantPK(scope)), attrSK: str(recordSK(r.Time, r.RequestID)),
		"requestId": str(r.RequestID), "attempts": num(int64(r.Attempts)),
		"input": num(r.Input), "output": num(r.Output), "cached": num(r.Cached),
		"reserved": num(r.Reserved), "charged": num(r.Charged),
		"cost": num(r.Cost), "costReserved": num(r.CostReserved), "costCharged": num(r.CostCharged),
		"latencyUs": num(r.Latency.Microseconds()), "ttftUs": num(r.TTFT.Microseconds()),
		attrTTL: num(r.Time.Add(ttl).Unix()),
	}
	for name, v := range map[string]string{"keyId": r.KeyID, "user": r.User, "route": r.Route, "model": r.Model,
		"outcome": r.Outcome, "source": r.Source} {
		if v != "" { // empty strings are left out, as older DynamoDB-compatible servers refuse them
			item[name] = str(v)
		}
	}
	return item
}

func decodeRecord(item map[string]types.AttributeValue) budget.Record {
	at, _ := time.Parse(recordTime, strings.TrimPrefix(getS(item, attrSK), recordPrefix)[:len(recordTime)])
	return budget.Record{
		RequestID: getS(item, "requestId"), Time: at,
		Meta:  budget.Meta{KeyID: getS(item, "keyId"), User: getS(item, "user"), Route: getS(item, "route")},
		Model: getS(item, "model"), Attempts: int(getN(item, "attempts")),
		Input: getN(item, "input"), Output: getN(item, "output"), Cached: getN(item, "cached"),
		Reserved: getN(item, "reserved"), Charged: getN(item, "charged"),
		Cost: getN(item, "cost"), CostReserved: getN(item, "costReserved"), CostCharged: getN(item, "costCharged"),
		Outcome: getS(item, "outcome"), Source: getS(item, "source"),
		Latency: time.Duration(getN(item, "latencyUs")) * time.Microsecond,
		TTFT:    time.Duration(getN(item, "ttftUs")) * time.Microsecond,
	}
}

// putRecord writes r unless the request has a record already, and returns the
// record that stands: r, or the one written first (by an earlier try, or by
// the period-close job for an expired reservation), which is what its
// reservation is closed with.
func (s *Store) putRecord(ctx context.Context, scope string, r budget.Record) (budget.Record, error) {
	item := encodeRecord(scope, r, s.recordTTL())
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return r, err
	}
	old := ccf.Item
	if old == nil { // dynalite does not return it
		res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(s.table), Key: key(getS(item, attrPK), getS(item, attrSK)), ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			return r, err
		}
		old = res.Item
	}
	return decodeRecord(old), nil
}

// Records returns a tenant's usage records newest first, and the cursor of the
// next page ("" after the last).
func (s *Store) Records(ctx context.Context, scope string, q budget.RecordQuery) ([]budget.Record, string, error) {
	lo, hi := recordPrefix, recordPrefix+"~"
	if !q.From.IsZero() {
		lo = recordBound(q.From)
	}
	if !q.To.IsZero() {
		hi = recordBound(q.To)
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(tenantPK(scope)), ":lo": str(lo), ":hi": str(hi),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(int32(q.Limit + 1)),
	}
	var filter []string
	if q.Model != "" {
		in.ExpressionAttributeNames["#model"], in.ExpressionAttributeValues[":model"] = "model", str(q.Model)
		filter = append(filter, "#model = :model")
	}
	if q.User != "" {
		in.ExpressionAttributeNames["#user"], in.ExpressionAttributeValues[":user"] = "user", str(q.User)
		filter = append(filter, "#user = :user")
	}
	if len(filter) > 0 {
		in.FilterExpression = aws.String(strings.Join(filter, " AND "))
	}
	if q.Cursor != "" {
		// The cursor is the last returned record's sort key: it can only name
		// a record of the caller's own partition, inside the query's range.
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		after := string(b)
		if err != nil || !strings.HasPrefix(after, recordPrefix) || after < lo || after > hi {
			return nil, "", tenant.ErrBadCursor
		}
		in.ExclusiveStartKey = key(tenantPK(scope), after)
	}
	var out []budget.Record
	var last string // sort key of out's last record
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("dynamo: read usage records of %s: %w", scope, err)
		}
		for _, it := range res.Items {
			if len(out) == q.Limit {
				// One more matches: the page ends at the last record returned,
				// and the next resumes right after it.
				return out, base64.RawURLEncoding.EncodeToString([]byte(last)), nil
			}
			out = append(out, decodeRecord(it))
			last = getS(it, attrSK)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, "", nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// RecordStats sums a tenant's usage records from from (inclusive) to to
// (exclusive) by UTC day (yyyy-mm-dd).
func (s *Store) RecordStats(ctx context.Context, scope string, from, to time.Time) (map[string]*budget.DayStats, error) {
	out := map[string]*budget.DayStats{}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ProjectionExpression:   aws.String("#sk, #model, #in, #out, #cached, #charged, #cost"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK, "#model": "model",
			"#in": "input", "#out": "output", "#cached": "cached", "#charged": "charged", "#cost": "cost"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(tenantPK(scope)), ":lo": str(recordBound(from)), ":hi": str(recordBound(to)),
		},
	})
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: sum usage records of %s: %w", scope, err)
		}
		for _, it := range res.Items {
			r := decodeRecord(it)
			date := r.Time.Format("2006-01-02")
			if out[date] == nil {
				out[date] = &budget.DayStats{Date: date}
			}
			out[date].Add(r)
		}
	}
	return out, nil
}

// ItemSize is an item's size by DynamoDB's rules: attribute names and values,
// strings as UTF-8, numbers about one byte per two significant digits plus
// one, maps and lists with 3 bytes of overhead plus 1 per element.
func ItemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		digits := strings.TrimLeft(strings.NewReplacer("-", "", ".", "").Replace(v.Value), "0")
		digits = strings.TrimRight(digits, "0")
		return (len(digits)+1)/2 + 1
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		n := 3
		for name, e := range v.Value {
			n += len(name) + valueSize(e) + 1
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += valueSize(e) + 1
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, e := range v.Value {
			n += len(e)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, e := range v.Value {
			n += valueSize(&types.AttributeValueMemberN{Value: e})
		}
		return n
	}
	return 0
}
