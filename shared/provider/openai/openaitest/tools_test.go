package openaitest_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// said is one choice of an answer, streamed or whole, as a client sees it.
type said struct {
	Content     string
	ContentNull bool // streamed: no content delta but null ones; whole: content null
	Reasoning   string
	Refusal     string
	ToolCalls   []openaitest.ToolCall
	Finish      string
	Logprobs    int // token entries
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type logprobs struct {
	Content []json.RawMessage `json:"content"`
	Refusal []json.RawMessage `json:"refusal"`
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// decodeStream rebuilds the choices of a streamed answer, checking on the way
// that tool calls are framed as OpenAI frames them: a first fragment with
// exactly index, id, type "function" and function {name, arguments ""}, then
// fragments with only index and function.arguments.
func decodeStream(t *testing.T, evs []string) ([]said, *usage) {
	t.Helper()
	var out []said
	var u *usage
	contentSeen := map[int]bool{}
	for _, e := range evs {
		if e == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					Content          *string           `json:"content"`
					ReasoningContent string            `json:"reasoning_content"`
					Refusal          *string           `json:"refusal"`
					ToolCalls        []json.RawMessage `json:"tool_calls"`
				} `json:"delta"`
				Logprobs     *logprobs `json:"logprobs"`
				FinishReason *string   `json:"finish_reason"`
			} `json:"choices"`
			Usage *usage `json:"usage"`
		}
		if err := json.Unmarshal([]byte(e), &c); err != nil {
			t.Fatalf("event %s: %v", e, err)
		}
		if c.Usage != nil {
			u = c.Usage
		}
		for _, ch := range c.Choices {
			for len(out) <= ch.Index {
				out = append(out, said{ContentNull: true})
			}
			s := &out[ch.Index]
			d := ch.Delta
			if d.Content != nil {
				s.Content += *d.Content
				contentSeen[ch.Index] = true
			}
			s.Reasoning += d.ReasoningContent
			if d.Refusal != nil {
				s.Refusal += *d.Refusal
			}
			if ch.Logprobs != nil {
				s.Logprobs += len(ch.Logprobs.Content) + len(ch.Logprobs.Refusal)
			}
			for _, raw := range d.ToolCalls {
				var tc struct {
					Index    int             `json:"index"`
					ID       string          `json:"id"`
					Type     string          `json:"type"`
					Function json.RawMessage `json:"function"`
				}
				if err := json.Unmarshal(raw, &tc); err != nil {
					t.Fatal(err)
				}
				var fn struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				}
				json.Unmarshal(tc.Function, &fn)
				if tc.Index == len(s.ToolCalls) {
					if got := keys(t, raw); !slices.Equal(got, []string{"function", "id", "index", "type"}) || tc.Type != "function" ||
						!slices.Equal(keys(t, tc.Function), []string{"arguments", "name"}) || fn.Arguments != "" {
						t.Errorf("first fragment %s: want index, id, type function and function {name, arguments \"\"}", raw)
					}
					s.ToolCalls = append(s.ToolCalls, openaitest.ToolCall{ID: tc.ID, Name: fn.Name})
					continue
				}
				if !slices.Equal(keys(t, raw), []string{"function", "index"}) || !slices.Equal(keys(t, tc.Function), []string{"arguments"}) {
					t.Errorf("later fragment %s: want only index and function.arguments", raw)
				}
				if tc.Index > len(s.ToolCalls)-1 {
					t.Fatalf("fragment %s for an unknown call", raw)
				}
				s.ToolCalls[tc.Index].Arguments += fn.Arguments
			}
			if ch.FinishReason != nil {
				s.Finish = *ch.FinishReason
			}
		}
	}
	for i := range out {
		out[i].ContentNull = !contentSeen[i]
	}
	return out, u
}

