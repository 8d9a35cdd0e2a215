package budget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

// echoPrices prices the echo models so that costs are easy to check: echo-1
// at $1 per million input tokens and $2 per million output tokens (1 and 2
// micro-dollars a token), echo-2 at ten times that.
const echoPrices = `{"echo/echo-1":{"input":1,"output":2},"echo/echo-2":{"input":10,"output":20},"echo/echo-embed-1":{"input":0.5,"embedding":0.5}}`

func usd(t *testing.T, s string) money.Micros {
	t.Helper()
	m, err := money.Parse(s)
	if err != nil {
		t.Fatalf("%q is not an amount of dollars: %v", s, err)
	}
	return m
}

// TestCostBudget: a money budget reserves the worst case of a request at its
// models' prices and charges what it cost; responses report the cost and what
// the budget leaves; the output is clamped to what the money allows, and a
// request it cannot afford is refused; a model without a price cannot run
// against a money budget; records and /usage carry the cost.
func TestCostBudget(t *testing.T) {
	t.Parallel()
	g := gatewaytest.Start(t, ddb, map[string]string{"MODELS": "echo/echo-1,echo/echo-2,echo/echo-3,echo/echo-embed-1", "MODEL_PRICES": echoPrices}, nil)
	// $0.001 a day: 1,000 micro-dollars.
	key := g.NewTenant("acme", map[string]any{"costBudget": map[string]any{"daily": 0.001, "monthly": 1}})
	if got := g.Admin("GET", "/admin/tenants/acme", nil).JSON(t)["costBudget"].(map[string]any); got["daily"] != 0.001 || got["monthly"] != 1.0 {
		t.Errorf("stored costBudget = %v", got)
	}

	// "what is the cost" is 16 bytes: 3 + 4 + 16 = 23 tokens reserved at $1/M,
	// 100 output tokens at $2/M: 223 micro-dollars reserved.
	r := g.Do("POST", "/v1/chat/completions", key, map[string]any{"model": "echo/echo-1", "max_tokens": 100,
		"messages": []map[string]string{{"role": "user", "content": "what is the cost"}}})
	if r.Status != 200 {
		t.Fatalf("chat: %d %s", r.Status, r.Body)
	}
	u := r.JSON(t)["usage"].(map[string]any)
	in, out := int64(u["prompt_tokens"].(float64)), int64(u["completion_tokens"].(float64))
	want := money.Micros(in*1 + out*2)
	if got := usd(t, r.Header.Get("x-tollgate-cost-usd")); got != want {
		t.Errorf("x-tollgate-cost-usd = %s, want %s (%d in, %d out)", r.Header.Get("x-tollgate-cost-usd"), want, in, out)
	}
	if got := usd(t, r.Header.Get("x-budget-remaining-cost-daily")); got != 1000-223 {
		t.Errorf("x-budget-remaining-cost-daily = %v, want 0.000777 (after the 223 micro-dollar reservation)", got)
	}
	if r.Header.Get("x-budget-remaining-cost-monthly") == "" || r.Header.Get("x-budget-reset-daily") == "" {
		t.Errorf("money budget headers: %v", r.Header)
	}
	spent := want

	// echo-2 costs ten times as much: 23 × 10 + 100 × 20 = 2,230 micro-dollars
	// would be the worst case; the budget left clamps the output.
	r = g.Do("POST", "/v1/chat/completions", key, map[string]any{"model": "echo/echo-2", "max_tokens": 100,
		"messages": []map[string]string{{"role": "user", "content": "what is the cost"}}})
	left := 1000 - int64(spent)
	wantOut := (left - 23*10) / 20
	if r.Status != 200 || r.Header.Get("x-tollgate-max-tokens-clamped") != strconv.FormatInt(wantOut, 10) {
		t.Fatalf("clamped chat: %d %s, clamped to %q; want %d", r.Status, r.Body, r.Header.Get("x-tollgate-max-tokens-clamped"), wantOut)
	}
	spent += usd(t, r.Header.Get("x-tollgate-cost-usd"))

	// Until nothing fits: then 429 budget_exceeded naming the cost budget.
	var last gatewaytest.Response
	for range 50 {
		last = g.Do("POST", "/v1/chat/completions", key, map[string]any{"model": "echo/echo-2", "max_tokens": 100,
			"messages": []map[string]string{{"role": "user", "content": "what is the cost"}}})
		if last.Status != 200 {
			break
		}
		spent += usd(t, last.Header.Get("x-tollgate-cost-usd"))
	}
	gatewaytest.WantError(t, last, 429, "budget_exceeded", "")
	if !bytes.Contains(last.Body, []byte("daily cost budget of $0.001000")) || last.Header.Get("x-should-retry") != "false" {
		t.Errorf("refusal: %s", last.Body)
	}
	if spent > 1000 {
		t.Errorf("charged %d micro-dollars, over the budget of 1,000", spent)
	}

	// A model without a price cannot run against a money budget.
	gatewaytest.WantError(t, g.Do("POST", "/v1/chat/completions", key, map[string]any{"model": "echo/echo-3",
		"messages": []map[string]string{{"role": "user", "content": "hi"}}}), 400, "model_not_priced", "model")

	// The records and /usage agree with what the responses said.
	var recCost, recCharged money.Micros
	for _, d := range g.Do("GET", "/usage/requests", key, nil).JSON(t)["data"].([]any) {
		rec := d.(map[string]any)
		recCost += usd(t, strconv.FormatFloat(rec["costUsd"].(float64), 'f', 6, 64))
		recCharged += usd(t, strconv.FormatFloat(rec["costChargedUsd"].(float64), 'f', 6, 64))
	}
	rep := g.Do("GET", "/usage?days=1", key, nil)
	var report struct {
		Day struct {
			Cost struct {
				Used, Reserved, Limit, Remaining money.Micros
			} `json:"cost"`
		} `json:"day"`
		History []struct {
			CostUSD money.Micros `json:"costUsd"`
			ByModel map[string]struct {
				CostUSD money.Micros `json:"costUsd"`
			} `json:"byModel"`
		} `json:"history"`
	}
	if err := json.Unmarshal(rep.Body, &report); err != nil {
		t.Fatal(err)
	}
	c := report.Day.Cost
	if recCost != spent || recCharged != spent || c.Used != spent || c.Reserved != 0 || c.Limit != 1000 || c.Remaining != 1000-spent ||
		report.History[0].CostUSD != spent || report.History[0].ByModel["echo/echo-1"].CostUSD != want {
		t.Errorf("responses said %s; records cost %s (charged %s); /usage %s", spent, recCost, recCharged, rep.Body)
	}
}

