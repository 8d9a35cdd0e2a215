package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
)

func TestDecodeOpenAI(t *testing.T) {
	c, err := decodeOpenAI([]byte(`{"model":"echo/echo-1","stream":true,"stream_options":{"include_usage":true},
		"messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]},
		{"role":"assistant","content":"ok","name":"bot"}],"max_tokens":10,"max_completion_tokens":20,"temperature":0.5,"top_p":1,"stop":"END","user":"u1","n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &c.req
	if c.model != "echo/echo-1" || !c.stream || !c.includeUsage || r.MaxTokens != 20 || r.User != "u1" ||
		len(r.Stop) != 1 || *r.Temperature != 0.5 || len(r.Messages) != 3 ||
		r.Messages[0].Role != "system" || r.Messages[0].Text() != "be brief" || r.Messages[1].Text() != "hi there" {
		t.Errorf("decoded %+v", c)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct{ body, code, param string }{
		{`{`, "invalid_json", ""},
		{`[]`, "invalid_json", ""},
		{`{"messages":[]}`, "messages_empty", "messages"},
		{`{}`, "messages_empty", "messages"},
		{`{"messages":[{"role":"user","content":"x"}],"audio":{}}`, "unsupported_parameter", "audio"},
		{`{"messages":[{"role":"user","content":"x"}],"frobnicate":1}`, "unknown_parameter", "frobnicate"},
		{`{"messages":[{"role":"user","content":"x"}],"n":0}`, "invalid_value", "n"},
		{`{"messages":[{"role":"tool","content":"x"}]}`, "invalid_value", "messages[0].tool_call_id"},
		{`{"messages":[{"role":"robot","content":"x"}]}`, "invalid_value", "messages[0].role"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, "invalid_image_url", "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}`, "invalid_image", "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,%%%"}}]}]}`, "invalid_image_url", "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/bmp;base64,AAAA"}}]}]}`, "invalid_image_format", "messages[0].content[0].image_url.url"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"max"}}]}]}`, "invalid_value", "messages[0].content[0].image_url.detail"},
		{`{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, "unsupported_content", "messages[0].content[0]"},
		{`{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}`, "unsupported_content", "messages[0].content[0]"},
		{`{"messages":[{"role":"user"}]}`, "invalid_value", "messages[0].content"},
		{`{"messages":[{"role":"user","content":"x","tool_calls":[]}]}`, "invalid_value", "messages[0].tool_calls"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`, "invalid_value", "messages[0].tool_calls[0].function.arguments"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "invalid_value", "messages[0].tool_calls[0].function.arguments"},
		{`{"messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, "invalid_value", "messages[0].tool_calls[0].id"},
		{`{"messages":[{"role":"assistant"}]}`, "invalid_value", "messages[0].content"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"bad name"}}]}`, "invalid_value", "tools[0].function.name"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}`, "invalid_schema", "tools[0].function.parameters"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g","parameters":{"type":"string"}}}]}`, "invalid_schema", "tools[1].function.parameters"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]}`, "invalid_value", "tools[1]"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"web_search"}]}`, "unsupported_parameter", "tools[0].type"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}`, "invalid_value", "tools[0].function"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, "invalid_value", "tool_choice"},
		{`{"messages":[{"role":"user","content":"x"}],"tool_choice":"required"}`, "invalid_value", "tool_choice"},
		{`{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}`, "invalid_value", "tool_choice"},
		{`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}`, "invalid_value", "response_format.type"},
		{`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}`, "invalid_value", "response_format.json_schema"},
		{`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":"no"}}}`, "invalid_schema", "response_format.json_schema.schema"},
		{`{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"s s","schema":{}}}}`, "invalid_value", "response_format.json_schema.name"},
		{`{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"extreme"}`, "invalid_value", "reasoning_effort"},
		{`{"messages":[{"role":"user","content":"x"}],"seed":1.5}`, "invalid_type", "seed"},
		{`{"messages":[{"role":"user","content":"x"}],"presence_penalty":3}`, "invalid_value", "presence_penalty"},
		{`{"messages":[{"role":"user","content":"x"}],"logit_bias":{"abc":1}}`, "invalid_value", "logit_bias"},
		{`{"messages":[{"role":"user","content":"x"}],"logit_bias":{"12":101}}`, "invalid_value", "logit_bias"},
		{`{"messages":[{"role":"user","content":"x"}],"top_logprobs":3}`, "invalid_value", "top_logprobs"},
		{`{"messages":[{"role":"user","content":"x"}],"service_tier":"gold"}`, "invalid_value", "service_tier"},
		{`{"messages":[{"role":"user","content":"x"}],"prediction":{"type":"diff"}}`, "invalid_value", "prediction"},
		{`{"messages":[{"role":"user","content":"x"}],"functions":[{"name":"f"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, "invalid_value", "functions"},
		{`{"messages":[{"role":"user","content":"x","cache_control":{"type":"forever"}}]}`, "invalid_value", "messages[0].cache_control.type"},
		{`{"messages":[{"role":"user","content":"x"}],"max_tokens":0}`, "invalid_value", "max_tokens"},
		{`{"messages":[{"role":"user","content":"x"}],"max_tokens":"5"}`, "invalid_type", "max_tokens"},
		{`{"messages":[{"role":"user","content":"x"}],"temperature":3}`, "invalid_value", "temperature"},
		{`{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e"]}`, "invalid_value", "stop"},
		{`{"messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, "invalid_value", "stream_options"},
	}
	for _, tt := range tests {
		_, err := decodeOpenAI([]byte(tt.body))
		var e *apierr.Error
		if !errors.As(err, &e) || e.Kind != apierr.Invalid || e.Code != tt.code || e.Param != tt.param {
			t.Errorf("decodeOpenAI(%s) = %v; want 400 %s at %q", tt.body, err, tt.code, tt.param)
		}
	}
	for body, param := range map[string]string{
		`{"messages":[{"role":"user","content":"x"}],"sessionId":"a b"}`:                                  "sessionId",
		`{"messages":[{"role":"user","content":"x"}],"maxTokens":-1}`:                                     "maxTokens",
		`{"messages":[{"role":"user","content":"x"}],"topP":2}`:                                           "topP",
		`{"messages":[{"role":"user","content":"x"}],"sessionId":""}`:                                     "sessionId",
		`{"messages":[{"role":"user","content":"x"}],"toolChoice":"required"}`:                            "toolChoice",
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","parameters":1}]}`:              "tools[0].parameters",
		`{"messages":[{"role":"user","content":"x"}],"responseFormat":{"type":"json_schema","name":"s"}}`: "responseFormat.schema",
		`{"messages":[{"role":"user","content":"x"}],"model":"echo/echo-1"}`:                              "model",
	} {
		_, err := decodeNative([]byte(body))
		var e *apierr.Error
		if !errors.As(err, &e) || e.Kind != apierr.Invalid || e.Param != param {
			t.Errorf("decodeNative(%s) = %v; want 400 at %q", body, err, param)
		}
	}
}

// FuzzDecodeChatRequest: any body either decodes into a usable call or is refused
// with a 400 (never a panic, never another kind of error).
func FuzzDecodeChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"echo/echo-1","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"t"}]}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"stop":["a"]}`,
		`{"messages":[{"role":"user","content":null}]}`, `{"messages":{}}`, `{"messages":[1]}`, `{"n":1e400}`,
		`{"messages":[{"role":"user","content":"x"}],"temperature":-0}`, `{"modelId":"x","messages":[{"role":"user","content":"y"}],"sessionId":"s-1"}`,
		"\xff", `{"messages":[{"role":"user","content":"\ud800"}]}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"t","cache_control":{"type":"ephemeral"}},{"type":"image_url","image_url":{"url":"` + tinyPNG + `","detail":"low"}}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}},"strict":true}}],"tool_choice":"required","parallel_tool_calls":false}`,
		`{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}],"tools":[{"type":"function","function":{"name":"f"}}]}`,
		`{"messages":[{"role":"user","content":"q"}],"response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}},"reasoning_effort":"low","seed":7,"n":2,"logprobs":true,"top_logprobs":2,"logit_bias":{"50256":-100},"metadata":{"k":"v"},"store":false,"service_tier":"flex","prediction":{"type":"content","content":"x"}}`,
		`{"messages":[{"role":"user","content":"q"},{"role":"assistant","function_call":{"name":"f","arguments":"{}"}},{"role":"function","name":"f","content":"r"}],"functions":[{"name":"f"}],"function_call":"auto"}`,
		`{"messages":[{"role":"user","content":"x"}],"tools":[{"name":"f","parameters":{"type":"object"}}],"toolChoice":{"name":"f"},"responseFormat":{"type":"json_object"},"reasoningEffort":"high"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, decode := range []func([]byte) (*call, error){decodeOpenAI, decodeNative} {
			c, err := decode(body)
			if err != nil {
				var e *apierr.Error
				if !errors.As(err, &e) || e.Kind != apierr.Invalid {
					t.Fatalf("error %T %v is not a 400 apierr", err, err)
				}
				continue
			}
			if len(c.req.Messages) == 0 || c.req.MaxTokens < 0 {
				t.Fatalf("accepted an unusable call: %+v", c)
			}
			for _, m := range c.req.Messages {
				if m.Role != chat.RoleSystem && m.Role != chat.RoleUser && m.Role != chat.RoleAssistant && m.Role != chat.RoleTool {
					t.Fatalf("accepted role %q", m.Role)
				}
				for _, p := range m.Parts {
					if p.Kind == chat.PartToolCall && !json.Valid([]byte(p.ToolCall.Arguments)) {
						t.Fatalf("accepted tool arguments %q", p.ToolCall.Arguments)
					}
					if p.Kind == chat.PartImage && p.Image.URL == "" && (p.Image.Width <= 0 || len(p.Image.Data) == 0) {
						t.Fatalf("accepted an image without pixels: %+v", p.Image)
					}
				}
			}
			if err := checkToolResults(nil, c.req.Messages, "messages"); err != nil {
				var e *apierr.Error
				if !errors.As(err, &e) || e.Kind != apierr.Invalid {
					t.Fatalf("tool results: %T %v is not a 400 apierr", err, err)
				}
			}
		}
	})
}

// tinyPNG is a 1x1 PNG as a data URL.
const tinyPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func TestDecodeTools(t *testing.T) {
	c, err := decodeOpenAI([]byte(`{"model":"m","messages":[
		{"role":"system","content":"s","cache_control":{"type":"ephemeral"}},
		{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"` + tinyPNG + `","detail":"high"}}]},
		{"role":"assistant","content":null,"reasoning_content":"hmm","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"c2","type":"function","function":{"name":"g","arguments":""}}]},
		{"role":"tool","tool_call_id":"c1","content":"one"},{"role":"tool","tool_call_id":"c2","content":[{"type":"text","text":"two"}]}],
		"tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object"},"strict":true}},{"type":"function","function":{"name":"g"},"cache_control":{"type":"ephemeral"}}],
		"tool_choice":{"type":"function","function":{"name":"g"}},"parallel_tool_calls":false,
		"response_format":{"type":"json_schema","json_schema":{"name":"out","schema":{"type":"object"},"strict":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := &c.req
	if len(r.Tools) != 2 || !r.Tools[0].Strict || string(r.Tools[0].Parameters) != `{"type":"object"}` || !r.Tools[1].CachePoint ||
		r.ToolChoice != (chat.ToolChoice{Mode: chat.ToolChoiceNamed, Name: "g"}) || r.ParallelToolCalls == nil || *r.ParallelToolCalls ||
		r.ResponseFormat.Type != chat.FormatJSONSchema || r.ResponseFormat.Name != "out" || !r.ResponseFormat.Strict {
		t.Errorf("tools decoded as %+v %+v %+v", r.Tools, r.ToolChoice, r.ResponseFormat)
	}
	kinds := func(m chat.Message) (out []chat.PartKind) {
		for _, p := range m.Parts {
			out = append(out, p.Kind)
		}
		return out
	}
	want := [][]chat.PartKind{{chat.PartText, chat.PartCachePoint}, {chat.PartText, chat.PartImage},
		{chat.PartReasoning, chat.PartToolCall, chat.PartToolCall}, {chat.PartToolResult}, {chat.PartToolResult}}
	for i, m := range r.Messages {
		if got := kinds(m); len(got) != len(want[i]) || fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Errorf("messages[%d] parts %v, want %v", i, got, want[i])
		}
	}
	img := r.Messages[1].Parts[1].Image
	if img.MediaType != "image/png" || img.Width != 1 || img.Height != 1 || img.Detail != "high" || len(img.Data) == 0 {
		t.Errorf("image %+v", img)
	}
	if a := r.Messages[2].Parts[2].ToolCall.Arguments; a != "{}" {
		t.Errorf("empty arguments became %q, want {}", a)
	}
	if res := r.Messages[4].Parts[0].ToolResult; res.CallID != "c2" || chat.JoinText(res.Parts) != "two" {
		t.Errorf("tool result %+v", res)
	}
	if err := checkToolResults(nil, r.Messages, "messages"); err != nil {
		t.Errorf("checkToolResults: %v", err)
	}
	// A result for a call nobody made, and one answered twice.
	for _, msgs := range [][]chat.Message{
		{chat.TextMessage("user", "q"), {Role: "tool", Parts: []chat.Part{{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{CallID: "zz"}}}}},
		append(append([]chat.Message{}, r.Messages...), r.Messages[4]),
	} {
		err := checkToolResults(nil, msgs, "messages")
		var e *apierr.Error
		if !errors.As(err, &e) || e.Code != "invalid_tool_call_id" || e.Param != fmt.Sprintf("messages[%d].tool_call_id", len(msgs)-1) {
			t.Errorf("checkToolResults = %v, want invalid_tool_call_id at the last message", err)
		}
	}
}

func TestDecodeLegacyFunctions(t *testing.T) {
	c, err := decodeOpenAI([]byte(`{"messages":[{"role":"user","content":"q"},
		{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{}"}},{"role":"function","name":"f","content":"r"}],
		"functions":[{"name":"f","parameters":{"type":"object"}}],"function_call":{"name":"f"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !c.legacyFunctions || len(c.req.Tools) != 1 || c.req.ToolChoice.Mode != chat.ToolChoiceNamed {
		t.Errorf("decoded %+v", c.req)
	}
	if err := checkToolResults(nil, c.req.Messages, "messages"); err != nil {
		t.Errorf("a function message answering its call: %v", err)
	}
}