// decodeCompletion returns the choices of a whole answer.
func decodeCompletion(t *testing.T, body string) ([]said, *usage) {
	t.Helper()
	var c struct {
		Choices []struct {
			Message struct {
				Content          *string               `json:"content"`
				ReasoningContent string                `json:"reasoning_content"`
				Refusal          *string               `json:"refusal"`
				ToolCalls        []openaitest.ToolCall `json:"tool_calls"`
			} `json:"message"`
			Logprobs     *logprobs `json:"logprobs"`
			FinishReason string    `json:"finish_reason"`
		} `json:"choices"`
		Usage *usage `json:"usage"`
	}
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		t.Fatalf("completion %s: %v", body, err)
	}
	var out []said
	for _, ch := range c.Choices {
		m := ch.Message
		s := said{Reasoning: m.ReasoningContent, ToolCalls: m.ToolCalls, Finish: ch.FinishReason, ContentNull: m.Content == nil}
		if m.Content != nil {
			s.Content = *m.Content
		}
		if m.Refusal != nil {
			s.Refusal = *m.Refusal
		}
		if ch.Logprobs != nil {
			s.Logprobs = len(ch.Logprobs.Content) + len(ch.Logprobs.Refusal)
		}
		out = append(out, s)
	}
	return out, c.Usage
}

// both posts body streamed and not, and checks that both answers say want.
func both(t *testing.T, srv *openaitest.Server, body string, want []said) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("bad body: %v", err)
	}
	m["stream"] = true
	m["stream_options"] = map[string]any{"include_usage": true}
	streamed, _ := json.Marshal(m)
	evs, err := events(t, post(t, t.Context(), srv, string(streamed)))
	if err != nil {
		t.Fatal(err)
	}
	got, u := decodeStream(t, evs)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("streamed answer mismatch (-want +got):\n%s", diff)
	}
	delete(m, "stream")
	delete(m, "stream_options")
	whole, _ := json.Marshal(m)
	resp := post(t, t.Context(), srv, string(whole))
	text := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, text)
	}
	gotWhole, uWhole := decodeCompletion(t, text)
	if diff := cmp.Diff(want, gotWhole); diff != "" {
		t.Errorf("whole answer mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(u, uWhole); diff != "" {
		t.Errorf("streamed and whole usage differ (-stream +whole):\n%s", diff)
	}
}

const (
	weatherTool = `{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":` +
		`{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer","minimum":1}},"required":["city","days"]}}}`
	timeTool = `{"type":"function","function":{"name":"get_time"}}`
)

