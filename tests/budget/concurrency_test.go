package budget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
)

type outcome struct {
	status int
	code   string
	total  int64
	retry  string
	id     string // x-request-id
	cost   string // x-tollgate-cost-usd
}

// complete sends one non-streaming echo request and reads what it cost.
func complete(t *testing.T, url, key, text string, maxTokens int) outcome {
	return post(t, url, key, map[string]any{
		"messages":   []map[string]string{{"role": "user", "content": text}},
		"max_tokens": maxTokens,
	})
}

// post sends one non-streaming chat request and reads what it cost.
func post(t *testing.T, url, key string, body map[string]any) outcome {
	return postTo(t, url+"/v1/chat/completions", key, body)
}

// postTo sends body to the metered route at url and reads what it cost.
func postTo(t *testing.T, url, key string, body map[string]any) outcome {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), "POST", url, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return outcome{}
	}
	defer res.Body.Close()
	b, _ = io.ReadAll(res.Body)
	var m struct {
		Usage struct {
			Total int64 `json:"total_tokens"`
		} `json:"usage"`
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("response %d is not JSON: %s", res.StatusCode, b)
	}
	return outcome{status: res.StatusCode, code: m.Error.Code, total: m.Usage.Total, retry: res.Header.Get("Retry-After"),
		id: res.Header.Get("x-request-id"), cost: res.Header.Get("x-tollgate-cost-usd")}
}

// burst runs send(0..n-1) concurrently, all released at once, and returns the
// outcomes in order.
func burst(n int, send func(i int) outcome) []outcome {
	results := make([]outcome, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i] = send(i)
		}()
	}
	close(start)
	wg.Wait()
	return results
}

func admin(t *testing.T, url, method, path string, body any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(context.Background(), method, url+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer test-admin-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(res.Body).Decode(&m)
	if res.StatusCode >= 300 {
		t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, m)
	}
	return m
}

// TestConcurrentBudgetAcrossProcesses fires 200 requests at once at two gateway
// processes for a tenant whose daily budget fits only some of them: the charged
// total never exceeds the budget and equals the sum of what the admitted requests
// reported; every refusal is a 429 budget_exceeded that cost nothing.
func TestConcurrentBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	srv := ddb
	if srv == nil {
		t.Skip("dynalite not installed")
	}
	table := srv.NewTable(t)
	urls := startProcesses(t, 2, table)
	const daily = 2000
	admin(t, urls[0], "PUT", "/admin/tenants/acme", map[string]any{"tokenBudget": map[string]any{"daily": daily, "monthly": 1_000_000}})
	key := admin(t, urls[0], "POST", "/admin/tenants/acme/keys", nil)["key"].(string)

	results := burst(200, func(i int) outcome {
		return complete(t, urls[i%2], key, fmt.Sprintf("request %d asks for a short echo", i), 8)
	})
	proveBudget(t, table, daily, results)
}

// proveBudget checks a burst's outcomes against the store: some requests were
// admitted and some refused with 429 budget_exceeded; the charged total never
// exceeds the daily budget and equals the sum of what the admitted requests
// reported; no reservation is left. It returns the admitted requests.
func proveBudget(t *testing.T, table string, daily int64, results []outcome) []outcome {
	t.Helper()
	var admitted []outcome
	var refused int
	var sum int64
	for i, r := range results {
		switch {
		case r.status == 200:
			admitted = append(admitted, r)
			sum += r.total
		case r.status == 429 && r.code == "budget_exceeded" && r.retry != "":
			refused++
		default:
			t.Errorf("request %d: status %d code %q retry %q", i, r.status, r.code, r.retry)
		}
	}
	if len(admitted) == 0 || refused == 0 {
		t.Fatalf("admitted %d, refused %d: the budget should fit only some", len(admitted), refused)
	}
	st := dynamo.New(ddb.Client(), table)
	mu, err := st.MonthUsage(context.Background(), dynamotest.Scope(t, st, "acme"), budget.PeriodsAt(time.Now()).Month)
	if err != nil {
		t.Fatal(err)
	}
	day := mu.Days[budget.PeriodsAt(time.Now()).Day]
	t.Logf("admitted %d, refused %d, charged %d of %d", len(admitted), refused, day.Used, daily)
	if day.Used > daily {
		t.Errorf("charged %d tokens, over the daily budget of %d", day.Used, daily)
	}
	if day.Used != sum {
		t.Errorf("charged %d tokens, but admitted requests reported %d", day.Used, sum)
	}
	if day.Reserved != 0 || len(mu.Reservations) != 0 {
		t.Errorf("reservations left after every request ended: %d tokens, %v", day.Reserved, mu.Reservations)
	}
	// The usage records are the requests: one each, and their charges are what
	// the budget counted.
	scope := dynamotest.Scope(t, st, "acme")
	recs, _, err := st.Records(context.Background(), scope, budget.RecordQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var charged int64
	for _, r := range recs {
		charged += r.Charged
	}
	if len(recs) != len(admitted) || charged != day.Used {
		t.Errorf("%d usage records charging %d tokens; want %d records charging %d", len(recs), charged, len(admitted), day.Used)
	}
	if st := dynamotest.Stats(t, st, scope, budget.PeriodsAt(time.Now()).Date); st.Requests != int64(len(admitted)) {
		t.Errorf("day stats = %+v, want %d requests", st, len(admitted))
	}
	return admitted
}

// requestLines returns the processes' request log lines by request id.
func requestLines(t *testing.T, procs []process) map[string]map[string]any {
	lines := map[string]map[string]any{}
	for _, p := range procs {
		for _, l := range p.Out.Lines(t) {
			if id, _ := l["requestId"].(string); l["msg"] == "request" && id != "" {
				lines[id] = l
			}
		}
	}
	return lines
}

// tinyPNG is a 1x1 PNG as a data URL.
const tinyPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// agentRequest is request i of the tool and image burst: in turn, a request
// offering tools (echo answers with a call), the round that answers a call
// with a tool result, an image prompt, and two choices of a tool call.
func agentRequest(i int) map[string]any {
	tools := []any{map[string]any{"type": "function", "function": map[string]any{
		"name": "lookup", "description": "Look a word up",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{
			"word": map[string]any{"type": "string"}, "lang": map[string]any{"type": "string", "enum": []string{"en", "fr"}}},
			"required": []string{"word", "lang"}, "additionalProperties": false},
	}}}
	user := map[string]any{"role": "user", "content": fmt.Sprintf("request %d looks a word up", i)}
	switch i % 4 {
	case 0:
		return map[string]any{"messages": []any{user}, "tools": tools, "max_tokens": 8}
	case 1:
		return map[string]any{"tools": tools, "max_tokens": 8, "messages": []any{user,
			map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call_1", "type": "function",
				"function": map[string]any{"name": "lookup", "arguments": `{"word":"gate","lang":"en"}`}}}},
			map[string]any{"role": "tool", "tool_call_id": "call_1", "content": "a movable barrier"},
		}}
	case 2:
		return map[string]any{"max_tokens": 8, "messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "text", "text": fmt.Sprintf("request %d: what is in this picture", i)},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": tinyPNG, "detail": "high"}},
		}}}}
	}
	return map[string]any{"messages": []any{user}, "tools": tools, "max_tokens": 8, "n": 2}
}

