package chat_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// nativeUsage is the usage object of /chat.
type nativeUsage struct {
	InputTokens  int64 `json:"inputTokens"`
	OutputTokens int64 `json:"outputTokens"`
	TotalTokens  int64 `json:"totalTokens"`
	Estimated    bool  `json:"estimated"`
}

// usageEvent is the data of /chat's usage event.
type usageEvent struct {
	nativeUsage
	Model              string   `json:"model"`
	LatencyMs          *float64 `json:"latencyMs"`
	TimeToFirstTokenMs *float64 `json:"timeToFirstTokenMs"`
	Attempts           int      `json:"attempts"`
	FinishReason       string   `json:"finishReason"`
}

func decodeUsageEvent(t *testing.T, data string) usageEvent {
	t.Helper()
	var u usageEvent
	if err := json.Unmarshal([]byte(data), &u); err != nil {
		t.Fatalf("usage event %q: %v", data, err)
	}
	if u.LatencyMs == nil || u.TimeToFirstTokenMs == nil || *u.LatencyMs < *u.TimeToFirstTokenMs || *u.TimeToFirstTokenMs < 0 {
		t.Errorf("usage event %s: want latencyMs >= timeToFirstTokenMs >= 0", data)
	}
	return u
}

func TestNative(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("native", nil)

	for _, tt := range answers {
		body := map[string]any{"modelId": tt.model, "messages": userMessage("Hello big world")}
		if tt.maxTokens > 0 {
			body["maxTokens"] = tt.maxTokens
		}
		want := nativeUsage{tt.in, tt.out, tt.in + tt.out, false}

		t.Run("whole/"+tt.name(), func(t *testing.T) {
			t.Parallel()
			r := g.do("POST", "/chat", key, body)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(r.Body, &m); err != nil {
				t.Fatalf("body %s: %v", r.Body, err)
			}
			for _, f := range []string{"id", "model", "message", "usage", "latencyMs", "attempts"} {
				if _, ok := m[f]; !ok {
					t.Errorf("response lacks %q: %s", f, r.Body)
				}
			}
			var got struct {
				ID      string `json:"id"`
				Model   string `json:"model"`
				Message struct {
					Role    string `json:"role"`
					Content string `json:"content"`
				} `json:"message"`
				Usage        nativeUsage `json:"usage"`
				LatencyMs    float64     `json:"latencyMs"`
				Attempts     int         `json:"attempts"`
				FinishReason string      `json:"finishReason"`
			}
			if err := json.Unmarshal(r.Body, &got); err != nil {
				t.Fatal(err)
			}
			var usageKeys map[string]any
			_ = json.Unmarshal(m["usage"], &usageKeys)
			if diff := cmp.Diff([]string{"estimated", "inputTokens", "outputTokens", "totalTokens"}, sortedKeys(usageKeys)); diff != "" {
				t.Errorf("usage fields (-want +got):\n%s", diff)
			}
			if got.ID == "" || got.Model != tt.model || got.Message.Role != "assistant" || got.Message.Content != tt.text ||
				got.Attempts != 1 || got.LatencyMs < 0 {
				t.Errorf("response = %s", r.Body)
			}
			if got.Usage != want {
				t.Errorf("usage = %+v, want %+v", got.Usage, want)
			}
			if got.FinishReason != tt.finish {
				t.Errorf("finishReason = %q, want %q", got.FinishReason, tt.finish)
			}
			wantHeaders(t, r.Header, tt.model, "request", "1")
		})

		t.Run("stream/"+tt.name(), func(t *testing.T) {
			t.Parallel()
			sb := map[string]any{"stream": true}
			for k, v := range body {
				sb[k] = v
			}
			r := g.do("POST", "/chat", key, sb)
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type = %q", ct)
			}
			wantHeaders(t, r.Header, tt.model, "request", "1")
			evs := parseEvents(t, r.Body)
			var names []string
			var text string
			for _, ev := range evs {
				names = append(names, ev.Name)
				if ev.Name == "delta" {
					var d struct {
						Text string `json:"text"`
					}
					if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
						t.Fatalf("delta %q: %v", ev.Data, err)
					}
					text += d.Text
				}
			}
			if n := len(names); n < 3 || names[n-2] != "usage" || names[n-1] != "done" ||
				slices.ContainsFunc(names[:n-2], func(s string) bool { return s != "delta" }) {
				t.Fatalf("events = %q, want delta..., usage, done", names)
			}
			if text != tt.text {
				t.Errorf("text = %q, want %q", text, tt.text)
			}
			u := decodeUsageEvent(t, evs[len(evs)-2].Data)
			if u.nativeUsage != want || u.Model != tt.model || u.Attempts != 1 || u.FinishReason != "" {
				t.Errorf("usage event = %s, want %+v for %s, 1 attempt", evs[len(evs)-2].Data, want, tt.model)
			}
			var done struct {
				FinishReason string `json:"finishReason"`
			}
			if err := json.Unmarshal([]byte(evs[len(evs)-1].Data), &done); err != nil || done.FinishReason != tt.finish {
				t.Errorf("done = %s, want finishReason %q", evs[len(evs)-1].Data, tt.finish)
			}
			if strings.Contains(string(r.Body), "[DONE]") {
				t.Errorf("native stream has OpenAI's [DONE]: %s", r.Body)
			}
		})
	}
}

func sortedKeys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