// TestPriceTable: operators read the table in force and override a price with
// the admin API; the next request is costed at it.
func TestPriceTable(t *testing.T) {
	t.Parallel()
	g := gatewaytest.Start(t, ddb, map[string]string{"MODEL_PRICES": `{"echo/echo-1":{"input":1,"output":2}}`}, nil)
	key := g.NewTenant("acme", map[string]any{})
	list := g.Admin("GET", "/admin/prices", nil).JSON(t)["data"].([]any)
	sources := map[string]string{}
	for _, e := range list {
		m := e.(map[string]any)
		sources[m["model"].(string)] = m["source"].(string)
	}
	if sources["echo/echo-1"] != "deployment" || sources["bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"] != "default" {
		t.Errorf("price sources: %v", sources)
	}
	cost := func() money.Micros {
		r := g.Do("POST", "/v1/chat/completions", key, ask("price me", 10))
		return usd(t, r.Header.Get("x-tollgate-cost-usd"))
	}
	before := cost()
	if r := g.Admin("PUT", "/admin/prices/echo/echo-1", map[string]any{"input": 100, "output": 200}); r.Status != 200 || r.JSON(t)["source"] != "admin" {
		t.Fatalf("PUT price: %d %s", r.Status, r.Body)
	}
	if after := cost(); after != 100*before {
		t.Errorf("cost after the price went up a hundredfold: %s, before %s", after, before)
	}
	if r := g.Admin("DELETE", "/admin/prices/echo/echo-1", nil); r.Status != 204 {
		t.Errorf("DELETE price: %d %s", r.Status, r.Body)
	}
	if again := cost(); again != before {
		t.Errorf("cost after the override was deleted: %s, want %s", again, before)
	}
	gatewaytest.WantError(t, g.Admin("DELETE", "/admin/prices/echo/echo-1", nil), 404, "price_not_found", "")
	gatewaytest.WantError(t, g.Admin("PUT", "/admin/prices/echo/echo-1", map[string]any{"input": -1}), 400, "invalid_price", "")
	gatewaytest.WantError(t, g.Admin("PUT", "/admin/prices/echo/echo-1", map[string]any{"input": 0.0000001}), 400, "invalid_price", "")
	gatewaytest.WantError(t, g.Admin("PUT", "/admin/prices/nomodel", map[string]any{"input": 1}), 400, "invalid_model", "model")
	gatewaytest.WantError(t, g.Do("GET", "/admin/prices", key, nil), 401, "invalid_admin_key", "")
}

