package chat_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestBadInput checks every refused request gets the right 4xx, and that none
// reaches a provider or the tenant's usage.
func TestBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MAX_REQUEST_BYTES": "2048"})
	key := g.tenant("badinput", nil)
	g.do("PUT", "/admin/tenants/badinput", adminKey, map[string]any{"name": "badinput",
		"tokenBudget": map[string]any{"daily": 100000, "monthly": 1000000}})

	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	big := `{"model":"openai/gpt-a",` + msgs + `,"user":"` + strings.Repeat("x", 4096) + `"}`
	tests := []struct {
		name, path, body string
		status           int
		code, param      string
	}{
		{"invalid JSON", "/v1/chat/completions", `{"messages":`, 400, "invalid_json", ""},
		{"not an object", "/v1/chat/completions", `[]`, 400, "invalid_json", ""},
		{"empty body", "/v1/chat/completions", ``, 400, "invalid_json", ""},
		{"trailing data", "/v1/chat/completions", `{` + msgs + `} {}`, 400, "invalid_json", ""},
		{"empty messages", "/v1/chat/completions", `{"model":"openai/gpt-a","messages":[]}`, 400, "messages_empty", "messages"},
		{"no messages", "/v1/chat/completions", `{"model":"openai/gpt-a"}`, 400, "messages_empty", "messages"},
		{"tool without name", "/v1/chat/completions", `{"model":"openai/gpt-a",` + msgs + `,"tools":[{"type":"function","function":{}}]}`, 400, "invalid_value", "tools[0].function.name"},
		{"tool parameters not an object", "/v1/chat/completions", `{"model":"openai/gpt-a",` + msgs + `,"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, 400, "invalid_schema", "tools[0].function.parameters"},
		{"tool_choice without tools", "/v1/chat/completions", `{` + msgs + `,"tool_choice":"auto"}`, 400, "invalid_value", "tool_choice"},
		{"tool_choice unknown tool", "/v1/chat/completions", `{` + msgs + `,"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, 400, "invalid_value", "tool_choice"},
		{"response_format schema not an object", "/v1/chat/completions", `{` + msgs + `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[1]}}}`, 400, "invalid_schema", "response_format.json_schema.schema"},
		{"malformed data URL", "/v1/chat/completions", `{"model":"openai/gpt-a","messages":[{"role":"user","content":[{"type":"text","text":"what is this"},{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!"}}]}]}`, 400, "invalid_image_url", "messages[0].content[1].image_url.url"},
		{"n too large", "/v1/chat/completions", `{"model":"openai/gpt-a",` + msgs + `,"n":129}`, 400, "invalid_value", "n"},
		{"tool message answering no call", "/v1/chat/completions", `{"model":"openai/gpt-a","messages":[{"role":"user","content":"hi"},{"role":"tool","content":"42","tool_call_id":"c1"}]}`, 400, "invalid_tool_call_id", "messages[1].tool_call_id"},
		{"tool message without id", "/v1/chat/completions", `{"model":"openai/gpt-a","messages":[{"role":"tool","content":"42"}]}`, 400, "invalid_value", "messages[0].tool_call_id"},
		{"assistant without content or calls", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[]}]}`, 400, "invalid_value", "messages[1].content"},
		{"tool call arguments not JSON", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{"}}]},{"role":"tool","tool_call_id":"c1","content":"x"}]}`, 400, "invalid_value", "messages[1].tool_calls[0].function.arguments"},
		{"unknown role", "/v1/chat/completions", `{"messages":[{"role":"wizard","content":"hi"}]}`, 400, "invalid_value", "messages[0].role"},
		{"unknown field", "/v1/chat/completions", `{"model":"openai/gpt-a",` + msgs + `,"temprature":0.5}`, 400, "unknown_parameter", "temprature"},
		{"wrong type", "/v1/chat/completions", `{"model":5,` + msgs + `}`, 400, "invalid_type", "model"},
		{"stream_options without stream", "/v1/chat/completions", `{` + msgs + `,"stream_options":{"include_usage":true}}`, 400, "invalid_value", "stream_options"},
		{"temperature out of range", "/v1/chat/completions", `{` + msgs + `,"temperature":2.5}`, 400, "invalid_value", "temperature"},
		{"max_tokens zero", "/v1/chat/completions", `{` + msgs + `,"max_tokens":0}`, 400, "invalid_value", "max_tokens"},
		{"five stop sequences", "/v1/chat/completions", `{` + msgs + `,"stop":["a","b","c","d","e"]}`, 400, "invalid_value", "stop"},
		{"too large", "/v1/chat/completions", big, 413, "request_too_large", ""},

		{"native invalid JSON", "/chat", `{"messages":[`, 400, "invalid_json", ""},
		{"native empty messages", "/chat", `{"modelId":"openai/gpt-a","messages":[]}`, 400, "messages_empty", "messages"},
		{"native OpenAI field", "/chat", `{"model":"openai/gpt-a",` + msgs + `}`, 400, "unknown_parameter", "model"},
		{"native bad session id", "/chat", `{"sessionId":"a b",` + msgs + `}`, 400, "invalid_session_id", "sessionId"},
		{"native maxTokens", "/chat", `{` + msgs + `,"maxTokens":-1}`, 400, "invalid_value", "maxTokens"},
		{"native topP", "/chat", `{` + msgs + `,"topP":1.5}`, 400, "invalid_value", "topP"},
		{"native bad image URL", "/chat", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]}`, 400, "invalid_image_url", "messages[0].content[0].image_url.url"},
		{"native too large", "/chat", strings.Replace(big, `"model"`, `"modelId"`, 1), 413, "request_too_large", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, g.do("POST", tt.path, key, tt.body), tt.status, tt.code, tt.param)
		})
	}

	t.Run("too large without Content-Length", func(t *testing.T) {
		t.Parallel()
		pr, pw := io.Pipe()
		go func() {
			_, _ = io.WriteString(pw, big)
			pw.Close()
		}()
		req := g.request(t.Context(), "POST", "/v1/chat/completions", key, nil)
		req.Body = pr // chunked: the limit must hold while reading
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		wantError(t, response{res.StatusCode, res.Header, b}, 413, "request_too_large", "")
	})

	t.Run("bad key", func(t *testing.T) {
		t.Parallel()
		body := `{"model":"openai/gpt-a",` + msgs + `}`
		for name, k := range map[string]string{
			"missing":   "",
			"malformed": "sk-not-a-tollgate-key",
			"unknown":   "tg_" + strings.Repeat("A", 43),
		} {
			for _, path := range []string{"/v1/chat/completions", "/chat", "/v1/models"} {
				method, b := "POST", any(body)
				if path == "/v1/models" {
					method, b = "GET", nil
				}
				r := g.do(method, path, k, b)
				if r.Status != 401 {
					t.Errorf("%s key on %s: status %d, want 401", name, path, r.Status)
					continue
				}
				wantError(t, r, 401, "invalid_api_key", "")
			}
		}
		// Without Bearer.
		wantError(t, g.do("POST", "/v1/chat/completions", "", body, "Authorization", key), 401, "invalid_api_key", "")
	})

	t.Cleanup(func() {
		if n := len(g.OpenAI.Requests()) + len(g.Bedrock.Requests()); n != 0 {
			t.Errorf("refused requests reached a provider %d times", n)
		}
		r := g.do("GET", "/usage", key, nil)
		var u struct {
			Day struct {
				Used, Reserved int64
			} `json:"day"`
		}
		if err := json.Unmarshal(r.Body, &u); r.Status != 200 || err != nil {
			t.Fatalf("GET /usage: %d %s", r.Status, r.Body)
		}
		if u.Day.Used != 0 || u.Day.Reserved != 0 {
			t.Errorf("refused requests changed the tenant's usage: %s", r.Body)
		}
	})
}
