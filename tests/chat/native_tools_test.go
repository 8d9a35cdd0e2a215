package chat_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// TestNativeTools: the native /chat takes tools, tool results, structured output
// and reasoning in its own shapes, and a session stores and replays whole
// messages: the model's tool call, the client's tool result, the answer.
func TestNativeTools(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("native-tools", nil)
	tools := []map[string]any{{"name": "get_weather", "description": "weather", "parameters": json.RawMessage(weatherSchema)}}
	for _, m := range surfaceModels {
		t.Run(strings.SplitN(m, "/", 2)[0], func(t *testing.T) {
			sid := "s-" + strings.NewReplacer("/", "-", ".", "-", ":", "-").Replace(m)
			r := g.do("POST", "/chat", key, map[string]any{"modelId": m, "sessionId": sid, "messages": userMessage("Oslo"), "tools": tools, "toolChoice": "required"})
			var first struct {
				Message struct {
					ToolCalls []struct{ ID, Name, Arguments string } `json:"toolCalls"`
				} `json:"message"`
				FinishReason string `json:"finishReason"`
			}
			if err := json.Unmarshal(r.Body, &first); err != nil || r.Status != http.StatusOK || first.FinishReason != "tool_calls" || len(first.Message.ToolCalls) != 1 {
				t.Fatalf("round 1: %d %s", r.Status, r.Body)
			}
			call := first.Message.ToolCalls[0]
			validJSON(t, validator(t, weatherSchema), call.Arguments)

			// Round 2 sends only the tool result: the call is in the session.
			r = g.do("POST", "/chat", key, map[string]any{"modelId": m, "sessionId": sid, "stream": true, "tools": tools,
				"messages": []map[string]any{{"role": "tool", "tool_call_id": call.ID, "content": "-3C and snow"}}})
			var text strings.Builder
			var done string
			for _, ev := range parseEvents(t, r.Body) {
				switch ev.Name {
				case "delta":
					var d struct{ Text string }
					_ = json.Unmarshal([]byte(ev.Data), &d)
					text.WriteString(d.Text)
				case "done":
					done = ev.Data
				case "error":
					t.Fatalf("round 2 error: %s", ev.Data)
				}
			}
			if r.Status != http.StatusOK || !strings.Contains(text.String(), "-3C and snow") || !strings.Contains(done, "stop") {
				t.Fatalf("round 2: %d %q %s\n%s", r.Status, text.String(), done, r.Body)
			}

			// The session holds the whole exchange.
			r = g.do("GET", "/sessions/"+sid, key, nil)
			var page struct {
				Messages []struct {
					Role       string
					Content    string
					ToolCalls  []struct{ ID string } `json:"toolCalls"`
					ToolCallID string                `json:"toolCallId"`
				}
			}
			if err := json.Unmarshal(r.Body, &page); err != nil || len(page.Messages) != 4 {
				t.Fatalf("session: %d %s", r.Status, r.Body)
			}
			got := page.Messages
			if got[0].Role != "user" || got[1].Role != "assistant" || len(got[1].ToolCalls) != 1 || got[1].ToolCalls[0].ID != call.ID ||
				got[2].Role != "tool" || got[2].ToolCallID != call.ID || got[3].Role != "assistant" || !strings.Contains(got[3].Content, "-3C") {
				t.Errorf("session messages: %s", r.Body)
			}
		})
	}

	// A tool result that answers no call of the session is refused, naming it.
	r := g.do("POST", "/chat", key, map[string]any{"sessionId": "fresh", "messages": []map[string]any{{"role": "tool", "tool_call_id": "nope", "content": "x"}}})
	wantError(t, r, http.StatusBadRequest, "invalid_tool_call_id", "messages[0].tool_call_id")

	// Structured output and reasoning in the native shapes.
	r = g.do("POST", "/chat", key, map[string]any{"messages": userMessage("Ada"), "reasoningEffort": "low",
		"responseFormat": map[string]any{"type": "json_schema", "name": "person", "schema": json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`)}})
	var whole struct {
		Message struct {
			Content   string
			Reasoning []struct{ Text string }
		}
	}
	if err := json.Unmarshal(r.Body, &whole); err != nil || whole.Message.Content != `{"name":"Ada"}` || len(whole.Message.Reasoning) != 1 {
		t.Errorf("native structured output with reasoning: %d %s", r.Status, r.Body)
	}
}
