package bedrock_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

const (
	haiku35  = "anthropic.claude-3-5-haiku-20241022-v1:0"
	sonnet4  = "us.anthropic.claude-sonnet-4-20250514-v1:0"
	sonnet45 = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
	opus47   = "anthropic.claude-opus-4-7"
	nova2    = "us.amazon.nova-2-lite-v1:0"
	novaLite = "amazon.nova-lite-v1:0"
)

var (
	png        = []byte("\x89PNG\r\n\x1a\nfake")
	weatherArg = `{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`
	weather    = chat.Tool{Name: "weather", Description: "Weather in a city", Parameters: []byte(weatherArg)}
	clock      = chat.Tool{Name: "clock", CachePoint: true}

	weatherSchema = map[string]any{
		"type":       "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"}},
		"required":   []any{"city"},
	}
	emptySchema = map[string]any{"type": "object", "properties": map[string]any{}}
	weatherSpec = bedrocktest.Tool{ToolSpec: &bedrocktest.ToolSpec{
		Name: "weather", Description: "Weather in a city", InputSchema: bedrocktest.ToolInputSchema{JSON: weatherSchema},
	}}
	clockSpec  = bedrocktest.Tool{ToolSpec: &bedrocktest.ToolSpec{Name: "clock", InputSchema: bedrocktest.ToolInputSchema{JSON: emptySchema}}}
	cachePoint = &bedrocktest.CachePoint{Type: "default"}
)

func text(s string) bedrocktest.Block { return bedrocktest.Block{Text: s} }

// toolTurn is a conversation with two tool calls, answered, then a user turn.
func toolTurn() []chat.Message {
	return []chat.Message{
		chat.TextMessage(chat.RoleUser, "Weather and time in Paris?"),
		{Role: chat.RoleAssistant, Parts: []chat.Part{
			chat.TextPart("Let me look."),
			{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "t1", Name: "weather", Arguments: `{"city":"Paris"}`}},
			{Kind: chat.PartReasoning, Text: "Two tools.", Signature: "sig-1"},
			{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "t2", Name: "clock"}},
		}},
		{Role: chat.RoleTool, Parts: []chat.Part{{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{
			CallID: "t1", Parts: []chat.Part{chat.TextPart("18C")},
		}}}},
		{Role: chat.RoleTool, Parts: []chat.Part{{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{
			CallID: "t2", Parts: []chat.Part{chat.TextPart("clock broke")}, IsError: true,
		}}}},
		chat.TextMessage(chat.RoleUser, "Thanks."),
	}
}

// toolTurnWant is toolTurn as Bedrock receives it.
var toolTurnWant = []bedrocktest.Message{
	{Role: "user", Content: []bedrocktest.Block{text("Weather and time in Paris?")}},
	{Role: "assistant", Content: []bedrocktest.Block{
		{ReasoningContent: &bedrocktest.ReasoningContent{ReasoningText: &bedrocktest.ReasoningText{Text: "Two tools.", Signature: "sig-1"}}},
		text("Let me look."),
		{ToolUse: &bedrocktest.ToolUse{ToolUseID: "t1", Name: "weather", Input: map[string]any{"city": "Paris"}}},
		{ToolUse: &bedrocktest.ToolUse{ToolUseID: "t2", Name: "clock", Input: map[string]any{}}},
	}},
	{Role: "user", Content: []bedrocktest.Block{
		{ToolResult: &bedrocktest.ToolResult{ToolUseID: "t1", Content: []bedrocktest.Block{text("18C")}}},
		{ToolResult: &bedrocktest.ToolResult{ToolUseID: "t2", Content: []bedrocktest.Block{text("clock broke")}, Status: "error"}},
		text("Thanks."),
	}},
}

