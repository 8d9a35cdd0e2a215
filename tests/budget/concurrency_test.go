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
)

type outcome struct {
	status int
	code   string
	total  int64
	retry  string
}

// complete sends one non-streaming echo request and reads what it cost.
func complete(t *testing.T, url, key, text string, maxTokens int) outcome {
	body, _ := json.Marshal(map[string]any{
		"messages":   []map[string]string{{"role": "user", "content": text}},
		"max_tokens": maxTokens,
	})
	req, _ := http.NewRequestWithContext(context.Background(), "POST", url+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return outcome{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
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
	return outcome{status: res.StatusCode, code: m.Error.Code, total: m.Usage.Total, retry: res.Header.Get("Retry-After")}
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

	var admitted, refused int
	var sum int64
	for i, r := range results {
		switch {
		case r.status == 200:
			admitted++
			sum += r.total
		case r.status == 429 && r.code == "budget_exceeded" && r.retry != "":
			refused++
		default:
			t.Errorf("request %d: status %d code %q retry %q", i, r.status, r.code, r.retry)
		}
	}
	if admitted == 0 || refused == 0 {
		t.Fatalf("admitted %d, refused %d: the budget should fit only some", admitted, refused)
	}
	mu, err := dynamo.New(srv.Client(), table).MonthUsage(context.Background(), "acme", budget.PeriodsAt(time.Now()).Month)
	if err != nil {
		t.Fatal(err)
	}
	day := mu.Days[budget.PeriodsAt(time.Now()).Day]
	t.Logf("admitted %d, refused %d, charged %d of %d", admitted, refused, day.Used, daily)
	if day.Used > daily {
		t.Errorf("charged %d tokens, over the daily budget of %d", day.Used, daily)
	}
	if day.Used != sum {
		t.Errorf("charged %d tokens, but admitted requests reported %d", day.Used, sum)
	}
	if day.Reserved != 0 || len(mu.Reservations) != 0 {
		t.Errorf("reservations left after every request ended: %d tokens, %v", day.Reserved, mu.Reservations)
	}
	if st := mu.Stats[budget.PeriodsAt(time.Now()).Day]; st == nil || st.Requests != int64(admitted) {
		t.Errorf("day stats = %+v, want %d requests", st, admitted)
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
