package dynamo_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/ratelimit"
	"github.com/tollgate/tollgate/shared/tenant"
)

// capacity sums the write units the server reports (ReturnConsumedCapacity)
// for the writes of a client.
type capacity struct {
	mu    sync.Mutex
	units float64
}

func (c *capacity) take() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.units
	c.units = 0
	return u
}

func (c *capacity) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("countWriteUnits", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		switch p := in.Parameters.(type) {
		case *dynamodb.UpdateItemInput:
			p.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		case *dynamodb.PutItemInput:
			p.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
		}
		out, md, err := next.HandleInitialize(ctx, in)
		var cc *types.ConsumedCapacity
		switch r := out.Result.(type) {
		case *dynamodb.UpdateItemOutput:
			cc = r.ConsumedCapacity
		case *dynamodb.PutItemOutput:
			cc = r.ConsumedCapacity
		}
		if cc != nil && cc.CapacityUnits != nil {
			c.mu.Lock()
			c.units += *cc.CapacityUnits
			c.mu.Unlock()
		}
		return out, md, err
	}), middleware.After)
}

// monthDay is what one simulated day measured.
type monthDay struct {
	day          int
	unitsPerReq  float64 // write units per request settled that day, as the server reports them
	itemBytes    int     // the usage item's size after the day's requests (DynamoDB's size rules)
	baseBytes    int     // the same without the reservations in flight
	reservations int
}

// simulateMonth runs December 2026 through the real store: every day, each of
// models answers perModel requests (admitted with both rate limits, settled
// with usage), while inFlight long requests stay open all day (admitted in the
// morning, settled at night), and measures the usage item and the write units
// per request.
func simulateMonth(tb testing.TB, srv *dynamotest.Server, models, perModel, inFlight int, costed bool) []monthDay {
	tb.Helper()
	var cap capacity
	client := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		APIOptions:  []func(*middleware.Stack) error{cap.middleware},
	})
	table := srv.NewTable(tb)
	st := dynamo.New(client, table)
	ctx := context.Background()
	cfg, _, err := st.PutTenant(ctx, tenant.Config{ID: "acme", Incarnation: "0123456789abcdef"}, nil, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		tb.Fatal(err)
	}
	scope := cfg.Scope()
	limits := budget.Limits{Daily: 50_000_000, Monthly: 1_000_000_000, MinOutput: 16}
	if costed { // $500 a day, $10,000 a month, at $3 and $15 per million tokens
		limits.CostDaily, limits.CostMonthly, limits.InputPrice, limits.OutputPrice = 500_000_000, 10_000_000_000, 3_000_000, 15_000_000
	}
	admit := func(id string, now time.Time) budget.Admitted {
		adm, err := st.Admit(ctx, budget.Admission{
			TenantID: scope, RequestID: id, Now: now, Prompt: 900, MaxOutput: 4096, Lease: 15 * time.Minute,
			Budget: limits,
			Rates: []ratelimit.Cost{{Name: ratelimit.Requests, Limit: 600, Units: 1},
				{Name: ratelimit.Tokens, Limit: 10_000_000, Units: 4996}},
			Meta: budget.Meta{KeyID: "key_0123456789abcdef", User: "end-user-42", Route: "chat.completions"},
		})
		if err != nil {
			tb.Fatal(err)
		}
		return adm
	}
	var out []monthDay
	for d := 1; d <= 31; d++ {
		morning := time.Date(2026, 12, d, 8, 0, 0, 0, time.UTC)
		var open []budget.Admitted
		for i := range inFlight {
			open = append(open, admit(fmt.Sprintf("long-%02d-%d-0123456789abcdef", d, i), morning))
		}
		cap.take()
		n := 0
		for m := range models {
			for k := range perModel {
				now := morning.Add(time.Duration(n+1) * time.Minute)
				adm := admit(fmt.Sprintf("req-%02d-%d-%d-0123456789abcdef", d, m, k), now)
				c := budget.Charge{Input: 812, Output: 230 + int64(k), Cached: 128, Model: fmt.Sprintf("bedrock/provider.model-%d-v1:0", m), Cost: 5_898,
					Attempts: 1, Outcome: "ok", Latency: 1234 * time.Millisecond, TTFT: 321 * time.Millisecond}
				if err := st.Settle(ctx, adm.Reservation, c); err != nil {
					tb.Fatal(err)
				}
				n++
			}
		}
		units := cap.take()
		res, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "TENANT#" + scope},
				"sk": &types.AttributeValueMemberS{Value: "USAGE#2026-12"}}})
		if err != nil {
			tb.Fatal(err)
		}
		size, base, resN := dynamo.ItemSize(res.Item), dynamo.ItemSize(res.Item), 0
		for name, v := range res.Item {
			if strings.HasPrefix(name, "res#") {
				base -= dynamo.ItemSize(map[string]types.AttributeValue{name: v})
				resN++
			}
		}
		out = append(out, monthDay{day: d, unitsPerReq: units / float64(n), itemBytes: size, baseBytes: base, reservations: resN})
		for _, adm := range open {
			if err := st.Settle(ctx, adm.Reservation, budget.Charge{Input: 900, Output: 3000, Model: "bedrock/provider.model-0-v1:0"}); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return out
}

