package gateway

import (
	"errors"
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
		{`{"messages":[{"role":"user","content":"x"}],"tools":[]}`, "unsupported_parameter", "tools"},
		{`{"messages":[{"role":"user","content":"x"}],"frobnicate":1}`, "unknown_parameter", "frobnicate"},
		{`{"messages":[{"role":"user","content":"x"}],"n":2}`, "unsupported_parameter", "n"},
		{`{"messages":[{"role":"tool","content":"x"}]}`, "unsupported_parameter", "messages[0].role"},
		{`{"messages":[{"role":"robot","content":"x"}]}`, "invalid_value", "messages[0].role"},
		{`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, "unsupported_content", "messages[0].content[0]"},
		{`{"messages":[{"role":"user"}]}`, "invalid_value", "messages[0].content"},
		{`{"messages":[{"role":"user","content":"x","tool_calls":[]}]}`, "unsupported_parameter", "messages[0].tool_calls"},
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
		`{"messages":[{"role":"user","content":"x"}],"sessionId":"a b"}`:     "sessionId",
		`{"messages":[{"role":"user","content":"x"}],"maxTokens":-1}`:        "maxTokens",
		`{"messages":[{"role":"user","content":"x"}],"topP":2}`:              "topP",
		`{"messages":[{"role":"user","content":"x"}],"model":"echo/echo-1"}`: "model",
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
				if m.Role != chat.RoleSystem && m.Role != chat.RoleUser && m.Role != chat.RoleAssistant {
					t.Fatalf("accepted role %q", m.Role)
				}
			}
		}
	})
}