// TestConcurrentCostBudgetAcrossProcesses is the money budget's proof: 200
// requests at once over two processes against a daily money budget that fits
// only some; never over it, the charge the sum of what the responses said they
// cost, and of the records.
func TestConcurrentCostBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	if ddb == nil {
		t.Skip("dynalite not installed")
	}
	table := ddb.NewTable(t)
	procs := startLogged(t, 2, table, "error", "MODELS=echo/echo-1", "MODEL_PRICES="+echoPrices)
	const daily = 2000 // micro-dollars
	admin(t, procs[0].URL, "PUT", "/admin/tenants/acme", map[string]any{"costBudget": map[string]any{"daily": 0.002, "monthly": 1}})
	key := admin(t, procs[0].URL, "POST", "/admin/tenants/acme/keys", nil)["key"].(string)

	results := burst(200, func(i int) outcome {
		return complete(t, procs[i%2].URL, key, fmt.Sprintf("request %d asks for a short echo", i), 8)
	})
	var admitted, refused int
	var sum money.Micros
	for i, r := range results {
		switch {
		case r.status == 200:
			admitted++
			c, err := money.Parse(r.cost)
			if err != nil {
				t.Errorf("request %d: cost %q", i, r.cost)
			}
			sum += c
		case r.status == 429 && r.code == "budget_exceeded":
			refused++
		default:
			t.Errorf("request %d: %d %q", i, r.status, r.code)
		}
	}
	if admitted == 0 || refused == 0 {
		t.Fatalf("admitted %d, refused %d: the budget should fit only some", admitted, refused)
	}
	st := dynamo.New(ddb.Client(), table)
	scope := dynamotest.Scope(t, st, "acme")
	now := budget.PeriodsAt(time.Now())
	mu, err := st.MonthUsage(context.Background(), scope, now.Month)
	if err != nil {
		t.Fatal(err)
	}
	day := mu.Days[now.Day]
	recs, _, err := st.Records(context.Background(), scope, budget.RecordQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var charged int64
	for _, r := range recs {
		charged += r.CostCharged
	}
	t.Logf("admitted %d, refused %d, charged %d of %d micro-dollars", admitted, refused, day.CostUsed, daily)
	if day.CostUsed > daily || day.CostUsed != int64(sum) || charged != int64(sum) || len(recs) != admitted || day.CostReserved != 0 {
		t.Errorf("charged %d (reserved %d), records %d charging %d; responses said %d for %d admitted; budget %d",
			day.CostUsed, day.CostReserved, len(recs), charged, sum, admitted, daily)
	}
}
