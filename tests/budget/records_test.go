package budget_test

import (
	"bytes"
	"encoding/csv"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/shared/tokens"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

// TestUsageRecords: every metered request leaves one usage record, listed
// newest first for its tenant and for operators, paginated, filtered by time,
// model and user, exported as CSV; the records' sums are /usage's numbers, and
// no tenant sees another's.
func TestUsageRecords(t *testing.T) {
	t.Parallel()
	g := gatewaytest.Start(t, ddb, map[string]string{"MODELS": "echo/echo-1,echo/echo-2,echo/echo-embed-1"}, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
	other := g.NewTenant("beta", map[string]any{})
	keyID := g.Admin("GET", "/admin/tenants/acme/keys", nil).JSON(t)["data"].([]any)[0].(map[string]any)["keyId"].(string)

	start := g.Clock.Now()
	type sent struct{ route, model, user string }
	var want []sent
	do := func(path string, body map[string]any, s sent) {
		t.Helper()
		r := g.Do("POST", path, key, body)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", path, r.Status, r.Body)
		}
		want = append(want, s)
		g.Clock.Add(time.Second)
	}
	do("/v1/chat/completions", map[string]any{"model": "echo/echo-1", "user": "u-1", "max_tokens": 20,
		"messages": []map[string]any{{"role": "user", "content": "first question"}}}, sent{"chat.completions", "echo/echo-1", "u-1"})
	do("/v1/chat/completions", map[string]any{"model": "echo/echo-2", "user": "u-2", "max_tokens": 20, "stream": true,
		"messages": []map[string]any{{"role": "user", "content": "second, streamed"}}}, sent{"chat.completions", "echo/echo-2", "u-2"})
	do("/chat", map[string]any{"maxTokens": 20,
		"messages": []map[string]any{{"role": "user", "content": "third, native"}}}, sent{"chat", "echo/echo-1", ""})
	do("/v1/responses", map[string]any{"model": "echo/echo-2", "input": "fourth", "max_output_tokens": 20, "user": "u-1"},
		sent{"responses", "echo/echo-2", "u-1"})
	do("/v1/embeddings", map[string]any{"model": "echo/echo-embed-1", "input": "fifth", "user": "u-2"},
		sent{"embeddings", "echo/echo-embed-1", "u-2"})
	g.Do("POST", "/v1/chat/completions", other, map[string]any{"messages": []map[string]any{{"role": "user", "content": "beta's"}}})

	list := func(bearer, path string) map[string]any {
		t.Helper()
		r := g.Do("GET", path, bearer, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
		}
		return r.JSON(t)
	}
	all := list(key, "/usage/requests")
	data := all["data"].([]any)
	if len(data) != len(want) || all["has_more"] != false || all["object"] != "list" {
		t.Fatalf("records: %v", all)
	}
	var charged, in, out float64
	for i, d := range data {
		rec := d.(map[string]any)
		w := want[len(want)-1-i] // newest first
		if rec["route"] != w.route || rec["model"] != w.model || (rec["user"] != nil && rec["user"] != w.user) || (w.user != "" && rec["user"] != w.user) ||
			rec["keyId"] != keyID || rec["tenantId"] != "acme" || rec["outcome"] != "ok" || rec["attempts"] != 1.0 ||
			rec["object"] != "usage.request" || rec["requestId"] == "" || rec["inputTokens"].(float64) <= 0 {
			t.Errorf("record %d = %v, want %+v", i, rec, w)
		}
		at, err := time.Parse(time.RFC3339Nano, rec["time"].(string))
		if err != nil || !at.Equal(start.Add(time.Duration(len(want)-1-i)*time.Second)) {
			t.Errorf("record %d time %v, %v", i, rec["time"], err)
		}
		if rec["chargedTokens"].(float64) != rec["inputTokens"].(float64)+rec["outputTokens"].(float64) ||
			rec["reservedTokens"].(float64) < rec["chargedTokens"].(float64) {
			t.Errorf("record %d charges %v", i, rec)
		}
		charged += rec["chargedTokens"].(float64)
		in += rec["inputTokens"].(float64)
		out += rec["outputTokens"].(float64)
	}
	// The records add up to /usage: the budget's count and the day's history.
	u := list(key, "/usage?days=1")
	day := u["history"].([]any)[0].(map[string]any)
	if u["day"].(map[string]any)["used"] != charged || day["inputTokens"] != in || day["outputTokens"] != out || day["requests"] != float64(len(want)) {
		t.Errorf("/usage %v; records charge %v, input %v, output %v", u, charged, in, out)
	}

	// Pages: two, then the rest, with no record twice.
	p1 := list(key, "/usage/requests?limit=2")
	if len(p1["data"].([]any)) != 2 || p1["has_more"] != true || p1["next_cursor"] == nil {
		t.Fatalf("first page: %v", p1)
	}
	p2 := list(key, "/usage/requests?limit=2&cursor="+url.QueryEscape(p1["next_cursor"].(string)))
	p3 := list(key, "/usage/requests?limit=2&cursor="+url.QueryEscape(p2["next_cursor"].(string)))
	if len(p2["data"].([]any)) != 2 || len(p3["data"].([]any)) != 1 || p3["has_more"] != false || p3["next_cursor"] != nil {
		t.Fatalf("later pages: %v, %v", p2, p3)
	}
	seen := map[any]bool{}
	for _, p := range []map[string]any{p1, p2, p3} {
		for _, d := range p["data"].([]any) {
			seen[d.(map[string]any)["requestId"]] = true
		}
	}
	if len(seen) != len(want) {
		t.Errorf("pages held %d distinct records, want %d", len(seen), len(want))
	}

	// Filters.
	for _, tc := range []struct {
		query string
		n     int
	}{
		{"user=u-1", 2},
		{"user=u-2&model=echo/echo-2", 1},
		{"model=echo/echo-1", 2},
		{"model=echo/nothing", 0},
		{"from=" + url.QueryEscape(start.Add(2*time.Second).Format(time.RFC3339)), 3},
		{"to=" + url.QueryEscape(start.Add(2*time.Second).Format(time.RFC3339)), 2},
		{"from=2026-11-25&to=2026-11-25", 5},
		{"to=2026-11-24", 0},
		{"user=u-1&limit=1", 1},
	} {
		if got := list(key, "/usage/requests?"+tc.query)["data"].([]any); len(got) != tc.n {
			t.Errorf("?%s: %d records, want %d", tc.query, len(got), tc.n)
		}
	}
	// A filtered page resumes after its last record, not after what was read.
	f1 := list(key, "/usage/requests?user=u-1&limit=1")
	f2 := list(key, "/usage/requests?user=u-1&limit=1&cursor="+url.QueryEscape(f1["next_cursor"].(string)))
	if f1["has_more"] != true || len(f2["data"].([]any)) != 1 || f2["has_more"] != false ||
		f2["data"].([]any)[0].(map[string]any)["route"] != "chat.completions" {
		t.Errorf("filtered pages: %v then %v", f1, f2)
	}

	// CSV: every record, with a header row.
	r := g.Do("GET", "/usage/requests", key, nil, "Accept", "text/csv")
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || err != nil || len(rows) != len(want)+1 ||
		rows[0][0] != "requestId" || rows[1][0] != data[0].(map[string]any)["requestId"] {
		t.Errorf("CSV: %d %s (%v): %q", r.Status, r.Header.Get("Content-Type"), err, r.Body)
	}
	r = g.Do("GET", "/usage/requests?limit=2", key, nil, "Accept", "text/csv")
	if rows, _ := csv.NewReader(bytes.NewReader(r.Body)).ReadAll(); len(rows) != 3 || r.Header.Get("x-next-cursor") == "" {
		t.Errorf("CSV page: %q, next %q", r.Body, r.Header.Get("x-next-cursor"))
	}

	// Operators see the same; the other tenant sees only its own.
	if op := g.Admin("GET", "/admin/tenants/acme/usage/requests", nil); op.Status != 200 || len(op.JSON(t)["data"].([]any)) != len(want) {
		t.Errorf("admin: %d %s", op.Status, op.Body)
	}
	theirs := list(other, "/usage/requests")["data"].([]any)
	if len(theirs) != 1 || theirs[0].(map[string]any)["tenantId"] != "beta" {
		t.Errorf("beta's records: %v", theirs)
	}
	if got := list(other, "/usage/requests?cursor="+url.QueryEscape(p1["next_cursor"].(string)))["data"].([]any); len(got) > 1 {
		t.Errorf("acme's cursor showed beta %v", got)
	}

	// Bad input.
	for _, tc := range []struct{ query, code, param string }{
		{"limit=0", "invalid_limit", "limit"},
		{"limit=1001", "invalid_limit", "limit"},
		{"limit=x", "invalid_limit", "limit"},
		{"from=yesterday", "invalid_from", "from"},
		{"to=2026-13-01", "invalid_to", "to"},
		{"from=2026-11-25&to=2026-11-24", "invalid_time_range", "to"},
		{"cursor=%25%25", "invalid_cursor", "cursor"},
		{"cursor=" + url.QueryEscape(p1["next_cursor"].(string)) + "&to=2026-11-01", "invalid_cursor", "cursor"},
		{"user=" + strings.Repeat("u", 257), "invalid_user", "user"},
	} {
		gatewaytest.WantError(t, g.Do("GET", "/usage/requests?"+tc.query, key, nil), 400, tc.code, tc.param)
	}
	gatewaytest.WantError(t, g.Do("GET", "/usage/requests", "", nil), 401, "invalid_api_key", "")
}

// TestExactPromptCount: a request that can only reach OpenAI models is
// reserved by o200k_base's exact count of its text, not by its bytes; one
// that may fall back to a Bedrock model keeps the byte bound, which holds for
// every model it may reach, and so does a tenant whose limits a reservation
// cannot affect.
func TestExactPromptCount(t *testing.T) {
	t.Parallel()
	oa := openaitest.NewServer(t, openaitest.Script{Chunks: []string{"ok"}})
	g := gatewaytest.Start(t, ddb, map[string]string{"OPENAI_BASE_URL": oa.URL, "OPENAI_API_KEY": "upstream-key",
		"MODELS": "openai/gpt-4o-mini,openai/gpt-4o,bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"}, nil)
	text := "Summarise the release notes of the last three versions in one paragraph, please."
	budget := map[string]any{"daily": 100000}
	exact := g.NewTenant("exact", map[string]any{"tokenBudget": budget,
		"models": map[string]any{"default": "openai/gpt-4o-mini", "fallbacks": []string{"openai/gpt-4o"}}})
	mixed := g.NewTenant("mixed", map[string]any{"tokenBudget": budget, "models": map[string]any{"default": "openai/gpt-4o-mini",
		"fallbacks": []string{"bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"}}})
	// Without a budget or a tokens-per-minute limit the reservation decides
	// nothing: the tokenizer's CPU is not spent.
	free := g.NewTenant("free", map[string]any{"models": map[string]any{"default": "openai/gpt-4o-mini"}})
	reserved := func(key string) float64 {
		t.Helper()
		if r := g.Do("POST", "/v1/chat/completions", key, ask(text, 50)); r.Status != 200 {
			t.Fatalf("chat: %d %s", r.Status, r.Body)
		}
		recs := g.Do("GET", "/usage/requests", key, nil).JSON(t)["data"].([]any)
		return recs[0].(map[string]any)["reservedTokens"].(float64)
	}
	words := tokens.CounterFor("openai", "gpt-4o-mini").Count(text)
	if got, want := reserved(exact), float64(3+4+words+50); got != want {
		t.Errorf("OpenAI-only plan reserved %v, want %v (%d tokens of o200k_base text, framing, max_tokens)", got, want, words)
	}
	if got, want := reserved(mixed), float64(3+4+len(text)+50); got != want {
		t.Errorf("plan with a Bedrock fallback reserved %v, want the byte bound %v", got, want)
	}
	if got, want := reserved(free), float64(3+4+len(text)+50); got != want {
		t.Errorf("tenant without limits reserved %v, want the byte bound %v", got, want)
	}
}
