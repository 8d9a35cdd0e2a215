package bedrocktest_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

// frame is one event-stream message, its payload re-encoded with sorted keys.
type frame struct {
	EventType, Payload string
}

// post sends body to op of model m and returns the answer's status and body.
func post(t *testing.T, srv *bedrocktest.Server, op, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/model/"+model+"/"+op, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST error = %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	return resp.StatusCode, b
}

// streamFrames posts body to converse-stream and decodes the frames between
// messageStart and metadata (both left out; metadata's usage is returned).
func streamFrames(t *testing.T, srv *bedrocktest.Server, body string) ([]frame, string) {
	t.Helper()
	status, b := post(t, srv, "converse-stream", body)
	if status != http.StatusOK {
		t.Fatalf("answer = %d %s, want 200", status, b)
	}
	var (
		got   []frame
		usage string
	)
	dec := eventstream.NewDecoder()
	r := bytes.NewReader(b)
	for {
		m, err := dec.Decode(r, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Decode() error = %v", err)
		}
		var payload map[string]any
		if err := json.Unmarshal(m.Payload, &payload); err != nil {
			t.Fatalf("payload %q: %v", m.Payload, err)
		}
		typ := m.Headers.Get(":event-type").String()
		switch typ {
		case "messageStart":
		case "metadata":
			u, _ := json.Marshal(payload["usage"])
			usage = string(u)
		default:
			p, _ := json.Marshal(payload)
			got = append(got, frame{typ, string(p)})
		}
	}
	return got, usage
}

const hello = `{"messages":[{"role":"user","content":[{"text":"hello"}]}]}`