func TestAuto(t *testing.T) {
	weatherCall := openaitest.ToolCall{ID: "call_%d_0", Name: "get_weather", Arguments: `{"city":"What now","days":1}`}
	timeCall := func(k int) openaitest.ToolCall {
		return openaitest.ToolCall{ID: "call_%d_" + string(rune('0'+k)), Name: "get_time", Arguments: "{}"}
	}
	tests := []struct {
		name string
		body string
		want []said
	}{
		{
			name: "no tools: echo",
			body: `{"model":"m","messages":[{"role":"user","content":"What now"}]}`,
			want: []said{{Content: "What now", Finish: "stop"}},
		},
		{
			name: "two tools: both called",
			body: `{"model":"m","messages":[{"role":"user","content":"What now"}],"tools":[` + weatherTool + `,` + timeTool + `]}`,
			want: []said{{ContentNull: true, ToolCalls: []openaitest.ToolCall{weatherCall, timeCall(1)}, Finish: "tool_calls"}},
		},
		{
			name: "required: both called",
			body: `{"model":"m","messages":[{"role":"user","content":"What now"}],"tools":[` + weatherTool + `,` + timeTool + `],"tool_choice":"required"}`,
			want: []said{{ContentNull: true, ToolCalls: []openaitest.ToolCall{weatherCall, timeCall(1)}, Finish: "tool_calls"}},
		},
		{
			name: "parallel calls off: the first",
			body: `{"model":"m","messages":[{"role":"user","content":"What now"}],"tools":[` + weatherTool + `,` + timeTool + `],"parallel_tool_calls":false}`,
			want: []said{{ContentNull: true, ToolCalls: []openaitest.ToolCall{weatherCall}, Finish: "tool_calls"}},
		},
		{
			name: "named tool",
			body: `{"model":"m","messages":[{"role":"user","content":"What now"}],"tools":[` + weatherTool + `,` + timeTool + `],` +
				`"tool_choice":{"type":"function","function":{"name":"get_time"}}}`,
			want: []said{{ContentNull: true, ToolCalls: []openaitest.ToolCall{timeCall(0)}, Finish: "tool_calls"}},
		},
		{
			name: "tool choice none: text",
			body: `{"model":"m","messages":[{"role":"user","content":"What now"}],"tools":[` + weatherTool + `],"tool_choice":"none"}`,
			want: []said{{Content: "What now", Finish: "stop"}},
		},
		{
			name: "tool results: answered",
			body: `{"model":"m","messages":[{"role":"user","content":"What now"},` +
				`{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"get_weather","arguments":"{}"}},` +
				`{"id":"b","type":"function","function":{"name":"get_time","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"a","content":"sunny"},{"role":"tool","tool_call_id":"b","content":[{"type":"text","text":"noon"}]}],` +
				`"tools":[` + weatherTool + `,` + timeTool + `]}`,
			want: []said{{Content: "results: sunny; noon", Finish: "stop"}},
		},
		{
			name: "json_schema",
			body: `{"model":"m","messages":[{"role":"user","content":"Ada"}],"response_format":{"type":"json_schema","json_schema":{"name":"p",` +
				`"schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"]}}}}`,
			want: []said{{Content: `{"age":0,"name":"Ada"}`, Finish: "stop"}},
		},
		{
			name: "json_object after tool results",
			body: `{"model":"m","messages":[{"role":"user","content":"x"},` +
				`{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"get_time","arguments":"{}"}}]},` +
				`{"role":"tool","tool_call_id":"a","content":"noon"}],"tools":[` + timeTool + `],"response_format":{"type":"json_object"}}`,
			want: []said{{Content: `{"answer":"results: noon"}`, Finish: "stop"}},
		},
		{
			name: "two choices",
			body: `{"model":"m","n":2,"messages":[{"role":"user","content":"What now"}],"tools":[` + timeTool + `]}`,
			want: []said{
				{ContentNull: true, ToolCalls: []openaitest.ToolCall{timeCall(0)}, Finish: "tool_calls"},
				{ContentNull: true, ToolCalls: []openaitest.ToolCall{{ID: "call_%d_0_1", Name: "get_time", Arguments: "{}"}}, Finish: "tool_calls"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The zero Script is automatic, and Auto overrides the rest.
			for _, s := range []openaitest.Script{{}, {Auto: true, Chunks: []string{"ignored"}}} {
				srv := openaitest.NewServer(t, s)
				// Request 1 streams, request 2 does not; the ids have their number.
				for _, seq := range []int{1, 2} {
					want := make([]said, len(tt.want))
					for i, w := range tt.want {
						w.ToolCalls = slices.Clone(w.ToolCalls)
						for k := range w.ToolCalls {
							w.ToolCalls[k].ID = strings.Replace(w.ToolCalls[k].ID, "%d", string(rune('0'+seq)), 1)
						}
						want[i] = w
					}
					if seq == 1 {
						streamOnly(t, srv, tt.body, want)
					} else {
						wholeOnly(t, srv, tt.body, want)
					}
				}
			}
		})
	}
}

// streamOnly and wholeOnly are the halves of both, for answers whose ids
// depend on the request's number.
func streamOnly(t *testing.T, srv *openaitest.Server, body string, want []said) {
	t.Helper()
	var m map[string]any
	json.Unmarshal([]byte(body), &m)
	m["stream"] = true
	b, _ := json.Marshal(m)
	evs, err := events(t, post(t, t.Context(), srv, string(b)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := decodeStream(t, evs)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("streamed answer mismatch (-want +got):\n%s", diff)
	}
}

func wholeOnly(t *testing.T, srv *openaitest.Server, body string, want []said) {
	t.Helper()
	resp := post(t, t.Context(), srv, body)
	text := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, text)
	}
	got, _ := decodeCompletion(t, text)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("whole answer mismatch (-want +got):\n%s", diff)
	}
}

