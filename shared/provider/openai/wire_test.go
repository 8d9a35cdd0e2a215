package openai_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// capture serves an empty stream and keeps the body of the last request.
func capture(t *testing.T) (*httptest.Server, *[]byte) {
	t.Helper()
	var body []byte
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(ts.Close)
	return ts, &body
}

func ptr[T any](v T) *T { return &v }

// TestRequestBody checks the body sent for every request field and part kind.
func TestRequestBody(t *testing.T) {
	user := chat.TextMessage(chat.RoleUser, "hi")
	png := []byte("\x89PNG\r\n\x1a\n....")
	tests := []struct {
		name string
		opts []openai.Option
		req  chat.Request
		want string // the body without model, stream and stream_options
	}{
		{
			name: "text messages, name",
			req: chat.Request{Messages: []chat.Message{
				chat.TextMessage(chat.RoleSystem, "sys"),
				{Role: chat.RoleUser, Name: "ada", Parts: []chat.Part{chat.TextPart("hi"), {Kind: chat.PartCachePoint}}},
			}},
			want: `{"messages":[{"role":"system","content":"sys"},{"role":"user","content":"hi","name":"ada"}]}`,
		},
		{
			name: "content parts: text and images",
			req: chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{
				chat.TextPart("look"),
				{Kind: chat.PartImage, Image: &chat.Image{URL: "https://example.com/a.png", Detail: "low"}},
				{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/png", Data: png}},
				{Kind: chat.PartImage, Image: &chat.Image{Data: png}}, // type sniffed
				{Kind: chat.PartCachePoint},
				chat.TextPart("and this"),
			}}}},
			want: `{"messages":[{"role":"user","content":[
				{"type":"text","text":"look"},
				{"type":"image_url","image_url":{"url":"https://example.com/a.png","detail":"low"}},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgouLi4u"}},
				{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgouLi4u"}},
				{"type":"text","text":"and this"}]}]}`,
		},
		{
			name: "system message of two text parts",
			req: chat.Request{Messages: []chat.Message{
				{Role: chat.RoleSystem, Parts: []chat.Part{chat.TextPart("a"), chat.TextPart("b")}},
				user,
			}},
			want: `{"messages":[{"role":"system","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},{"role":"user","content":"hi"}]}`,
		},
		{
			name: "tool calls and results",
			req: chat.Request{Messages: []chat.Message{
				user,
				{Role: chat.RoleAssistant, Parts: []chat.Part{
					{Kind: chat.PartReasoning, Text: "thinking", Signature: "sig"},
					{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}},
					{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "call_2", Name: "get_time", Arguments: `{}`}},
				}},
				{Role: chat.RoleTool, Parts: []chat.Part{
					{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{CallID: "call_1", Parts: []chat.Part{chat.TextPart("sunny")}}},
					{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{CallID: "call_2", IsError: true, Parts: []chat.Part{
						chat.TextPart("no "), {Kind: chat.PartImage, Image: &chat.Image{URL: "https://example.com/x.png"}}, chat.TextPart("clock"),
					}}},
				}},
				{Role: chat.RoleAssistant, Parts: []chat.Part{chat.TextPart("Sunny, "), chat.TextPart("no clock."),
					{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "call_3", Name: "log", Arguments: ""}}}},
				{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.PartReasoning, Text: "only reasoning"}}},
			}},
			want: `{"messages":[{"role":"user","content":"hi"},
				{"role":"assistant","content":null,"tool_calls":[
					{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"call_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"call_1","content":"sunny"},
				{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"no "},{"type":"text","text":"clock"}]},
				{"role":"assistant","content":[{"type":"text","text":"Sunny, "},{"type":"text","text":"no clock."}],
					"tool_calls":[{"id":"call_3","type":"function","function":{"name":"log","arguments":""}}]},
				{"role":"assistant","content":""}]}`,
		},
		{
			name: "tools, named tool choice, parallel calls",
			req: chat.Request{
				Messages: []chat.Message{user},
				Tools: []chat.Tool{
					{Name: "get_weather", Description: "Weather by city", Parameters: []byte(`{"type":"object","properties":{"city":{"type":"string"}}}`), Strict: true, CachePoint: true},
					{Name: "get_time"},
				},
				ToolChoice:        chat.ToolChoice{Mode: chat.ToolChoiceNamed, Name: "get_time"},
				ParallelToolCalls: ptr(false),
			},
			want: `{"messages":[{"role":"user","content":"hi"}],
				"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather by city",
					"parameters":{"type":"object","properties":{"city":{"type":"string"}}},"strict":true}},
					{"type":"function","function":{"name":"get_time"}}],
				"tool_choice":{"type":"function","function":{"name":"get_time"}},
				"parallel_tool_calls":false}`,
		},
		{
			name: "tool choice auto",
			req:  chat.Request{Messages: []chat.Message{user}, Tools: []chat.Tool{{Name: "t"}}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceAuto}},
			want: `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"t"}}],"tool_choice":"auto"}`,
		},
		{
			name: "tool choice none",
			req:  chat.Request{Messages: []chat.Message{user}, Tools: []chat.Tool{{Name: "t"}}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceNone}},
			want: `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"t"}}],"tool_choice":"none"}`,
		},
		{
			name: "tool choice required",
			req:  chat.Request{Messages: []chat.Message{user}, Tools: []chat.Tool{{Name: "t"}}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceRequired}},
			want: `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"t"}}],"tool_choice":"required"}`,
		},
		{
			name: "response format text is omitted",
			req:  chat.Request{Messages: []chat.Message{user}, ResponseFormat: chat.ResponseFormat{Type: chat.FormatText}},
			want: `{"messages":[{"role":"user","content":"hi"}]}`,
		},
		{
			name: "response format json_object",
			req:  chat.Request{Messages: []chat.Message{user}, ResponseFormat: chat.ResponseFormat{Type: chat.FormatJSONObject}},
			want: `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}`,
		},
		{
			name: "response format json_schema",
			req: chat.Request{Messages: []chat.Message{user}, ResponseFormat: chat.ResponseFormat{
				Type: chat.FormatJSONSchema, Name: "answer", Description: "An answer", Schema: []byte(`{"type":"object"}`), Strict: true,
			}},
			want: `{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema",
				"json_schema":{"name":"answer","description":"An answer","schema":{"type":"object"},"strict":true}}}`,
		},
		{
			name: "sampling and the rest",
			req: chat.Request{
				Messages:         []chat.Message{user},
				ReasoningEffort:  "low",
				MaxTokens:        100,
				Temperature:      ptr(0.0),
				TopP:             ptr(0.5),
				Stop:             []string{"END"},
				Seed:             ptr(int64(42)),
				PresencePenalty:  ptr(0.25),
				FrequencyPenalty: ptr(-0.5),
				LogitBias:        map[string]int{"50256": -100},
				Logprobs:         true,
				TopLogprobs:      ptr(3),
				N:                2,
				User:             "tenant-42",
				Metadata:         map[string]string{"run": "7"},
				Store:            ptr(false),
				ServiceTier:      "flex",
				Prediction:       "the old text",
			},
			want: `{"messages":[{"role":"user","content":"hi"}],"reasoning_effort":"low","max_tokens":100,
				"temperature":0,"top_p":0.5,"stop":["END"],"seed":42,"presence_penalty":0.25,"frequency_penalty":-0.5,
				"logit_bias":{"50256":-100},"logprobs":true,"top_logprobs":3,"n":2,"user":"tenant-42",
				"metadata":{"run":"7"},"store":false,"service_tier":"flex",
				"prediction":{"type":"content","content":"the old text"}}`,
		},
		{
			name: "max_completion_tokens",
			opts: []openai.Option{openai.MaxCompletionTokens()},
			req:  chat.Request{Messages: []chat.Message{user}, MaxTokens: 7},
			want: `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":7}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, got := capture(t)
			req := tt.req
			req.Model = "gpt-test"
			s, err := openai.New(ts.Client(), ts.URL, "", tt.opts...).Stream(t.Context(), &req)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			var gotBody, want map[string]any
			if err := json.Unmarshal(*got, &gotBody); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("bad want: %v", err)
			}
			want["model"], want["stream"] = "gpt-test", true
			want["stream_options"] = map[string]any{"include_usage": true}
			if diff := cmp.Diff(want, gotBody); diff != "" {
				t.Errorf("request body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequestRawJSON checks that tool parameters and schemas go out as they
// are, keys in their order, not decoded and encoded again.
func TestRequestRawJSON(t *testing.T) {
	ts, got := capture(t)
	params := `{"type":"object","required":["b","a"],"properties":{"b":{"type":"string"},"a":{"type":"integer"}}}`
	sch := `{"type":"object","properties":{"z":{"type":"string"},"y":{"type":"number"}}}`
	req := &chat.Request{
		Model:          "m",
		Messages:       []chat.Message{chat.TextMessage(chat.RoleUser, "hi")},
		Tools:          []chat.Tool{{Name: "f", Parameters: []byte(params)}},
		ResponseFormat: chat.ResponseFormat{Type: chat.FormatJSONSchema, Name: "s", Schema: []byte(sch)},
	}
	s, err := openai.New(ts.Client(), ts.URL, "").Stream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, raw := range []string{`"parameters":` + params, `"schema":` + sch} {
		if !strings.Contains(string(*got), raw) {
			t.Errorf("body %s does not contain %s", *got, raw)
		}
	}

	// Invalid JSON is a bad request, and nothing is sent.
	*got = nil
	req.Tools[0].Parameters = []byte(`{"type":`)
	_, err = openai.New(ts.Client(), ts.URL, "").Stream(t.Context(), req)
	if pe := providerError(t, err); pe.Class != chat.ErrBadRequest {
		t.Errorf("error = %v, want a bad request", err)
	}
	if *got != nil {
		t.Errorf("a request was sent: %s", *got)
	}
}

// collect reads s to io.EOF and returns every chunk.
func collect(t *testing.T, s chat.Stream) []chat.Chunk {
	t.Helper()
	defer s.Close()
	var out []chat.Chunk
	for {
		c, err := s.Next(t.Context())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("Next error = %v after %+v", err, out)
		}
		out = append(out, c)
	}
}

func toolDelta(choice, index int, id, name, args string) chat.Chunk {
	return chat.Chunk{Choice: choice, ToolCall: &chat.ToolCallDelta{Index: index, ID: id, Name: name, Arguments: args}}
}

// TestStreamDeltas parses answers with tool calls, reasoning, refusals,
// logprobs and several choices, as upstreams send them.
func TestStreamDeltas(t *testing.T) {
	tests := []struct {
		name string
		body string // data lines, without "data: " and the final [DONE]
		want []chat.Chunk
	}{
		{
			name: "two parallel tool calls, as api.openai.com sends them",
			body: `{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}
{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"logprobs":null,"finish_reason":null}],"usage":null}
{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}
{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}
{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}
{"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}
{"choices":[],"usage":{"prompt_tokens":80,"completion_tokens":40,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":12,"audio_tokens":0}}}`,
			want: []chat.Chunk{
				toolDelta(0, 0, "call_a", "get_weather", ""),
				toolDelta(0, 0, "", "", `{"ci`),
				toolDelta(0, 0, "", "", `ty":"Paris"}`),
				toolDelta(0, 1, "call_b", "get_time", ""),
				toolDelta(0, 1, "", "", `{}`),
				{FinishReason: chat.FinishToolCalls, Usage: &chat.Usage{InputTokens: 80, OutputTokens: 40, CacheReadTokens: 64, ReasoningTokens: 12}},
			},
		},
		{
			name: "indexes from 1 with a gap, ids and names repeated, a whole call in one chunk",
			body: `{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"a","type":"function","function":{"name":"f","arguments":"{"}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"a","type":"function","function":{"name":"f","arguments":"}"}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"index":3,"id":"b","type":"function","function":{"name":"g","arguments":"{\"x\":1}"}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"index":1,"id":"a","function":{"name":"f","arguments":""}}]}}]}
{"choices":[{"delta":{},"finish_reason":"function_call"}]}`,
			want: []chat.Chunk{
				toolDelta(0, 0, "a", "f", "{"),
				toolDelta(0, 0, "", "", "}"),
				toolDelta(0, 1, "b", "g", `{"x":1}`),
				{FinishReason: chat.FinishToolCalls},
			},
		},
		{
			name: "every call numbered 0, told apart by id; fragments without an index",
			body: `{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{"}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"}"}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"id":"c","function":{"name":"h","arguments":""}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"[]"}}]}}]}
{"choices":[{"delta":{"tool_calls":[{"id":"a","function":{"arguments":" "}}]}}]}
{"choices":[{"delta":{},"finish_reason":"tool_calls"}]}`,
			want: []chat.Chunk{
				toolDelta(0, 0, "a", "f", "{}"),
				toolDelta(0, 1, "b", "g", "{"),
				toolDelta(0, 1, "", "", "}"),
				toolDelta(0, 2, "c", "h", ""),
				toolDelta(0, 2, "", "", "[]"),
				toolDelta(0, 0, "", "", " "),
				{FinishReason: chat.FinishToolCalls},
			},
		},
		{
			name: "text and a tool call in one delta",
			body: `{"choices":[{"index":0,"delta":{"content":"Let me check.","tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}`,
			want: []chat.Chunk{
				{Text: "Let me check."},
				toolDelta(0, 0, "a", "f", "{}"),
				{FinishReason: chat.FinishToolCalls},
			},
		},
		{
			name: "reasoning, DeepSeek's and OpenRouter's",
			body: `{"choices":[{"delta":{"role":"assistant","content":null,"reasoning_content":"Think"}}]}
{"choices":[{"delta":{"content":null,"reasoning":"ing."}}]}
{"choices":[{"delta":{"content":"Hi","reasoning_content":"more","reasoning":"more"}}]}
{"choices":[{"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":9,"prompt_cache_hit_tokens":2,"completion_tokens_details":{"reasoning_tokens":6}}}`,
			want: []chat.Chunk{
				{Reasoning: "Think"},
				{Reasoning: "ing."},
				{Reasoning: "more"},
				{Text: "Hi"},
				{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 3, OutputTokens: 9, CacheReadTokens: 2, ReasoningTokens: 6}},
			},
		},
		{
			name: "refusal",
			body: `{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"refusal":""},"logprobs":null,"finish_reason":null}]}
{"choices":[{"index":0,"delta":{"refusal":"I can't"},"logprobs":null,"finish_reason":null}]}
{"choices":[{"index":0,"delta":{"refusal":" help."},"logprobs":null,"finish_reason":null}]}
{"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
			want: []chat.Chunk{{Refusal: "I can't"}, {Refusal: " help."}, {FinishReason: "stop"}},
		},
		{
			name: "logprobs",
			body: `{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":{"content":[],"refusal":null},"finish_reason":null}]}
{"choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}],"refusal":null},"finish_reason":null}]}
{"choices":[{"index":0,"delta":{"refusal":"No"},"logprobs":{"content":null,"refusal":[{"token":"No","logprob":-1,"bytes":[78,111],"top_logprobs":[]}]},"finish_reason":null}]}
{"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`,
			want: []chat.Chunk{
				{Logprobs: `{"content":[],"refusal":null}`},
				{Text: "Hi", Logprobs: `{"content":[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}],"refusal":null}`},
				{Refusal: "No", Logprobs: `{"content":null,"refusal":[{"token":"No","logprob":-1,"bytes":[78,111],"top_logprobs":[]}]}`},
				{FinishReason: "stop"},
			},
		},
		{
			name: "two choices, interleaved and in one chunk",
			body: `{"choices":[{"index":0,"delta":{"role":"assistant","content":""}},{"index":1,"delta":{"role":"assistant","content":""}}]}
{"choices":[{"index":1,"delta":{"content":"B"}}]}
{"choices":[{"index":0,"delta":{"content":"A"}},{"index":1,"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"f","arguments":"{}"}}]}}]}
{"choices":[{"index":1,"delta":{},"finish_reason":"tool_calls"}]}
{"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}
{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":4}}`,
			want: []chat.Chunk{
				{Choice: 1, Text: "B"},
				{Choice: 0, Text: "A"},
				toolDelta(1, 0, "b", "f", "{}"),
				{Choice: 0, FinishReason: chat.FinishLength},
				{Choice: 1, FinishReason: chat.FinishToolCalls, Usage: &chat.Usage{InputTokens: 5, OutputTokens: 4}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			for line := range strings.Lines(tt.body) {
				b.WriteString("data: " + strings.TrimSuffix(line, "\n") + "\n\n")
			}
			b.WriteString("data: [DONE]\n\n")
			srv := openaitest.NewServer(t, openaitest.Script{Body: b.String()})
			s, err := newClient(srv).Stream(t.Context(), hello("m"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, collect(t, s)); diff != "" {
				t.Errorf("chunks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStreamMalformedDeltas(t *testing.T) {
	for _, body := range []string{
		`{"choices":[{"index":-1,"delta":{"content":"a"}}]}`,
		`{"choices":[{"index":128,"delta":{"content":"a"}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":"0","function":{"arguments":"a"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":[{"index":1.5,"function":{"arguments":"a"}}]}}]}`,
		`{"choices":[{"delta":{"tool_calls":{}}}]}`,
		`{"choices":[{"logprobs":[1,}]}`,
	} {
		srv := openaitest.NewServer(t, openaitest.Script{Body: "data: " + body + "\n\ndata: [DONE]\n\n"})
		s, err := newClient(srv).Stream(t.Context(), hello("m"))
		if err != nil {
			t.Fatal(err)
		}
		got := drain(t, t.Context(), s)
		s.Close()
		if pe := providerError(t, got.Err); pe.Class != chat.ErrUnavailable || pe.Message != "malformed chunk" {
			t.Errorf("%s: error = %v, want a malformed chunk", body, got.Err)
		}
	}
}

// TestStreamFromFake streams the fake's tool calls, reasoning, refusals,
// logprobs and choices, end to end.
func TestStreamFromFake(t *testing.T) {
	weather := `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`
	tools := []chat.Tool{{Name: "get_weather", Parameters: []byte(weather)}, {Name: "get_time"}}
	tests := []struct {
		name   string
		script openaitest.Script
		req    func(*chat.Request)
		want   []chat.Chunk // deltas, merged per choice and tool call
		last   []chat.Chunk
	}{
		{
			name:   "scripted tool calls",
			script: openaitest.Script{ToolCalls: []openaitest.ToolCall{{ID: "call_w", Name: "get_weather", Arguments: `{"city":"Paris"}`}, {Name: "get_time", Arguments: "{}"}}},
			want:   []chat.Chunk{toolDelta(0, 0, "call_w", "get_weather", `{"city":"Paris"}`), toolDelta(0, 1, "call_1_1", "get_time", "{}")},
			// A header and 3 fragments, a header and 1.
			last: []chat.Chunk{{FinishReason: "tool_calls", Usage: &chat.Usage{InputTokens: 5, OutputTokens: 6}}},
		},
		{
			name: "auto: two parallel calls",
			req:  func(r *chat.Request) { r.Tools = tools },
			want: []chat.Chunk{toolDelta(0, 0, "call_1_0", "get_weather", `{"city":"Hello big world"}`), toolDelta(0, 1, "call_1_1", "get_time", "{}")},
			last: []chat.Chunk{{FinishReason: "tool_calls", Usage: &chat.Usage{InputTokens: 5, OutputTokens: 8}}},
		},
		{
			name:   "reasoning and usage details",
			script: openaitest.Script{Reasoning: []string{"Hm", "m."}, Chunks: []string{"ok"}, Usage: &chat.Usage{InputTokens: 9, OutputTokens: 5, CacheReadTokens: 4, ReasoningTokens: 2}},
			want:   []chat.Chunk{{Reasoning: "Hmm."}, {Text: "ok"}},
			last:   []chat.Chunk{{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 9, OutputTokens: 5, CacheReadTokens: 4, ReasoningTokens: 2}}},
		},
		{
			name:   "refusal",
			script: openaitest.Script{Refusal: "I can't help with that."},
			want:   []chat.Chunk{{Refusal: "I can't help with that."}},
			last:   []chat.Chunk{{FinishReason: "stop", Usage: &chat.Usage{InputTokens: 5, OutputTokens: 5}}},
		},
		{
			name: "two choices",
			req:  func(r *chat.Request) { r.N = 2 },
			want: []chat.Chunk{{Text: "Hello big world"}, {Choice: 1, Text: "Hello big world"}},
			last: []chat.Chunk{{FinishReason: "stop"}, {Choice: 1, FinishReason: "stop", Usage: &chat.Usage{InputTokens: 5, OutputTokens: 6}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.script)
			req := hello("m")
			if tt.req != nil {
				tt.req(req)
			}
			s, err := newClient(srv).Stream(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			got, last := merge(t, collect(t, s))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("deltas mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.last, last); diff != "" {
				t.Errorf("last chunks mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// merge joins consecutive deltas of the same kind, choice and tool call, and
// splits off the last chunks. It checks the tool-call contract on the way:
// dense indexes, ID and Name on the first fragment only, and that arguments
// came in several fragments where they are long.
func merge(t *testing.T, chunks []chat.Chunk) (deltas, last []chat.Chunk) {
	t.Helper()
	seen := map[[2]int]int{} // (choice, index) -> fragments
	calls := map[int]int{}   // choice -> calls
	for _, c := range chunks {
		if !isDelta(c) {
			last = append(last, c)
			continue
		}
		if len(last) > 0 {
			t.Fatalf("delta %+v after a last chunk", c)
		}
		if tc := c.ToolCall; tc != nil {
			k := [2]int{c.Choice, tc.Index}
			if seen[k] == 0 {
				if tc.Index != calls[c.Choice] || tc.ID == "" || tc.Name == "" {
					t.Errorf("first fragment %+v: want index %d, an ID and a name", *tc, calls[c.Choice])
				}
				calls[c.Choice]++
			} else if tc.ID != "" || tc.Name != "" {
				t.Errorf("later fragment %+v carries an ID or a name", *tc)
			}
			seen[k]++
		}
		if c.ToolCall != nil {
			tc := *c.ToolCall
			c.ToolCall = &tc
		}
		deltas = append(deltas, c)
	}
	for k, n := range seen {
		for _, d := range deltas {
			// A header, then the arguments, in several fragments when long.
			if d.Choice == k[0] && d.ToolCall != nil && d.ToolCall.Index == k[1] && len(d.ToolCall.Arguments) > 6 && n < 3 {
				t.Errorf("tool call %v came in %d fragments, want its arguments in several", k, n)
			}
		}
	}
	// Choices interleave: order the deltas by choice, stably, then join.
	slices.SortStableFunc(deltas, func(a, b chat.Chunk) int { return a.Choice - b.Choice })
	var out []chat.Chunk
	for _, c := range deltas {
		if n := len(out); n > 0 {
			p := &out[n-1]
			switch {
			case p.Choice != c.Choice:
			case c.Text != "" && p.Text != "":
				p.Text += c.Text
				continue
			case c.Reasoning != "" && p.Reasoning != "":
				p.Reasoning += c.Reasoning
				continue
			case c.Refusal != "" && p.Refusal != "":
				p.Refusal += c.Refusal
				continue
			case c.ToolCall != nil && p.ToolCall != nil && p.ToolCall.Index == c.ToolCall.Index:
				p.ToolCall.Arguments += c.ToolCall.Arguments
				continue
			}
		}
		out = append(out, c)
	}
	return out, last
}

// TestCompleteMessages checks whole answers with tool calls, reasoning,
// refusals, logprobs and several choices.
func TestCompleteMessages(t *testing.T) {
	tests := []struct {
		name string
		body string
		want chat.Completion
	}{
		{
			name: "tool calls, content null",
			body: `{"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
				{"id":"a","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}},
				{"id":"b","type":"function","function":{"name":"g","arguments":"{}"}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],
				"usage":{"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":3}}}`,
			want: chat.Completion{
				Choices: []chat.Choice{{
					Message: chat.Message{Role: chat.RoleAssistant, Parts: []chat.Part{
						{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "a", Name: "f", Arguments: `{"x":1}`}},
						{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "b", Name: "g", Arguments: "{}"}},
					}},
					FinishReason: chat.FinishToolCalls,
				}},
				Usage: &chat.Usage{InputTokens: 10, OutputTokens: 5, CacheReadTokens: 8, ReasoningTokens: 3},
			},
		},
		{
			name: "reasoning, text, a legacy function call finish",
			body: `{"choices":[{"message":{"content":"Hi","reasoning_content":"think"},"finish_reason":"function_call"},
				{"index":1,"message":{"content":"Ho","reasoning":"ponder"},"finish_reason":"stop"}]}`,
			want: chat.Completion{Choices: []chat.Choice{
				{Message: chat.Message{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.PartReasoning, Text: "think"}, chat.TextPart("Hi")}}, FinishReason: chat.FinishToolCalls},
				{Message: chat.Message{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.PartReasoning, Text: "ponder"}, chat.TextPart("Ho")}}, FinishReason: chat.FinishStop},
			}},
		},
		{
			name: "refusal and logprobs, choices out of order",
			body: `{"choices":[{"index":1,"message":{"content":"B"},"logprobs":{"content":[{"token":"B","logprob":-1}]},"finish_reason":"stop"},
				{"index":0,"message":{"content":null,"refusal":"No."},"logprobs":null,"finish_reason":"stop"}]}`,
			want: chat.Completion{Choices: []chat.Choice{
				{Message: chat.Message{Role: chat.RoleAssistant}, Refusal: "No.", FinishReason: chat.FinishStop},
				{Message: chat.TextMessage(chat.RoleAssistant, "B"), FinishReason: chat.FinishStop, Logprobs: []byte(`{"content":[{"token":"B","logprob":-1}]}`)},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, openaitest.Script{Body: tt.body})
			got, err := newClient(srv).Complete(t.Context(), hello("m"))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Complete mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCompleteFromFake completes the fake's tool calls, reasoning, refusals,
// logprobs and choices, end to end.
func TestCompleteFromFake(t *testing.T) {
	srv := openaitest.NewServer(t)
	srv.Set("tools", openaitest.Script{Reasoning: []string{"a", "b"}, ToolCalls: []openaitest.ToolCall{{ID: "c1", Name: "f", Arguments: `{"long":"arguments here"}`}}})
	srv.Set("refuse", openaitest.Script{Refusal: "No way."})
	req := hello("tools")
	req.N = 2
	got, err := newClient(srv).Complete(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	call := func(id string) chat.Message {
		return chat.Message{Role: chat.RoleAssistant, Parts: []chat.Part{
			{Kind: chat.PartReasoning, Text: "ab"},
			{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: id, Name: "f", Arguments: `{"long":"arguments here"}`}},
		}}
	}
	want := chat.Completion{
		Choices: []chat.Choice{
			{Message: call("c1"), FinishReason: chat.FinishToolCalls},
			{Message: call("c1_1"), FinishReason: chat.FinishToolCalls},
		},
		// Per choice: 2 reasoning pieces, a header and 5 argument fragments.
		Usage: &chat.Usage{InputTokens: 5, OutputTokens: 16, ReasoningTokens: 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tool calls mismatch (-want +got):\n%s", diff)
	}

	req = hello("refuse")
	req.Logprobs, req.TopLogprobs = true, ptr(0)
	got, err = newClient(srv).Complete(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Choices) != 1 || got.Choices[0].Refusal != "No way." || len(got.Choices[0].Message.Parts) != 0 {
		t.Errorf("refusal = %+v, want the refusal and no parts", got.Choices)
	}
	var lp struct {
		Content []any `json:"content"`
		Refusal []struct {
			Token string `json:"token"`
		} `json:"refusal"`
	}
	if err := json.Unmarshal(got.Choices[0].Logprobs, &lp); err != nil || len(lp.Refusal) != 2 || lp.Refusal[0].Token != "No" {
		t.Errorf("logprobs = %s (%v), want the refusal's two tokens", got.Choices[0].Logprobs, err)
	}
}

// TestStreamLogprobsFromFake checks that the fake's logprobs come with the
// text they belong to.
func TestStreamLogprobsFromFake(t *testing.T) {
	srv := openaitest.NewServer(t)
	req := hello("m")
	req.Logprobs, req.TopLogprobs = true, ptr(2)
	s, err := newClient(srv).Stream(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	got := drain(t, t.Context(), s)
	if !errors.Is(got.Err, io.EOF) || len(got.Others) != 3 {
		t.Fatalf("stream = %+v, want 3 chunks of text with logprobs", got)
	}
	for _, c := range got.Others {
		var lp struct {
			Content []struct {
				Token       string `json:"token"`
				TopLogprobs []any  `json:"top_logprobs"`
			} `json:"content"`
		}
		if err := json.Unmarshal([]byte(c.Logprobs), &lp); err != nil || len(lp.Content) != 1 || lp.Content[0].Token != c.Text || len(lp.Content[0].TopLogprobs) != 2 {
			t.Errorf("chunk %+v: logprobs do not describe its text with 2 top logprobs (%v)", c, err)
		}
	}
}