// TestBlockFrames: interleaved blocks carry their own contentBlockIndex, tool
// calls start with contentBlockStart and stream their input in fragments.
func TestBlockFrames(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	srv.Set(model, bedrocktest.Script{
		Blocks: []bedrocktest.AnswerBlock{
			{Reasoning: &bedrocktest.Reasoning{Text: "so then", Signature: "sig"}},
			{ToolCall: &bedrocktest.ToolCall{ID: "t1", Name: "f", Input: `{"a":1}`}},
			{Text: []string{"x"}},
			{ToolCall: &bedrocktest.ToolCall{ID: "t2", Name: "g"}},
		},
		Usage: &bedrocktest.Usage{In: 3, Out: 2, CacheRead: 10, CacheWrite: 5},
	})
	got, usage := streamFrames(t, srv, hello)
	d, s := "contentBlockDelta", "contentBlockStop"
	want := []frame{
		{d, `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"so "}}}`},
		{d, `{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"then"}}}`},
		{d, `{"contentBlockIndex":0,"delta":{"reasoningContent":{"signature":"sig"}}}`},
		{s, `{"contentBlockIndex":0}`},
		{"contentBlockStart", `{"contentBlockIndex":1,"start":{"toolUse":{"name":"f","toolUseId":"t1"}}}`},
		{d, `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{\"a"}}}`},
		{d, `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"\":1"}}}`},
		{d, `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"}"}}}`},
		{s, `{"contentBlockIndex":1}`},
		{d, `{"contentBlockIndex":2,"delta":{"text":"x"}}`},
		{s, `{"contentBlockIndex":2}`},
		{"contentBlockStart", `{"contentBlockIndex":3,"start":{"toolUse":{"name":"g","toolUseId":"t2"}}}`},
		{d, `{"contentBlockIndex":3,"delta":{"toolUse":{"input":"{"}}}`},
		{d, `{"contentBlockIndex":3,"delta":{"toolUse":{"input":"}"}}}`},
		{s, `{"contentBlockIndex":3}`},
		{"messageStop", `{"stopReason":"tool_use"}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames mismatch (-want +got):\n%s", diff)
	}
	if want := `{"cacheReadInputTokens":10,"cacheWriteInputTokens":5,"inputTokens":3,"outputTokens":2,"totalTokens":20}`; usage != want {
		t.Errorf("usage = %s, want %s", usage, want)
	}

	// Converse answers the same blocks whole.
	status, b := post(t, srv, "converse", hello)
	var out struct {
		Output struct {
			Message struct {
				Content []json.RawMessage `json:"content"`
			} `json:"message"`
		} `json:"output"`
		StopReason string `json:"stopReason"`
	}
	if err := json.Unmarshal(b, &out); status != http.StatusOK || err != nil {
		t.Fatalf("Converse answer = %d %s (%v)", status, b, err)
	}
	var content []string
	for _, c := range out.Output.Message.Content {
		content = append(content, string(c))
	}
	wantContent := []string{
		`{"reasoningContent":{"reasoningText":{"signature":"sig","text":"so then"}}}`,
		`{"toolUse":{"input":{"a":1},"name":"f","toolUseId":"t1"}}`,
		`{"text":"x"}`,
		`{"toolUse":{"input":{},"name":"g","toolUseId":"t2"}}`,
	}
	if diff := cmp.Diff(wantContent, content); diff != "" || out.StopReason != "tool_use" {
		t.Errorf("Converse content (stop %q) mismatch (-want +got):\n%s", out.StopReason, diff)
	}
}

// TestScriptedToolCalls: Reasoning, Chunks and ToolCalls are answered in that
// order; without Chunks there is no text block.
func TestScriptedToolCalls(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	srv.Set(model, bedrocktest.Script{
		Reasoning: &bedrocktest.Reasoning{Redacted: []byte("xyz")},
		ToolCalls: []bedrocktest.ToolCall{{ID: "t1", Name: "f", Input: `{}`}},
	})
	got, _ := streamFrames(t, srv, hello)
	want := []frame{
		{"contentBlockDelta", `{"contentBlockIndex":0,"delta":{"reasoningContent":{"redactedContent":"eHl6"}}}`},
		{"contentBlockStop", `{"contentBlockIndex":0}`},
		{"contentBlockStart", `{"contentBlockIndex":1,"start":{"toolUse":{"name":"f","toolUseId":"t1"}}}`},
		{"contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{"}}}`},
		{"contentBlockDelta", `{"contentBlockIndex":1,"delta":{"toolUse":{"input":"}"}}}`},
		{"contentBlockStop", `{"contentBlockIndex":1}`},
		{"messageStop", `{"stopReason":"tool_use"}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames mismatch (-want +got):\n%s", diff)
	}

	srv.Set(model, bedrocktest.Script{ToolCalls: []bedrocktest.ToolCall{{ID: "t1", Name: "f", Input: `{"a":`}}})
	if status, b := post(t, srv, "converse", hello); status != http.StatusBadRequest {
		t.Errorf("answer to a script with bad tool input = %d %s, want 400", status, b)
	}
}

// TestAuto runs the Auto behaviour for each kind of request.
func TestAuto(t *testing.T) {
	const (
		city   = `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`
		tools2 = `"toolConfig":{"tools":[{"toolSpec":{"name":"weather","inputSchema":{"json":` + city + `}}},{"cachePoint":{"type":"default"}},{"toolSpec":{"name":"clock","inputSchema":{"json":{"type":"object"}}}}]`
		ask    = `"messages":[{"role":"user","content":[{"text":"Paris"}]}]`
		loop   = `"messages":[{"role":"user","content":[{"text":"Paris"}]},` +
			`{"role":"assistant","content":[{"toolUse":{"toolUseId":"a","name":"weather","input":{"city":"Paris"}}},{"toolUse":{"toolUseId":"b","name":"clock","input":{}}}]},` +
			`{"role":"user","content":[{"toolResult":{"toolUseId":"a","content":[{"text":"18C"}]}},{"toolResult":{"toolUseId":"b","content":[{"text":"no"},{"text":"on"}],"status":"error"}}]}]`
	)
	tests := []struct {
		name   string
		script bedrocktest.Script
		body   string
		want   []string // Converse content blocks
		stop   string
	}{
		{
			name: "two tools",
			body: `{` + ask + `,` + tools2 + `}}`,
			want: []string{
				`{"toolUse":{"input":{"city":"Paris"},"name":"weather","toolUseId":"tooluse_bedrocktest-1_0"}}`,
				`{"toolUse":{"input":{},"name":"clock","toolUseId":"tooluse_bedrocktest-1_1"}}`,
			},
			stop: "tool_use",
		},
		{
			name: "one tool",
			body: `{` + ask + `,"toolConfig":{"tools":[{"toolSpec":{"name":"weather","inputSchema":{"json":` + city + `}}}],"toolChoice":{"any":{}}}}`,
			want: []string{`{"toolUse":{"input":{"city":"Paris"},"name":"weather","toolUseId":"tooluse_bedrocktest-1_0"}}`},
			stop: "tool_use",
		},
		{
			name: "specific tool",
			body: `{` + ask + `,` + tools2 + `,"toolChoice":{"tool":{"name":"clock"}}}}`,
			want: []string{`{"toolUse":{"input":{},"name":"clock","toolUseId":"tooluse_bedrocktest-1_0"}}`},
			stop: "tool_use",
		},
		{
			name: "tool results",
			body: `{` + loop + `,` + tools2 + `}}`,
			want: []string{`{"text":"results: 18C; no on"}`},
			stop: "end_turn",
		},
		{
			name: "structured output",
			body: `{` + ask + `,"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"name":"c","schema":` + jsonString(city) + `}}}}}`,
			want: []string{`{"text":"{\"city\":\"Paris\"}"}`},
			stop: "end_turn",
		},
		{
			name: "thinking",
			body: `{` + ask + `,"inferenceConfig":{"maxTokens":2000},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`,
			want: []string{
				`{"reasoningContent":{"reasoningText":{"signature":"bedrocktest-signature-bedrocktest-1","text":"Thinking about: Paris"}}}`,
				`{"text":"Paris"}`,
			},
			stop: "end_turn",
		},
		{
			name:   "explicit auto without tools echoes",
			script: bedrocktest.Script{Auto: true},
			body:   `{` + ask + `}`,
			want:   []string{`{"text":"Paris"}`},
			stop:   "end_turn",
		},
		{
			name:   "a script wins over auto",
			script: bedrocktest.Script{Chunks: []string{"scripted"}},
			body:   `{` + ask + `,` + tools2 + `}}`,
			want:   []string{`{"text":"scripted"}`},
			stop:   "end_turn",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := bedrocktest.NewServer(t)
			srv.SetDefault(tt.script)
			status, b := post(t, srv, "converse", tt.body)
			var out struct {
				Output struct {
					Message struct {
						Content []json.RawMessage `json:"content"`
					} `json:"message"`
				} `json:"output"`
				StopReason string `json:"stopReason"`
			}
			if err := json.Unmarshal(b, &out); status != http.StatusOK || err != nil {
				t.Fatalf("answer = %d %s (%v)", status, b, err)
			}
			var got []string
			for _, c := range out.Output.Message.Content {
				got = append(got, string(c))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" || out.StopReason != tt.stop {
				t.Errorf("content (stop %q, want %q) mismatch (-want +got):\n%s", out.StopReason, tt.stop, diff)
			}

			// The stream says the same, in deltas.
			frames, _ := streamFrames(t, srv, tt.body)
			if n := len(frames); n == 0 || frames[n-1].Payload != `{"stopReason":"`+tt.stop+`"}` {
				t.Errorf("stream frames = %+v, want them to end with stop reason %s", frames, tt.stop)
			}
		})
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestValidationTools checks what Bedrock validates about tools, images and
// thinking: each is a ValidationException.
func TestValidationTools(t *testing.T) {
	const (
		tools = `"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object"}}}}]}`
		call  = `{"role":"user","content":[{"text":"hi"}]},{"role":"assistant","content":[{"toolUse":{"toolUseId":"a","name":"f","input":{}}}]}`
	)
	big := strings.Repeat("A", 4*(3_932_160/3+1)) // base64 of more than 3.75 MB
	tests := []struct {
		name, body, want string
	}{
		{"tool blocks without toolConfig", `{"messages":[` + call + `,{"role":"user","content":[{"toolResult":{"toolUseId":"a","content":[{"text":"x"}]}}]}]}`,
			"The toolConfig field must be defined"},
		{"result of an unknown call", `{"messages":[` + call + `,{"role":"user","content":[{"toolResult":{"toolUseId":"b","content":[{"text":"x"}]}}]}],` + tools + `}`,
			"Expected toolResult blocks at messages.2.content for the following Ids: a, but found: b"},
		{"call without a result", `{"messages":[` + call + `,{"role":"user","content":[{"text":"and?"}]}],` + tools + `}`,
			"Expected toolResult blocks at messages.2.content for the following Ids: a, but found: "},
		{"bad tool name", `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"a.b","inputSchema":{"json":{}}}}]}}`,
			"toolConfig.tools.1.member.toolSpec.name"},
		{"unknown tool choice", `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}],"toolChoice":{"tool":{"name":"g"}}}}`,
			"The tool g named by toolConfig.toolChoice"},
		{"image too large", `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"` + big + `"}}}]}]}`,
			"images must be no more than 3.75 MB"},
		{"image format", `{"messages":[{"role":"user","content":[{"image":{"format":"bmp","source":{"bytes":"AAAA"}}}]}]}`,
			"member.image.format"},
		{"image from the assistant", `{"messages":[{"role":"user","content":[{"text":"hi"}]},{"role":"assistant","content":[{"image":{"format":"png","source":{"bytes":"AAAA"}}}]}]}`,
			"You can only include images if the role is user"},
		{"thinking budget too small", `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":100}}}`,
			"greater than or equal to 1024"},
		{"thinking budget over max tokens", `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"inferenceConfig":{"maxTokens":1024},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":1024}}}`,
			"`max_tokens` must be greater than `thinking.budget_tokens`"},
		{"structured output schema", `{"messages":[{"role":"user","content":[{"text":"hi"}]}],"outputConfig":{"textFormat":{"type":"json_schema","structure":{"jsonSchema":{"schema":"nope"}}}}}`,
			"not a valid JSON object"},
	}
	srv := bedrocktest.NewServer(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []string{"converse", "converse-stream"} {
				status, b := post(t, srv, op, tt.body)
				if status != http.StatusBadRequest || !strings.Contains(string(b), tt.want) {
					t.Errorf("%s answer = %d %s, want 400 with %q", op, status, b, tt.want)
				}
			}
		})
	}
}

