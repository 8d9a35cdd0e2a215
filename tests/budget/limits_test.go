package budget_test

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/provider/echo"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

func ask(text string, maxTokens int) map[string]any {
	m := map[string]any{"messages": []map[string]string{{"role": "user", "content": text}}}
	if maxTokens > 0 {
		m["max_tokens"] = maxTokens
	}
	return m
}

func monthUsage(t *testing.T, g *gatewaytest.Gateway, tenantID string) budget.MonthUsage {
	t.Helper()
	mu, err := g.App.Store.MonthUsage(context.Background(), dynamotest.Scope(t, g.App.Store, tenantID), budget.PeriodsAt(g.Clock.Now()).Month)
	if err != nil {
		t.Fatal(err)
	}
	return mu
}

// dayStats sums the tenant's usage records of the gateway clock's day.
func dayStats(t *testing.T, g *gatewaytest.Gateway, tenantID string) budget.DayStats {
	t.Helper()
	return dynamotest.Stats(t, g.App.Store, dynamotest.Scope(t, g.App.Store, tenantID), budget.PeriodsAt(g.Clock.Now()).Date)
}

// TestMonthlyAndDailyBudgets: the monthly budget refuses while the daily one has
// room, and the reverse, each naming its budget and when it resets.
func TestMonthlyAndDailyBudgets(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name          string
		daily, month  int
		period, reset string
	}{
		{"monthly binds", 1_000_000, 100, "monthly", "2026-12-01T00:00:00Z"},
		{"daily binds", 100, 1_000_000, "daily", "2026-11-26T00:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := gatewaytest.Start(t, ddb, nil, nil)
			key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": tt.daily, "monthly": tt.month}})
			ok := 0
			var last gatewaytest.Response
			for range 20 {
				last = g.Do("POST", "/v1/chat/completions", key, ask("hello there", 8))
				if last.Status != 200 {
					break
				}
				ok++
			}
			if ok == 0 || ok == 20 {
				t.Fatalf("%d of 20 requests admitted; want some, then a refusal", ok)
			}
			gatewaytest.WantError(t, last, 429, "budget_exceeded", "")
			msg := string(last.Body)
			if !strings.Contains(msg, tt.period) || !strings.Contains(msg, tt.reset) {
				t.Errorf("refusal %s does not name the %s budget and its reset %s", msg, tt.period, tt.reset)
			}
			wantRetry := int64(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).Sub(g.Clock.Now()) / time.Second)
			if tt.period == "monthly" {
				wantRetry = int64(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).Sub(g.Clock.Now()) / time.Second)
			}
			if got := last.Header.Get("Retry-After"); got != strconv.FormatInt(wantRetry, 10) {
				t.Errorf("Retry-After = %s, want %d (until the period resets)", got, wantRetry)
			}
			// The OpenAI SDKs would sleep out Retry-After before their retries.
			if got := last.Header.Get("x-should-retry"); got != "false" {
				t.Errorf("x-should-retry = %q, want false: no retry passes before the period resets", got)
			}
			// The refused request cost nothing and left no reservation.
			mu := monthUsage(t, g, "acme")
			if st := dayStats(t, g, "acme"); mu.Total.Reserved != 0 || st.Requests != int64(ok) {
				t.Errorf("after %d admitted requests: %+v, stats %+v", ok, mu.Total, st)
			}
			// The next day (daily case) or month (monthly case) starts afresh.
			if tt.period == "daily" {
				g.Clock.Add(14 * time.Hour)
				if r := g.Do("POST", "/v1/chat/completions", key, ask("hello there", 8)); r.Status != 200 {
					t.Errorf("next day: %d %s", r.Status, r.Body)
				}
			}
		})
	}
}