// TestConvert checks what arrives at Bedrock for every kind of part, tools,
// tool choice, structured output, reasoning per model family, metadata and
// service tier.
func TestConvert(t *testing.T) {
	tests := []struct {
		name string
		req  chat.Request
		want bedrocktest.Request // ModelID, Stream, Body and TraceID are not compared
	}{
		{
			name: "text, image and cache points",
			req: chat.Request{Messages: []chat.Message{
				{Role: chat.RoleSystem, Parts: []chat.Part{chat.TextPart("Be "), chat.TextPart("brief."), {Kind: chat.PartCachePoint}}},
				{Role: chat.RoleUser, Parts: []chat.Part{
					chat.TextPart("What is this?"),
					{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/png", Data: png, Width: 2, Height: 2}},
					{Kind: chat.PartCachePoint},
				}},
			}},
			want: bedrocktest.Request{
				System: []bedrocktest.Block{text("Be brief."), {CachePoint: cachePoint}},
				Messages: []bedrocktest.Message{{Role: "user", Content: []bedrocktest.Block{
					text("What is this?"),
					{Image: &bedrocktest.Image{Format: "png", Source: bedrocktest.ImageSource{Bytes: png}}},
					{CachePoint: cachePoint},
				}}},
			},
		},
		{
			name: "image formats",
			req: chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{
				{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/jpeg", Data: []byte("j")}},
				{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/gif", Data: []byte("g")}},
				{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/webp", Data: []byte("w")}},
			}}}},
			want: bedrocktest.Request{Messages: []bedrocktest.Message{{Role: "user", Content: []bedrocktest.Block{
				{Image: &bedrocktest.Image{Format: "jpeg", Source: bedrocktest.ImageSource{Bytes: []byte("j")}}},
				{Image: &bedrocktest.Image{Format: "gif", Source: bedrocktest.ImageSource{Bytes: []byte("g")}}},
				{Image: &bedrocktest.Image{Format: "webp", Source: bedrocktest.ImageSource{Bytes: []byte("w")}}},
			}}}},
		},
		{
			name: "tool calls, merged tool results and tools with a cache point",
			req:  chat.Request{Messages: toolTurn(), Tools: []chat.Tool{weather, clock}},
			want: bedrocktest.Request{
				Messages:   toolTurnWant,
				ToolConfig: &bedrocktest.ToolConfig{Tools: []bedrocktest.Tool{weatherSpec, clockSpec, {CachePoint: cachePoint}}},
			},
		},
		{
			name: "redacted reasoning goes first; strict tool; image in a tool result",
			req: chat.Request{
				Messages: []chat.Message{
					chat.TextMessage(chat.RoleUser, "Draw it."),
					{Role: chat.RoleAssistant, Parts: []chat.Part{
						{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "d1", Name: "draw", Arguments: " {} "}},
						{Kind: chat.PartReasoning, Redacted: []byte("secret")},
					}},
					{Role: chat.RoleTool, Parts: []chat.Part{{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{
						CallID: "d1", Parts: []chat.Part{{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/png", Data: png}}},
					}}}},
				},
				Tools: []chat.Tool{{Name: "draw", Strict: true}},
			},
			want: bedrocktest.Request{
				Messages: []bedrocktest.Message{
					{Role: "user", Content: []bedrocktest.Block{text("Draw it.")}},
					{Role: "assistant", Content: []bedrocktest.Block{
						{ReasoningContent: &bedrocktest.ReasoningContent{RedactedContent: []byte("secret")}},
						{ToolUse: &bedrocktest.ToolUse{ToolUseID: "d1", Name: "draw", Input: map[string]any{}}},
					}},
					{Role: "user", Content: []bedrocktest.Block{{ToolResult: &bedrocktest.ToolResult{
						ToolUseID: "d1",
						Content:   []bedrocktest.Block{{Image: &bedrocktest.Image{Format: "png", Source: bedrocktest.ImageSource{Bytes: png}}}},
					}}}},
				},
				ToolConfig: &bedrocktest.ToolConfig{Tools: []bedrocktest.Tool{{ToolSpec: &bedrocktest.ToolSpec{
					Name: "draw", InputSchema: bedrocktest.ToolInputSchema{JSON: emptySchema}, Strict: new(true),
				}}}},
			},
		},
		{
			name: "tool choice auto",
			req:  chat.Request{Messages: userMessages("hi"), Tools: []chat.Tool{weather}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceAuto}},
			want: bedrocktest.Request{Messages: userWant("hi"), ToolConfig: &bedrocktest.ToolConfig{
				Tools: []bedrocktest.Tool{weatherSpec}, ToolChoice: &bedrocktest.ToolChoice{Auto: &struct{}{}},
			}},
		},
		{
			name: "tool choice required",
			req:  chat.Request{Messages: userMessages("hi"), Tools: []chat.Tool{weather}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceRequired}},
			want: bedrocktest.Request{Messages: userWant("hi"), ToolConfig: &bedrocktest.ToolConfig{
				Tools: []bedrocktest.Tool{weatherSpec}, ToolChoice: &bedrocktest.ToolChoice{Any: &struct{}{}},
			}},
		},
		{
			name: "tool choice named",
			req: chat.Request{Messages: userMessages("hi"), Tools: []chat.Tool{weather, clock},
				ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceNamed, Name: "clock"}},
			want: bedrocktest.Request{Messages: userWant("hi"), ToolConfig: &bedrocktest.ToolConfig{
				Tools:      []bedrocktest.Tool{weatherSpec, clockSpec, {CachePoint: cachePoint}},
				ToolChoice: &bedrocktest.ToolChoice{Tool: &bedrocktest.SpecificToolChoice{Name: "clock"}},
			}},
		},
		{
			name: "tool choice none sends no tools",
			req:  chat.Request{Messages: userMessages("hi"), Tools: []chat.Tool{weather}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceNone}},
			want: bedrocktest.Request{Messages: userWant("hi")},
		},
		{
			name: "tool choice none keeps the tools of a conversation with tool blocks",
			req:  chat.Request{Messages: toolTurn(), Tools: []chat.Tool{weather, clock}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceNone}},
			want: bedrocktest.Request{Messages: toolTurnWant, ToolConfig: &bedrocktest.ToolConfig{
				Tools:      []bedrocktest.Tool{weatherSpec, clockSpec, {CachePoint: cachePoint}},
				ToolChoice: &bedrocktest.ToolChoice{Auto: &struct{}{}},
			}},
		},
		{
			name: "json schema on a model with structured output",
			req: chat.Request{Model: sonnet45, Messages: userMessages("Ada"), ResponseFormat: chat.ResponseFormat{
				Type: chat.FormatJSONSchema, Name: "person", Description: "A person", Schema: []byte(weatherArg),
			}},
			want: bedrocktest.Request{Messages: userWant("Ada"), OutputConfig: &bedrocktest.OutputConfig{TextFormat: &bedrocktest.OutputFormat{
				Type: "json_schema",
				Structure: bedrocktest.OutputStructure{JSONSchema: &bedrocktest.JSONSchema{
					Schema: weatherArg, Name: "person", Description: "A person",
				}},
			}}},
		},
		{
			name: "json schema as a forced tool",
			req: chat.Request{Model: haiku35, Messages: userMessages("Ada"), ResponseFormat: chat.ResponseFormat{
				Type: chat.FormatJSONSchema, Name: "person", Description: "A person", Schema: []byte(weatherArg),
			}},
			want: bedrocktest.Request{Messages: userWant("Ada"), ToolConfig: &bedrocktest.ToolConfig{
				Tools: []bedrocktest.Tool{{ToolSpec: &bedrocktest.ToolSpec{
					Name: "person", Description: "A person", InputSchema: bedrocktest.ToolInputSchema{JSON: weatherSchema},
				}}},
				ToolChoice: &bedrocktest.ToolChoice{Tool: &bedrocktest.SpecificToolChoice{Name: "person"}},
			}},
		},
		{
			name: "json object as a forced tool, next to the request's tools",
			req: chat.Request{Model: sonnet45, Messages: userMessages("Ada"), Tools: []chat.Tool{weather},
				ResponseFormat: chat.ResponseFormat{Type: chat.FormatJSONObject}},
			want: bedrocktest.Request{Messages: userWant("Ada"), ToolConfig: &bedrocktest.ToolConfig{
				Tools: []bedrocktest.Tool{weatherSpec, {ToolSpec: &bedrocktest.ToolSpec{
					Name:        "json_response",
					Description: "Give your answer as the input of this tool: a JSON value that matches its schema.",
					InputSchema: bedrocktest.ToolInputSchema{JSON: map[string]any{"type": "object"}},
				}}},
				ToolChoice: &bedrocktest.ToolChoice{Tool: &bedrocktest.SpecificToolChoice{Name: "json_response"}},
			}},
		},
		{
			name: "claude 4 thinks with a budget",
			req:  chat.Request{Model: sonnet4, Messages: userMessages("hi"), MaxTokens: 4000, ReasoningEffort: "medium"},
			want: bedrocktest.Request{
				Messages: userWant("hi"), InferenceConfig: &bedrocktest.InferenceConfig{MaxTokens: new(4000)},
				AdditionalModelRequestFields: map[string]any{"thinking": map[string]any{"type": "enabled", "budget_tokens": 2400.0}},
			},
		},
		{
			name: "claude 4.7 thinks adaptively",
			req:  chat.Request{Model: opus47, Messages: userMessages("hi"), ReasoningEffort: "minimal"},
			want: bedrocktest.Request{
				Messages: userWant("hi"),
				AdditionalModelRequestFields: map[string]any{
					"thinking":      map[string]any{"type": "adaptive"},
					"output_config": map[string]any{"effort": "low"},
				},
			},
		},
		{
			name: "nova 2 reasoning config",
			req:  chat.Request{Model: nova2, Messages: userMessages("hi"), ReasoningEffort: "high"},
			want: bedrocktest.Request{
				Messages: userWant("hi"),
				AdditionalModelRequestFields: map[string]any{
					"reasoningConfig": map[string]any{"type": "enabled", "maxReasoningEffort": "high"},
				},
			},
		},
		{
			name: "a model without reasoning gets none",
			req:  chat.Request{Model: haiku35, Messages: userMessages("hi"), MaxTokens: 4000, ReasoningEffort: "high"},
			want: bedrocktest.Request{Messages: userWant("hi"), InferenceConfig: &bedrocktest.InferenceConfig{MaxTokens: new(4000)}},
		},
		{
			name: "metadata and service tier",
			req:  chat.Request{Messages: userMessages("hi"), Metadata: map[string]string{"tenant": "t-1"}, ServiceTier: "flex"},
			want: bedrocktest.Request{
				Messages:        userWant("hi"),
				RequestMetadata: map[string]string{"tenant": "t-1"},
				ServiceTier:     &bedrocktest.ServiceTier{Type: "flex"},
			},
		},
		{
			name: "service tier auto is Bedrock's choice",
			req:  chat.Request{Messages: userMessages("hi"), ServiceTier: "auto"},
			want: bedrocktest.Request{Messages: userWant("hi")},
		},
	}
	ignore := cmpopts.IgnoreFields(bedrocktest.Request{}, "ModelID", "Stream", "Body", "TraceID")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, stream := range []bool{false, true} {
				srv, c := newClient(t)
				req := tt.req
				req.Model = cmpOr(req.Model, model)
				if stream {
					s, err := c.Stream(t.Context(), &req)
					if err != nil {
						t.Fatalf("Stream() error = %v", err)
					}
					_, err = drain(t, s)
					s.Close()
					if err != nil {
						t.Fatalf("Next() error = %v", err)
					}
				} else if _, err := c.Complete(t.Context(), &req); err != nil {
					t.Fatalf("Complete() error = %v", err)
				}
				got := srv.Requests()
				if len(got) != 1 {
					t.Fatalf("Bedrock got %d requests, want 1", len(got))
				}
				if diff := cmp.Diff(tt.want, got[0], ignore); diff != "" {
					t.Errorf("recorded request (stream %v) mismatch (-want +got):\n%s", stream, diff)
				}
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func userMessages(s string) []chat.Message {
	return []chat.Message{chat.TextMessage(chat.RoleUser, s)}
}

func userWant(s string) []bedrocktest.Message {
	return []bedrocktest.Message{{Role: "user", Content: []bedrocktest.Block{text(s)}}}
}

// TestThinkingBudget checks budget_tokens for every effort: a share of
// max_tokens, at least 1024.
func TestThinkingBudget(t *testing.T) {
	tests := []struct {
		effort    string
		maxTokens int
		want      float64
	}{
		{"minimal", 10000, 3000},
		{"low", 10000, 3000},
		{"medium", 10000, 6000},
		{"high", 10000, 9999},
		{"xhigh", 10000, 9999},
		{"low", 2000, 1024},
		{"high", 1025, 1024},
	}
	srv, c := newClient(t)
	for _, tt := range tests {
		req := &chat.Request{Model: "anthropic.claude-3-7-sonnet-20250219-v1:0", Messages: userMessages("hi"),
			MaxTokens: tt.maxTokens, ReasoningEffort: tt.effort}
		if _, err := c.Complete(t.Context(), req); err != nil {
			t.Fatalf("Complete(%s, %d) error = %v", tt.effort, tt.maxTokens, err)
		}
		reqs := srv.Requests()
		got := reqs[len(reqs)-1].AdditionalModelRequestFields["thinking"].(map[string]any)["budget_tokens"]
		if got != tt.want {
			t.Errorf("budget_tokens for %s of %d = %v, want %v", tt.effort, tt.maxTokens, got, tt.want)
		}
	}
}

// TestReasoningNone: reasoning_effort "none" asks a thinking model not to
// think: no thinking fields, and nothing for Check to object to.
func TestReasoningNone(t *testing.T) {
	srv, c := newClient(t)
	req := &chat.Request{Model: "anthropic.claude-sonnet-4-5-20250929-v1:0", Messages: userMessages("hi"),
		MaxTokens: 512, ReasoningEffort: "none", Temperature: new(0.2)}
	if issues := c.Check(req); len(issues) != 0 {
		t.Errorf("Check = %v, want none", issues)
	}
	if _, err := c.Complete(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if f := reqs[len(reqs)-1].AdditionalModelRequestFields; f != nil {
		t.Errorf("additionalModelRequestFields = %v, want none", f)
	}
}

// TestConvertBadRequest checks what cannot be sent to Bedrock at all: it is a
// bad request that names the offending part, and nothing is sent.
func TestConvertBadRequest(t *testing.T) {
	user := chat.TextMessage(chat.RoleUser, "hi")
	tests := []struct {
		name string
		req  chat.Request
		want string
	}{
		{
			name: "arguments not an object",
			req: chat.Request{Messages: []chat.Message{user, {Role: chat.RoleAssistant, Parts: []chat.Part{
				{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "a", Name: "x", Arguments: `{"ok":1}`}},
				{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "b", Name: "x", Arguments: `[1,2]`}},
			}}}, Tools: []chat.Tool{{Name: "x"}}},
			want: "messages[1].tool_calls[1].function.arguments is not a JSON object",
		},
		{
			name: "arguments not JSON",
			req: chat.Request{Messages: []chat.Message{chat.TextMessage(chat.RoleSystem, "s"), user, {Role: chat.RoleAssistant, Parts: []chat.Part{
				{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "a", Name: "x", Arguments: `{"city":`}},
			}}}, Tools: []chat.Tool{{Name: "x"}}},
			want: "messages[2].tool_calls[0].function.arguments is not a JSON object",
		},
		{
			name: "image by URL",
			req: chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{
				chat.TextPart("look"), {Kind: chat.PartImage, Image: &chat.Image{URL: "https://example.com/a.png"}},
			}}}},
			want: "messages[0].content[1]: Bedrock needs inline images (data URLs); Tollgate fetches https image URLs only from the hosts of the deployment's IMAGE_FETCH_HOSTS",
		},
		{
			name: "image media type",
			req: chat.Request{Messages: []chat.Message{{Role: chat.RoleUser, Parts: []chat.Part{
				{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/bmp", Data: []byte("b")}},
			}}}},
			want: `messages[0].content[0]: Bedrock takes png, jpeg, gif and webp images, not "image/bmp"`,
		},
		{
			name: "tool parameters",
			req:  chat.Request{Messages: []chat.Message{user}, Tools: []chat.Tool{weather, {Name: "bad", Parameters: []byte(`"string"`)}}},
			want: "tools[1].function.parameters is not a JSON object",
		},
		{
			name: "text in a tool message",
			req:  chat.Request{Messages: []chat.Message{user, chat.TextMessage(chat.RoleTool, "42")}},
			want: "messages[1].content[0]: a tool message holds only tool results, not text parts",
		},
		{
			name: "image in an assistant message",
			req: chat.Request{Messages: []chat.Message{user, {Role: chat.RoleAssistant, Parts: []chat.Part{
				{Kind: chat.PartImage, Image: &chat.Image{MediaType: "image/png", Data: png}},
			}}}},
			want: "messages[1].content[0]: an assistant message cannot hold image parts",
		},
		{
			name: "thinking budget without room",
			req:  chat.Request{Model: sonnet4, Messages: []chat.Message{user}, MaxTokens: 1024, ReasoningEffort: "low"},
			want: "reasoning on this model needs max_tokens above 1024: its thinking budget must be at least 1024 tokens and below max_tokens",
		},
		{
			name: "structured output schema",
			req: chat.Request{Model: sonnet45, Messages: []chat.Message{user},
				ResponseFormat: chat.ResponseFormat{Type: chat.FormatJSONSchema, Schema: []byte(`[]`)}},
			want: "response_format.json_schema.schema is not a JSON object",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newClient(t)
			req := tt.req
			req.Model = cmpOr(req.Model, model)
			_, err := c.Complete(t.Context(), &req)
			if pe := providerError(t, err); pe.Class != chat.ErrBadRequest || pe.Message != tt.want {
				t.Errorf("Complete() error = %v (%v); want bad request %q", pe.Message, pe.Class, tt.want)
			}
			s, err := c.Stream(t.Context(), &req)
			if s != nil {
				s.Close()
			}
			if pe := providerError(t, err); pe.Class != chat.ErrBadRequest || !strings.Contains(pe.Error(), tt.want) {
				t.Errorf("Stream() error = %v; want bad request %q", err, tt.want)
			}
			if n := len(srv.Requests()); n != 0 {
				t.Errorf("Bedrock got %d requests, want 0", n)
			}
		})
	}
}
