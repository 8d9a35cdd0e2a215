package chat_test

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// TestRequestLog checks the one structured line per chat request, the lines of
// failed attempts, and that neither keys nor conversation content reach the log.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": catalog + ",openai/gpt-d"})
	key := g.tenant("logged", map[string]any{"default": "openai/gpt-a", "fallbacks": []string{"openai/gpt-b"}})
	g.OpenAI.Set("gpt-a", openaitest.Script{Status: 429})
	g.OpenAI.Set("gpt-c", openaitest.Script{Status: 401, ErrorMessage: "Incorrect API key provided: " + upstreamKey})
	// A validation error that quotes the prompt, as providers' do: the client's
	// to read, not the log's.
	const quoted = "Invalid 'messages[0].content': 'zebra-marker-7731 confidential words' is not allowed"
	g.OpenAI.Set("gpt-d", openaitest.Script{Status: 400, ErrorMessage: quoted})

	const marker = "zebra-marker-7731 confidential words"
	const trace = "Root=1-6745a1b2-0123456789abcdef01234567"
	msgs := userMessage(marker)
	requests := []struct {
		name, path string
		body       map[string]any
		status     int
		model      string
		attempts   float64
		outcome    string
	}{
		{"fallback", "/v1/chat/completions", map[string]any{"messages": msgs}, 200, "openai/gpt-b", 2, "ok"},
		{"fallback streamed", "/v1/chat/completions", map[string]any{"messages": msgs, "stream": true,
			"stream_options": map[string]any{"include_usage": true}}, 200, "openai/gpt-b", 2, "ok"},
		{"native echo streamed", "/chat", map[string]any{"modelId": "echo/echo-1", "messages": msgs, "stream": true}, 200, "echo/echo-1", 1, "ok"},
		{"native bedrock", "/chat", map[string]any{"modelId": bedrockModel, "messages": msgs}, 200, bedrockModel, 1, "ok"},
		{"provider refuses our key", "/v1/chat/completions", map[string]any{"model": "openai/gpt-c", "messages": msgs}, 502, "openai/gpt-c", 1, "provider_error"},
		{"provider quotes the prompt", "/v1/chat/completions", map[string]any{"model": "openai/gpt-d", "messages": msgs}, 400, "openai/gpt-d", 1, "provider_error"},
	}
	ids := map[string]string{} // request id -> request name
	for _, rq := range requests {
		r := g.do("POST", rq.path, key, rq.body, "X-Amzn-Trace-Id", trace)
		if r.Status != rq.status {
			t.Fatalf("%s: status %d, want %d: %s", rq.name, r.Status, rq.status, r.Body)
		}
		ids[r.Header.Get("x-request-id")] = rq.name
		if strings.Contains(string(r.Body), upstreamKey) {
			t.Errorf("%s: the gateway's provider key reached the client: %s", rq.name, r.Body)
		}
		if rq.model == "openai/gpt-d" && !strings.Contains(string(r.Body), quoted) {
			t.Errorf("%s: the provider's message did not reach the client: %s", rq.name, r.Body)
		}
	}
	rejected := g.do("POST", "/v1/chat/completions", key, `{"messages":[{"role":"user","content":"`+marker+`"}],"n":0}`, "X-Amzn-Trace-Id", trace)
	ids[rejected.Header.Get("x-request-id")] = "rejected"

	lines := g.Logs.WaitLines(t, len(requests)+1, waitTimeout, chatLine)
	byName := map[string]map[string]any{}
	for _, l := range lines {
		id, _ := l["requestId"].(string)
		name, ok := ids[id]
		if !ok {
			t.Errorf("request line with an unknown requestId: %v", l)
			continue
		}
		if _, dup := byName[name]; dup {
			t.Errorf("%s: more than one request line", name)
		}
		byName[name] = l
	}
	for _, rq := range requests {
		l := byName[rq.name]
		if l == nil {
			t.Errorf("%s: no request line", rq.name)
			continue
		}
		for field, want := range map[string]any{
			"tenantId": "logged", "traceId": trace, "model": rq.model, "attempts": rq.attempts,
			"outcome": rq.outcome, "status": float64(rq.status), "level": "INFO",
		} {
			if l[field] != want {
				t.Errorf("%s: %s = %v, want %v\n%v", rq.name, field, l[field], want, l)
			}
		}
		for _, f := range []string{"inputTokens", "outputTokens", "timeToFirstTokenMs", "latencyMs"} {
			if _, ok := l[f].(float64); !ok {
				t.Errorf("%s: %s = %v, want a number\n%v", rq.name, f, l[f], l)
			}
		}
		if rq.outcome == "ok" && (l["inputTokens"] == 0.0 || l["outputTokens"] == 0.0) {
			t.Errorf("%s: no tokens counted: %v", rq.name, l)
		}
	}
	if l := byName["rejected"]; l == nil || l["outcome"] != "rejected" || l["status"] != 400.0 || l["tenantId"] != "logged" {
		t.Errorf("rejected request line = %v", l)
	}

	// One "attempt failed" line per failed attempt, saying why.
	failed := g.Logs.WaitLines(t, 4, waitTimeout, func(m map[string]any) bool { return m["msg"] == "attempt failed" })
	reasons := map[string]int{}
	for _, l := range failed {
		reasons[l["model"].(string)+" "+l["reason"].(string)]++
		if l["level"] != "WARN" || l["attempt"] != 1.0 {
			t.Errorf("attempt failed line %v", l)
		}
	}
	if reasons["openai/gpt-a rate_limited"] != 2 || reasons["openai/gpt-c auth"] != 1 || reasons["openai/gpt-d bad_request"] != 1 || len(failed) != 4 {
		t.Errorf("attempt failed lines by model and reason = %v, want gpt-a rate_limited twice, gpt-c and gpt-d once", reasons)
	}
	for _, l := range failed {
		if l["model"] == "openai/gpt-d" && !strings.Contains(l["err"].(string), "[provider message withheld, ") {
			t.Errorf("the attempt line does not say the provider's message was withheld: %v", l)
		}
	}
	// Per-attempt lines carry the request's id, so they join its request line.
	for _, l := range failed {
		if id, _ := l["requestId"].(string); ids[id] == "" {
			t.Errorf("attempt failed line with requestId %q, want the x-request-id of its request", id)
		}
	}

	log := g.Logs.String()
	for what, secret := range map[string]string{
		"the tenant's API key": key, "the provider key": upstreamKey, "the admin key": adminKey,
		"message content": "zebra-marker", "answer content": "confidential",
	} {
		if strings.Contains(log, secret) {
			t.Errorf("the log contains %s (%q)", what, secret)
		}
	}
}