// TestClampNearTheEnd: near the end of a budget a request with a large max_tokens
// is clamped to what remains, not refused, and the total never exceeds the limit.
func TestClampNearTheEnd(t *testing.T) {
	t.Parallel()
	g := gatewaytest.Start(t, ddb, nil, nil)
	const daily = 260
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": daily}})
	prompt := strings.Repeat("w ", 100) // 200 bytes: an upper bound of 207 tokens with framing
	r := g.Do("POST", "/v1/chat/completions", key, ask(prompt, 4096))
	if r.Status != 200 {
		t.Fatalf("clamped request: %d %s", r.Status, r.Body)
	}
	clamped, err := strconv.Atoi(r.Header.Get("x-tollgate-max-tokens-clamped"))
	if err != nil || clamped != daily-207 {
		t.Errorf("x-tollgate-max-tokens-clamped = %q, want %d", r.Header.Get("x-tollgate-max-tokens-clamped"), daily-207)
	}
	body := r.JSON(t)
	choice := body["choices"].([]any)[0].(map[string]any)
	if choice["finish_reason"] != "length" {
		t.Errorf("finish_reason = %v, want length", choice["finish_reason"])
	}
	if r.Header.Get("x-budget-remaining-daily") != "0" {
		t.Errorf("x-budget-remaining-daily = %q after reserving the rest", r.Header.Get("x-budget-remaining-daily"))
	}
	// Not enough left for the prompt plus the minimum output: refused.
	gatewaytest.WantError(t, g.Do("POST", "/v1/chat/completions", key, ask(prompt, 4096)), 429, "budget_exceeded", "")
	mu := monthUsage(t, g, "acme")
	if used := mu.Days["25"].Used; used > daily || used == 0 {
		t.Errorf("charged %d, want 0 < charged <= %d", used, daily)
	}
	// What GET /usage reports agrees.
	u := g.Do("GET", "/usage?days=3", key, nil).JSON(t)
	day := u["day"].(map[string]any)
	if day["used"] != float64(mu.Days["25"].Used) || day["limit"] != float64(daily) || day["period"] != "2026-11-25" {
		t.Errorf("GET /usage day = %v, store says %+v", day, mu.Days["25"])
	}
	if h := u["history"].([]any); len(h) != 3 || h[0].(map[string]any)["date"] != "2026-11-25" {
		t.Errorf("history = %v", h)
	}
	a := g.Admin("GET", "/admin/tenants/acme/usage", nil).JSON(t)
	if a["day"].(map[string]any)["used"] != day["used"] {
		t.Errorf("admin usage %v disagrees with tenant usage %v", a["day"], day)
	}
}

// slow streams one word each time more receives, and reports no usage.
type slow struct{ more chan struct{} }

func (s *slow) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	return &slowStream{s: s, first: true}, nil
}

type slowStream struct {
	s     *slow
	first bool
}

func (st *slowStream) Next(ctx context.Context) (chat.Chunk, error) {
	if st.first {
		st.first = false
		return chat.Chunk{Text: "first "}, nil
	}
	select {
	case <-st.s.more:
		return chat.Chunk{Text: "another "}, nil
	case <-ctx.Done():
		return chat.Chunk{}, ctx.Err()
	}
}

func (st *slowStream) Close() error { return nil }