// TestUsageItemConstantOverAMonth: through a whole month of 10 models with
// requests in flight, the item every admission and settlement writes stays
// under 1 KB plus its reservations, and a request costs the same write units
// on day 31 as on day 1.
func TestUsageItemConstantOverAMonth(t *testing.T) {
	t.Parallel()
	srv := dynamotest.Require(t, ddb)
	const inFlight = 3
	for _, costed := range []bool{false, true} {
		t.Run(fmt.Sprintf("costBudget=%v", costed), func(t *testing.T) {
			t.Parallel()
			days := simulateMonth(t, srv, 10, 1, inFlight, costed)
			for _, d := range days {
				if d.baseBytes > 300 || d.reservations != inFlight || (d.itemBytes-d.baseBytes)/inFlight > 160 {
					t.Errorf("day %d: usage item %d bytes, %d without its %d reservations; want at most 300 (under the 1 KB bound whatever the day) plus about 100 a reservation",
						d.day, d.itemBytes, d.baseBytes, d.reservations)
				}
			}
			first, last := days[0], days[len(days)-1]
			t.Logf("usage item: day 1 %d bytes (%d without reservations), day 31 %d (%d); write units per request: day 1 %.2f, day 31 %.2f",
				first.itemBytes, first.baseBytes, last.itemBytes, last.baseBytes, first.unitsPerReq, last.unitsPerReq)
			if first.unitsPerReq != last.unitsPerReq || first.unitsPerReq != 3 {
				t.Errorf("write units per request: day 1 %.2f, day 31 %.2f; want 3 on both (admission, record, settlement)", first.unitsPerReq, last.unitsPerReq)
			}
		})
	}
}

// BenchmarkWriteUnits reports the write units a request costs on day 1 and
// day 31 of a month (10 models, 3 requests in flight), as dynalite reports
// them by DynamoDB's size rules, and the usage item's size on those days,
// without and with a money budget.
func BenchmarkWriteUnits(b *testing.B) {
	srv := dynamotest.Require(b, ddb)
	for _, costed := range []bool{false, true} {
		b.Run(fmt.Sprintf("costBudget=%v", costed), func(b *testing.B) {
			var days []monthDay
			for b.Loop() {
				days = simulateMonth(b, srv, 10, 1, 3, costed)
			}
			first, last := days[0], days[len(days)-1]
			b.ReportMetric(first.unitsPerReq, "WU/req-day1")
			b.ReportMetric(last.unitsPerReq, "WU/req-day31")
			b.ReportMetric(float64(first.itemBytes), "item-B-day1")
			b.ReportMetric(float64(last.itemBytes), "item-B-day31")
		})
	}
}

// TestDayCountersAcrossMidnight: an admission removes the day counters of days
// before yesterday, never today's, yesterday's or a later day's: at midnight an
// instance whose clock is behind must not erase what one whose clock is ahead
// committed to the new day.
func TestDayCountersAcrossMidnight(t *testing.T) {
	t.Parallel()
	srv := dynamotest.Require(t, ddb)
	table := srv.NewTable(t)
	ahead, behind := dynamo.New(srv.Client(), table), dynamo.New(srv.Client(), table)
	ctx := context.Background()
	cfg, _, err := ahead.PutTenant(ctx, tenant.Config{ID: "acme"}, nil, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	admit := func(st *dynamo.Store, id string, now time.Time) {
		t.Helper()
		if _, err := st.Admit(ctx, budget.Admission{TenantID: cfg.Scope(), RequestID: id, Now: now, Prompt: 10, MaxOutput: 10,
			Lease: time.Minute, Budget: budget.Limits{Daily: 1000, MinOutput: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	admit(ahead, "day-2", time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	admit(ahead, "day-4", time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	admit(ahead, "day-6", time.Date(2026, 12, 6, 0, 0, 1, 0, time.UTC))
	late := time.Date(2026, 12, 5, 23, 59, 59, 0, time.UTC)
	admit(behind, "late-1", late) // sees used#02 (stale), used#04, used#05, used#06
	admit(behind, "late-2", late) // removes used#02 only
	mu, err := ahead.MonthUsage(ctx, cfg.Scope(), "2026-12")
	if err != nil {
		t.Fatal(err)
	}
	res, err := srv.Client().GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "TENANT#" + cfg.Scope()},
			"sk": &types.AttributeValueMemberS{Value: "USAGE#2026-12"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.Item["used#02"]; ok {
		t.Errorf("day 02's counter outlived the admissions of day 05: %v", res.Item)
	}
	for _, dd := range []string{"04", "05", "06"} {
		if _, ok := res.Item["used#"+dd]; !ok {
			t.Errorf("day %s's counter was removed: %v", dd, res.Item)
		}
	}
	if d := mu.Days["06"]; d.Reserved != 20 || d.Used != 0 {
		t.Errorf("day 06 = %+v, want the reservation of the instance ahead kept", d)
	}
	if d := mu.Days["04"]; d.Reserved != 20 {
		t.Errorf("day 04 (yesterday for the instance behind) = %+v, want it kept", d)
	}
	if d := mu.Days["05"]; d.Reserved != 40 {
		t.Errorf("day 05 = %+v, want both late reservations", d)
	}
}