// TestRecordsRequest sends every part of a Converse request through the real
// SDK and reads it back from Requests.
func TestRecordsRequest(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	srv.SetDefault(bedrocktest.Script{Chunks: []string{"ok"}})
	img := []byte("\x89PNG")
	in := &bedrockruntime.ConverseInput{
		ModelId: aws.String(model),
		System: []types.SystemContentBlock{
			&types.SystemContentBlockMemberText{Value: "sys"},
			&types.SystemContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
		},
		Messages: []types.Message{
			{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
				&types.ContentBlockMemberText{Value: "look"},
				&types.ContentBlockMemberImage{Value: types.ImageBlock{Format: types.ImageFormatPng, Source: &types.ImageSourceMemberBytes{Value: img}}},
			}},
			{Role: types.ConversationRoleAssistant, Content: []types.ContentBlock{
				&types.ContentBlockMemberReasoningContent{Value: &types.ReasoningContentBlockMemberReasoningText{
					Value: types.ReasoningTextBlock{Text: aws.String("hm"), Signature: aws.String("s")},
				}},
				&types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
					ToolUseId: aws.String("a"), Name: aws.String("f"), Input: document.NewLazyDocument(map[string]any{"x": 1}),
				}},
			}},
			{Role: types.ConversationRoleUser, Content: []types.ContentBlock{
				&types.ContentBlockMemberToolResult{Value: types.ToolResultBlock{
					ToolUseId: aws.String("a"), Status: types.ToolResultStatusError,
					Content: []types.ToolResultContentBlock{&types.ToolResultContentBlockMemberText{Value: "bad"}},
				}},
				&types.ContentBlockMemberCachePoint{Value: types.CachePointBlock{Type: types.CachePointTypeDefault}},
			}},
		},
		ToolConfig: &types.ToolConfiguration{
			Tools: []types.Tool{&types.ToolMemberToolSpec{Value: types.ToolSpecification{
				Name: aws.String("f"), Description: aws.String("d"), Strict: aws.Bool(true),
				InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(map[string]any{"type": "object"})},
			}}},
			ToolChoice: &types.ToolChoiceMemberAny{},
		},
		OutputConfig: &types.OutputConfig{TextFormat: &types.OutputFormat{
			Type: types.OutputFormatTypeJsonSchema,
			Structure: &types.OutputFormatStructureMemberJsonSchema{Value: types.JsonSchemaDefinition{
				Schema: aws.String(`{"type":"object"}`), Name: aws.String("n"),
			}},
		}},
		AdditionalModelRequestFields: document.NewLazyDocument(map[string]any{"reasoningConfig": map[string]any{"type": "enabled"}}),
		RequestMetadata:              map[string]string{"tenant": "t"},
		ServiceTier:                  &types.ServiceTier{Type: types.ServiceTierTypeFlex},
	}
	if _, err := srv.Client().Converse(t.Context(), in); err != nil {
		t.Fatalf("Converse() error = %v", err)
	}
	got := srv.Requests()[0]
	cp := &bedrocktest.CachePoint{Type: "default"}
	want := bedrocktest.Request{
		ModelID: model,
		System:  []bedrocktest.Block{{Text: "sys"}, {CachePoint: cp}},
		Messages: []bedrocktest.Message{
			{Role: "user", Content: []bedrocktest.Block{
				{Text: "look"},
				{Image: &bedrocktest.Image{Format: "png", Source: bedrocktest.ImageSource{Bytes: img}}},
			}},
			{Role: "assistant", Content: []bedrocktest.Block{
				{ReasoningContent: &bedrocktest.ReasoningContent{ReasoningText: &bedrocktest.ReasoningText{Text: "hm", Signature: "s"}}},
				{ToolUse: &bedrocktest.ToolUse{ToolUseID: "a", Name: "f", Input: map[string]any{"x": 1.0}}},
			}},
			{Role: "user", Content: []bedrocktest.Block{
				{ToolResult: &bedrocktest.ToolResult{ToolUseID: "a", Status: "error", Content: []bedrocktest.Block{{Text: "bad"}}}},
				{CachePoint: cp},
			}},
		},
		ToolConfig: &bedrocktest.ToolConfig{
			Tools: []bedrocktest.Tool{{ToolSpec: &bedrocktest.ToolSpec{
				Name: "f", Description: "d", Strict: aws.Bool(true),
				InputSchema: bedrocktest.ToolInputSchema{JSON: map[string]any{"type": "object"}},
			}}},
			ToolChoice: &bedrocktest.ToolChoice{Any: &struct{}{}},
		},
		OutputConfig: &bedrocktest.OutputConfig{TextFormat: &bedrocktest.OutputFormat{
			Type:      "json_schema",
			Structure: bedrocktest.OutputStructure{JSONSchema: &bedrocktest.JSONSchema{Schema: `{"type":"object"}`, Name: "n"}},
		}},
		AdditionalModelRequestFields: map[string]any{"reasoningConfig": map[string]any{"type": "enabled"}},
		RequestMetadata:              map[string]string{"tenant": "t"},
		ServiceTier:                  &bedrocktest.ServiceTier{Type: "flex"},
		Body:                         got.Body,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recorded request mismatch (-want +got):\n%s", diff)
	}
}
