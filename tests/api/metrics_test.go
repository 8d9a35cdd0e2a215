package api_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/telemetry/telemetrytest"
)

// TestMetricsPerChatRequest: each chat request of a known tenant writes exactly
// one valid EMF line, with the values the response reported; refusals count too.
func TestMetricsPerChatRequest(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.NewTenant("acme", map[string]any{"rateLimit": map[string]any{"requestsPerMinute": 2}})
	r := g.Do("POST", "/v1/chat/completions", key, map[string]any{
		"messages": []map[string]string{{"role": "user", "content": "count these four words"}}}, "X-Amzn-Trace-Id", "Root=1-abc-001")
	if r.Status != 200 {
		t.Fatalf("chat: %d %s", r.Status, r.Body)
	}
	usage := r.JSON(t)["usage"].(map[string]any)
	g.Do("POST", "/chat", key, map[string]any{"messages": []map[string]string{{"role": "user", "content": "another request"}}, "stream": true})
	refused := g.Do("POST", "/v1/chat/completions", key, map[string]any{"messages": []map[string]string{{"role": "user", "content": "one too many"}}})
	wantError(t, refused, 429, "rate_limit_exceeded", "")
	g.Do("GET", "/v1/models", key, nil)                              // not a chat request
	g.Do("POST", "/v1/chat/completions", "tg_bad", map[string]any{}) // no tenant: no metrics

	docs, err := telemetrytest.Lines(g.Logs.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 3 {
		t.Fatalf("%d EMF lines for 3 chat requests of the tenant:\n%s", len(docs), g.Logs.String())
	}
	first := docs[0]
	num := func(d map[string]any, k string) string { return d[k].(json.Number).String() }
	if first["TenantId"] != "acme" || first["Model"] != "echo/echo-1" || first["traceId"] != "Root=1-abc-001" ||
		first["requestId"] != r.Header.Get("x-request-id") ||
		num(first, "InputTokens") != jsonNum(usage["prompt_tokens"]) || num(first, "OutputTokens") != jsonNum(usage["completion_tokens"]) ||
		num(first, "Attempts") != "1" || num(first, "RateLimited") != "0" {
		t.Errorf("first record %v, response usage %v", first, usage)
	}
	if last := docs[2]; num(last, "RateLimited") != "1" || num(last, "Attempts") != "0" || last["Model"] != "echo/echo-1" {
		t.Errorf("refused request's record %v", last)
	}

	// Every log line of the traced request carries its trace id.
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		if strings.Contains(line, r.Header.Get("x-request-id")) && !strings.Contains(line, "Root=1-abc-001") {
			t.Errorf("a line of the traced request lacks its trace id: %s", line)
		}
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