// TestConcurrentToolBudgetAcrossProcesses is the budget proof with tool
// calling, tool results, images and several choices: 200 requests at once
// across two processes, the budget never exceeded, the charge the sum of the
// reported usage, and no request charged more than it reserved (each request
// line logs both).
func TestConcurrentToolBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	if ddb == nil {
		t.Skip("dynalite not installed")
	}
	table := ddb.NewTable(t)
	procs := startLogged(t, 2, table, "info")
	const daily = 20000
	admin(t, procs[0].URL, "PUT", "/admin/tenants/acme", map[string]any{"tokenBudget": map[string]any{"daily": daily, "monthly": 1_000_000}})
	key := admin(t, procs[0].URL, "POST", "/admin/tenants/acme/keys", nil)["key"].(string)

	results := burst(200, func(i int) outcome { return post(t, procs[i%2].URL, key, agentRequest(i)) })
	admitted := proveBudget(t, table, daily, results)

	lines := requestLines(t, procs)
	kinds := map[int]int{}
	for _, r := range admitted {
		l := lines[r.id]
		if l == nil {
			t.Errorf("no request line for admitted request %s", r.id)
			continue
		}
		in, _ := l["inputTokens"].(float64)
		out, _ := l["outputTokens"].(float64)
		reserved, _ := l["reservedTokens"].(float64)
		if int64(in+out) != r.total || reserved <= 0 || in+out > reserved {
			t.Errorf("request %s: charged %v+%v (reported %d), reserved %v", r.id, in, out, r.total, reserved)
		}
	}
	for i, r := range results {
		if r.status == 200 {
			kinds[i%4]++
		}
	}
	if len(kinds) != 4 {
		t.Errorf("admitted requests by kind %v: want every kind among them", kinds)
	}
}

// TestRequestsPerMinuteAcrossProcesses: the per-minute request limit admits exactly
// the limit, across two processes, when requests arrive at once.
func TestRequestsPerMinuteAcrossProcesses(t *testing.T) {
	t.Parallel()
	srv := ddb
	if srv == nil {
		t.Skip("dynalite not installed")
	}
	urls := startProcesses(t, 2, srv.NewTable(t))
	const limit = 10 // one more request per 6 s: the burst below is far shorter
	admin(t, urls[0], "PUT", "/admin/tenants/acme", map[string]any{"rateLimit": map[string]any{"requestsPerMinute": limit}})
	key := admin(t, urls[0], "POST", "/admin/tenants/acme/keys", nil)["key"].(string)

	const n = 40
	results := burst(n, func(i int) outcome { return complete(t, urls[i%2], key, "hello", 4) })
	admitted := 0
	for i, r := range results {
		switch {
		case r.status == 200:
			admitted++
		case r.status == 429 && r.code == "rate_limit_exceeded" && r.retry != "":
		default:
			t.Errorf("request %d: status %d code %q retry %q", i, r.status, r.code, r.retry)
		}
	}
	if admitted != limit {
		t.Errorf("admitted %d of %d concurrent requests, want exactly %d", admitted, n, limit)
	}
}