func TestScriptedAnswers(t *testing.T) {
	hello := `{"model":"m","messages":[{"role":"user","content":"Hello big world"}]}`
	tests := []struct {
		name   string
		script openaitest.Script
		body   string
		want   []said
		usage  usage
	}{
		{
			name: "tool calls after text",
			script: openaitest.Script{Chunks: []string{"Let me", " check."}, ToolCalls: []openaitest.ToolCall{
				{ID: "call_x", Name: "get_weather", Arguments: `{"city":"Zürich, Schweiz"}`}, {ID: "call_y", Name: "get_time", Arguments: `{}`},
			}},
			body: hello,
			want: []said{{Content: "Let me check.", ToolCalls: []openaitest.ToolCall{
				{ID: "call_x", Name: "get_weather", Arguments: `{"city":"Zürich, Schweiz"}`}, {ID: "call_y", Name: "get_time", Arguments: `{}`},
			}, Finish: "tool_calls"}},
			// 2 chunks; a header and 5 fragments; a header and 1.
			usage: usage{PromptTokens: 3, CompletionTokens: 10, TotalTokens: 13},
		},
		{
			name:   "reasoning",
			script: openaitest.Script{Reasoning: []string{"Let me", " think."}, Chunks: []string{"Done."}},
			body:   hello,
			want:   []said{{Reasoning: "Let me think.", Content: "Done.", Finish: "stop"}},
			usage:  usage{PromptTokens: 3, CompletionTokens: 3, TotalTokens: 6},
		},
		{
			name:   "refusal",
			script: openaitest.Script{Refusal: "I can't help with that."},
			body:   hello,
			want:   []said{{ContentNull: true, Refusal: "I can't help with that.", Finish: "stop"}},
			usage:  usage{PromptTokens: 3, CompletionTokens: 5, TotalTokens: 8},
		},
		{
			name:   "logprobs",
			script: openaitest.Script{Chunks: []string{"a", "b"}},
			body:   `{"model":"m","messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":2}`,
			want:   []said{{Content: "ab", Finish: "stop", Logprobs: 2}},
			usage:  usage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3},
		},
		{
			name:   "three choices",
			script: openaitest.Script{Chunks: []string{"a", "b"}, Reasoning: []string{"r"}},
			body:   `{"model":"m","messages":[{"role":"user","content":"x"}],"n":3}`,
			want: []said{
				{Reasoning: "r", Content: "ab", Finish: "stop"},
				{Reasoning: "r", Content: "ab", Finish: "stop"},
				{Reasoning: "r", Content: "ab", Finish: "stop"},
			},
			usage: usage{PromptTokens: 1, CompletionTokens: 9, TotalTokens: 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t, tt.script)
			both(t, srv, tt.body, tt.want)
			resp := post(t, t.Context(), srv, tt.body)
			_, u := decodeCompletion(t, readBody(t, resp))
			if r := tt.script.Reasoning; len(r) > 0 {
				tt.usage.CompletionTokensDetails.ReasoningTokens = len(r) * len(tt.want)
			}
			if diff := cmp.Diff(&tt.usage, u); diff != "" {
				t.Errorf("usage mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsageDetails(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{Usage: &chat.Usage{InputTokens: 100, OutputTokens: 20, CacheReadTokens: 64, ReasoningTokens: 12}})
	resp := post(t, t.Context(), srv, helloStream)
	evs, err := events(t, resp)
	if err != nil {
		t.Fatal(err)
	}
	_, u := decodeStream(t, evs)
	want := &usage{PromptTokens: 100, CompletionTokens: 20, TotalTokens: 120}
	want.PromptTokensDetails.CachedTokens = 64
	want.CompletionTokensDetails.ReasoningTokens = 12
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("usage mismatch (-want +got):\n%s", diff)
	}
}

func TestToolCallsWireFormat(t *testing.T) {
	srv := openaitest.NewServer(t, openaitest.Script{ToolCalls: []openaitest.ToolCall{
		{ID: "call_a", Name: "get_weather", Arguments: `{"city":"Paris"}`},
		{ID: "call_b", Name: "get_time", Arguments: `{}`},
	}})
	golden(t, "stream_tools.sse", readBody(t, post(t, t.Context(), srv, helloStream)))
	golden(t, "completion_tools.json", readBody(t, post(t, t.Context(), srv,
		`{"model":"gpt-test","messages":[{"role":"user","content":"Hello big world"}]}`)))
}

func TestValidation(t *testing.T) {
	call := func(id string) string {
		return `{"id":"` + id + `","type":"function","function":{"name":"f","arguments":"{}"}}`
	}
	tests := []struct {
		name, body string
		want       string // the error body
	}{
		{
			name: "tool message without a call before it",
			body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"a","content":"r"}]}`,
			want: `{"error":{"message":"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.","type":"invalid_request_error","param":"messages.[1].role","code":null}}`,
		},
		{
			name: "tool message after a text message",
			body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[` + call("a") + `]},` +
				`{"role":"tool","tool_call_id":"a","content":"r"},{"role":"assistant","content":"ok"},{"role":"tool","tool_call_id":"a","content":"r"}]}`,
			want: `{"error":{"message":"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.","type":"invalid_request_error","param":"messages.[4].role","code":null}}`,
		},
		{
			name: "tool message for another call",
			body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[` + call("a") + `]},` +
				`{"role":"tool","tool_call_id":"b","content":"r"}]}`,
			want: `{"error":{"message":"Invalid parameter: 'tool_call_id' of 'b' not found in 'tool_calls' of previous message.","type":"invalid_request_error","param":"messages.[2].tool_call_id","code":null}}`,
		},
		{
			name: "a call without an answer",
			body: `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[` + call("a") + `,` + call("b") + `]},` +
				`{"role":"tool","tool_call_id":"b","content":"r"},{"role":"user","content":"y"}]}`,
			want: `{"error":{"message":"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: a","type":"invalid_request_error","param":"messages.[3].role","code":null}}`,
		},
		{
			name: "tool name with a space",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[` + timeTool + `,{"type":"function","function":{"name":"get weather"}}]}`,
			want: `{"error":{"message":"Invalid 'tools[1].function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.","type":"invalid_request_error","param":"tools[1].function.name","code":"invalid_value"}}`,
		},
		{
			name: "tool name too long",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"` + strings.Repeat("a", 65) + `"}}]}`,
			want: `{"error":{"message":"Invalid 'tools[0].function.name': string too long. Expected a string with maximum length 64, but got a string with length 65 instead.","type":"invalid_request_error","param":"tools[0].function.name","code":"string_above_max_length"}}`,
		},
		{
			name: "empty tool name",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":""}}]}`,
			want: `{"error":{"message":"Invalid 'tools[0].function.name': empty string. Expected a string with minimum length 1, but got an empty string instead.","type":"invalid_request_error","param":"tools[0].function.name","code":"empty_string"}}`,
		},
		{
			name: "tool choice without tools",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}`,
			want: `{"error":{"message":"Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.","type":"invalid_request_error","param":"tool_choice","code":null}}`,
		},
		{
			name: "named tool choice not among the tools",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[` + timeTool + `],"tool_choice":{"type":"function","function":{"name":"nope"}}}`,
			want: `{"error":{"message":"Tool choice 'nope' not found in 'tools' parameter.","type":"invalid_request_error","param":"tool_choice","code":null}}`,
		},
		{
			name: "a bad schema",
			body: `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`,
			want: `{"error":{"message":"Invalid schema for function 'f': schema: a JSON Schema must be an object","type":"invalid_request_error","param":"tools[0].function.parameters","code":"invalid_function_parameters"}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := openaitest.NewServer(t)
			resp := post(t, t.Context(), srv, tt.body)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", resp.StatusCode)
			}
			if got := readBody(t, resp); got != tt.want {
				t.Errorf("body = %s\nwant   %s", got, tt.want)
			}
			if len(srv.Requests()) != 1 || srv.Calls("m") != 1 {
				t.Errorf("the request was not recorded and counted")
			}
		})
	}

	// A good conversation passes: parallel calls answered in any order, a
	// call as the last message, custom tools.
	srv := openaitest.NewServer(t)
	resp := post(t, t.Context(), srv, `{"model":"m","messages":[{"role":"user","content":"x"},`+
		`{"role":"assistant","tool_calls":[`+call("a")+`,`+call("b")+`]},{"role":"tool","tool_call_id":"b","content":"r"},`+
		`{"role":"tool","tool_call_id":"a","content":"r"},{"role":"assistant","content":"ok"},{"role":"user","content":"more"},`+
		`{"role":"assistant","tool_calls":[`+call("c")+`]}],"tools":[{"type":"custom","custom":{"name":"x y"}}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d (%s), want 200", resp.StatusCode, readBody(t, resp))
	}
}

// TestRecordedRequest checks that every field reaches Requests.
func TestRecordedRequest(t *testing.T) {
	srv := openaitest.NewServer(t)
	post(t, t.Context(), srv, `{"model":"m","messages":[
		{"role":"system","content":[{"type":"text","text":"Be "},{"type":"text","text":"brief."}]},
		{"role":"user","name":"ada","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"high"}}]},
		{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"sunny"}],
		"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object"},"strict":true}}],
		"tool_choice":"required","parallel_tool_calls":false,
		"response_format":{"type":"json_schema","json_schema":{"name":"a","description":"d","schema":{"type":"object"},"strict":true}},
		"reasoning_effort":"high","max_completion_tokens":50,"temperature":0.2,"top_p":0.9,"stop":["X"],"seed":7,
		"presence_penalty":0.5,"frequency_penalty":-0.5,"logit_bias":{"42":-100},"logprobs":true,"top_logprobs":3,"n":2,
		"user":"u","metadata":{"k":"v"},"store":true,"service_tier":"priority","prediction":{"type":"content","content":"old"}}`)
	yes, no := true, false
	temp, topP, pp, fp := 0.2, 0.9, 0.5, -0.5
	seed, top := int64(7), 3
	want := openaitest.Request{
		Model: "m",
		Messages: []openaitest.Message{
			{Role: "system", Content: "Be brief.", Parts: []openaitest.ContentPart{{Type: "text", Text: "Be "}, {Type: "text", Text: "brief."}}},
			{Role: "user", Name: "ada", Content: "What is this?", Parts: []openaitest.ContentPart{
				{Type: "text", Text: "What is this?"},
				{Type: "image_url", ImageURL: &openaitest.ImageURL{URL: "data:image/png;base64,AAAA", Detail: "high"}},
			}},
			{Role: "assistant", ToolCalls: []openaitest.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}}},
			{Role: "tool", ToolCallID: "call_1", Content: "sunny"},
		},
		Tools:             []openaitest.Tool{{Type: "function", Name: "get_weather", Description: "Weather", Parameters: []byte(`{"type":"object"}`), Strict: &yes}},
		ToolChoice:        &openaitest.ToolChoice{Mode: "required"},
		ParallelToolCalls: &no,
		ResponseFormat: &openaitest.ResponseFormat{Type: "json_schema", JSONSchema: &openaitest.JSONSchema{
			Name: "a", Description: "d", Schema: []byte(`{"type":"object"}`), Strict: &yes,
		}},
		ReasoningEffort:     "high",
		MaxCompletionTokens: 50,
		Temperature:         &temp,
		TopP:                &topP,
		Stop:                openaitest.Stop{"X"},
		Seed:                &seed,
		PresencePenalty:     &pp,
		FrequencyPenalty:    &fp,
		LogitBias:           map[string]int{"42": -100},
		Logprobs:            true,
		TopLogprobs:         &top,
		N:                   2,
		User:                "u",
		Metadata:            map[string]string{"k": "v"},
		Store:               &yes,
		ServiceTier:         "priority",
		Prediction:          &openaitest.Prediction{Type: "content", Content: "old"},
	}
	if diff := cmp.Diff(want, srv.Requests()[0].Body); diff != "" {
		t.Errorf("recorded request mismatch (-want +got):\n%s", diff)
	}
}