// TestDisconnectChargesWhatStreamed: a client that walks away mid-stream is
// charged what was streamed (estimated, as the provider reported no usage), once.
func TestDisconnectChargesWhatStreamed(t *testing.T) {
	t.Parallel()
	prov := &slow{more: make(chan struct{})}
	g := gatewaytest.Start(t, ddb, map[string]string{"MODELS": "openai/slow"},
		func(a *app.App) { a.Providers["openai"] = prov })
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})

	ctx, cancel := context.WithCancel(context.Background())
	body := `{"messages":[{"role":"user","content":"tell me a long story"}],"stream":true}`
	req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(res.Body)
	seen := 0
	for seen < 3 { // the role chunk, "first ", then "another "
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			seen++
			if seen == 2 {
				prov.more <- struct{}{}
			}
		}
	}
	cancel() // the client walks away
	res.Body.Close()

	// Settlement runs before the handler returns; wait for it.
	deadline := time.Now().Add(30 * time.Second)
	var mu budget.MonthUsage
	for {
		mu = monthUsage(t, g, "acme")
		if len(mu.Reservations) == 0 && dayStats(t, g, "acme").Requests > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reservation never settled: %+v", mu)
		}
		time.Sleep(20 * time.Millisecond)
	}
	st := dayStats(t, g, "acme")
	// "first another " is 14 bytes: 4 tokens estimated; the prompt estimate is
	// 3 + 4 + ceil(20/4) = 12.
	if st.Requests != 1 || st.OutputTokens != 4 || st.InputTokens != 12 || mu.Days["25"].Used != 16 {
		t.Errorf("charged %+v (used %d), want one request of 12 input + 4 output tokens", st, mu.Days["25"].Used)
	}
	// The request log line is written after settlement; wait for it too.
	for !strings.Contains(g.Logs.String(), `"usageEstimated":true`) {
		if time.Now().After(deadline) {
			t.Fatal("the request log line does not mark the usage as estimated")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFailClosed: when DynamoDB cannot meter a request, the request is refused
// with 503 and nothing of the provider's reaches the client: nothing runs
// unmetered. The first such request's provider call, made beside its
// admission, is cancelled; the next ones are admitted first and call nothing.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	prov := &counting{}
	g := gatewaytest.Start(t, ddb, map[string]string{"MODELS": "openai/counted"},
		func(a *app.App) { a.Providers["openai"] = prov })
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
	if r := g.Do("POST", "/v1/chat/completions", key, ask("hello", 4)); r.Status != 200 {
		t.Fatalf("warm-up: %d %s", r.Status, r.Body)
	}
	// The key and configuration are cached now; take the table away.
	if _, err := ddb.Client().DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(g.App.Store.Table())}); err != nil {
		t.Fatal(err)
	}
	r := g.Do("POST", "/v1/chat/completions", key, ask("hello", 4))
	gatewaytest.WantError(t, r, 503, "store_unavailable", "")
	after := prov.calls.Load()
	if after > 2 {
		t.Errorf("provider called %d times, want the warm-up's and at most the first refused request's", after)
	}
	for range 3 {
		gatewaytest.WantError(t, g.Do("POST", "/v1/chat/completions", key, ask("hello", 4)), 503, "store_unavailable", "")
	}
	if n := prov.calls.Load(); n != after {
		t.Errorf("provider called %d more times by requests admitted first", n-after)
	}
}

// counting is the echo provider, counting its calls.
type counting struct{ calls atomic.Int64 }

func (c *counting) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	c.calls.Add(1)
	return echo.New().Stream(ctx, req)
}

// TestBudgetChangeTakesEffect: a budget changed through the admin API applies
// within the tenant-configuration cache TTL, and what GET /usage reports agrees
// with the chat response's headers.
func TestBudgetChangeTakesEffect(t *testing.T) {
	t.Parallel()
	g := gatewaytest.Start(t, ddb, nil, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 1_000_000}})
	r := g.Do("POST", "/v1/chat/completions", key, ask("hello there", 8))
	if r.Status != 200 {
		t.Fatalf("first request: %d %s", r.Status, r.Body)
	}
	if r := g.Admin("PUT", "/admin/tenants/acme", map[string]any{"tokenBudget": map[string]any{"daily": 10}}); r.Status != 200 {
		t.Fatalf("lower the budget: %d %s", r.Status, r.Body)
	}
	// Within the TTL the cached configuration still applies...
	if r := g.Do("POST", "/v1/chat/completions", key, ask("hello there", 8)); r.Status != 200 {
		t.Errorf("within the cache TTL: %d, want the old budget to apply", r.Status)
	}
	// ...after it, the new one does.
	g.Clock.Add(31 * time.Second)
	gatewaytest.WantError(t, g.Do("POST", "/v1/chat/completions", key, ask("hello there", 8)), 429, "budget_exceeded", "")
	u := g.Do("GET", "/usage", key, nil).JSON(t)["day"].(map[string]any)
	if u["limit"] != float64(10) || u["remaining"] != float64(0) {
		t.Errorf("GET /usage day = %v, want limit 10 with nothing remaining", u)
	}
}
