package bedrock_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/bedrock"
)

func TestCheck(t *testing.T) {
	user := chat.TextMessage(chat.RoleUser, "hi")
	img := func(im chat.Image) chat.Part { return chat.Part{Kind: chat.PartImage, Image: &im} }
	ok := chat.Image{MediaType: "image/png", Data: png, Width: 10, Height: 10}
	drop := func(param, msg string) chat.Issue { return chat.Issue{Param: param, Message: msg, Droppable: true} }
	refuse := func(param, msg string) chat.Issue { return chat.Issue{Param: param, Message: msg} }
	many := make([]chat.Part, bedrock.MaxImagesPerMessage+1)
	for i := range many {
		many[i] = img(ok)
	}
	bigMeta := map[string]string{}
	for i := range 17 {
		bigMeta[string(rune('a'+i))] = "v"
	}
	tests := []struct {
		name string
		req  chat.Request
		want []chat.Issue
	}{
		{name: "plain", req: chat.Request{Messages: []chat.Message{user}, N: 1, Store: new(false), ServiceTier: "priority",
			ParallelToolCalls: new(true), Metadata: map[string]string{"tenant id": "t-1/a@b"}}},
		{
			name: "OpenAI-only parameters",
			req: chat.Request{
				Messages: []chat.Message{user}, N: 2, Seed: new(int64(7)), PresencePenalty: new(0.5), FrequencyPenalty: new(0.5),
				LogitBias: map[string]int{"1": 5}, Logprobs: true, TopLogprobs: new(2), Prediction: "x", Store: new(true),
				ParallelToolCalls: new(false), ServiceTier: "scale",
			},
			want: []chat.Issue{
				drop("n", "Bedrock gives one choice per request"),
				drop("seed", "Bedrock Converse takes no seed"),
				drop("presence_penalty", "Bedrock Converse takes no presence penalty"),
				drop("frequency_penalty", "Bedrock Converse takes no frequency penalty"),
				drop("logit_bias", "Bedrock Converse takes no logit bias"),
				drop("logprobs", "Bedrock Converse returns no log probabilities"),
				drop("top_logprobs", "Bedrock Converse returns no log probabilities"),
				drop("prediction", "Bedrock Converse takes no predicted output"),
				drop("store", "Bedrock does not store completions"),
				drop("parallel_tool_calls", "Bedrock Converse cannot turn parallel tool calls off"),
				drop("service_tier", `Bedrock's service tiers are auto, default, flex and priority, not "scale"`),
			},
		},
		{
			name: "reasoning on a model without it",
			req:  chat.Request{Model: haiku35, Messages: []chat.Message{user}, MaxTokens: 4000, ReasoningEffort: "low"},
			want: []chat.Issue{drop("reasoning_effort", `model "anthropic.claude-3-5-haiku-20241022-v1:0" does not reason on request on Bedrock`)},
		},
		{
			name: "reasoning on Nova 1",
			req:  chat.Request{Model: novaLite, Messages: []chat.Message{user}, ReasoningEffort: "high"},
			want: []chat.Issue{drop("reasoning_effort", `model "amazon.nova-lite-v1:0" does not reason on request on Bedrock`)},
		},
		{name: "reasoning on Nova 2", req: chat.Request{Model: nova2, Messages: []chat.Message{user}, ReasoningEffort: "high", Temperature: new(0.2)}},
		{name: "adaptive reasoning needs no budget", req: chat.Request{Model: opus47, Messages: []chat.Message{user}, ReasoningEffort: "low", MaxTokens: 100}},
		{
			name: "thinking budget without room",
			req:  chat.Request{Model: sonnet4, Messages: []chat.Message{user}, MaxTokens: 1024, ReasoningEffort: "low"},
			want: []chat.Issue{refuse("max_tokens", "reasoning on this model needs max_tokens above 1024: its thinking budget must be at least 1024 tokens and below max_tokens")},
		},
		{
			name: "thinking with sampling",
			req: chat.Request{Model: sonnet4, Messages: []chat.Message{user}, MaxTokens: 4000, ReasoningEffort: "low",
				Temperature: new(0.3), TopP: new(0.5)},
			want: []chat.Issue{
				drop("temperature", "Claude takes no temperature other than 1 while it thinks (reasoning_effort)"),
				drop("top_p", "Claude takes no top_p below 0.95 while it thinks (reasoning_effort)"),
			},
		},
		{
			name: "thinking with a forced tool",
			req: chat.Request{Model: sonnet4, Messages: []chat.Message{user}, MaxTokens: 4000, ReasoningEffort: "low",
				Tools: []chat.Tool{weather}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceRequired}},
			want: []chat.Issue{drop("reasoning_effort", "Claude cannot think while it is forced to call a tool (tool_choice required or named, or a response_format Tollgate answers with a forced tool)")},
		},
		{
			name: "structured output by a forced tool next to tools",
			req: chat.Request{Model: haiku35, Messages: []chat.Message{user}, Tools: []chat.Tool{weather},
				ResponseFormat: chat.ResponseFormat{Type: chat.FormatJSONSchema, Schema: []byte(weatherArg)}},
			want: []chat.Issue{drop("response_format", "this model has no native structured output on Bedrock; Tollgate forces a tool to get the JSON answer, so the request's own tools cannot be called")},
		},
		{
			name: "native structured output next to tools",
			req: chat.Request{Model: sonnet45, Messages: []chat.Message{user}, Tools: []chat.Tool{weather},
				ResponseFormat: chat.ResponseFormat{Type: chat.FormatJSONSchema, Schema: []byte(weatherArg)}},
		},
		{
			name: "tool choice none in a conversation with tool calls",
			req:  chat.Request{Messages: toolTurn(), Tools: []chat.Tool{weather, clock}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceNone}},
			want: []chat.Issue{drop("tool_choice", "Bedrock has no tool_choice none and refuses a conversation with tool calls or results without its tools, so the tools stay on offer with tool_choice auto")},
		},
		{name: "tool choice none without tool calls", req: chat.Request{Messages: []chat.Message{user}, Tools: []chat.Tool{weather}, ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceNone}}},
		{
			name: "tool calls without tools",
			req:  chat.Request{Messages: toolTurn()},
			want: []chat.Issue{refuse("tools", "Bedrock needs the tools of a conversation that holds tool calls or tool results")},
		},
		{
			name: "tool name",
			req:  chat.Request{Messages: []chat.Message{user}, Tools: []chat.Tool{weather, {Name: "get.weather"}}},
			want: []chat.Issue{refuse("tools[1].function.name", `Bedrock tool names are 1 to 64 letters, digits, _ and -, not "get.weather"`)},
		},
		{
			name: "images",
			req: chat.Request{Messages: []chat.Message{
				chat.TextMessage(chat.RoleSystem, "s"),
				{Role: chat.RoleUser, Parts: []chat.Part{
					chat.TextPart("look"),
					img(chat.Image{URL: "https://example.com/a.png"}),
					img(ok),
					img(chat.Image{MediaType: "image/bmp", Data: png}),
					img(chat.Image{MediaType: "image/jpeg", Data: make([]byte, bedrock.MaxImageBytes+1), Width: 100, Height: 100}),
					img(chat.Image{MediaType: "image/png", Data: png, Width: 8001, Height: 10}),
				}},
				{Role: chat.RoleAssistant, Parts: []chat.Part{img(ok)}},
				{Role: chat.RoleUser, Parts: many},
			}},
			want: []chat.Issue{
				refuse("messages[1].content[1]", "Bedrock needs inline images (data URLs); Tollgate fetches https image URLs only from the hosts of the deployment's IMAGE_FETCH_HOSTS"),
				refuse("messages[1].content[3]", `Bedrock takes png, jpeg, gif and webp images, not "image/bmp"`),
				refuse("messages[1].content[4]", "the image has 3932161 bytes; Bedrock takes at most 3.75 MB (3932160 bytes)"),
				refuse("messages[1].content[5]", "the image is 8001x10 px; Bedrock takes at most 8000 px in width and height"),
				refuse("messages[2].content[0]", `Bedrock takes images in user messages only, not in "assistant" messages`),
				refuse("messages[3]", "Bedrock takes at most 20 images in one message, not 21"),
			},
		},
		{
			name: "image in a tool result",
			req: chat.Request{Tools: []chat.Tool{{Name: "draw"}}, Messages: []chat.Message{
				user,
				{Role: chat.RoleAssistant, Parts: []chat.Part{{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "d", Name: "draw"}}}},
				{Role: chat.RoleTool, Parts: []chat.Part{{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{
					CallID: "d", Parts: []chat.Part{img(ok), img(chat.Image{URL: "https://example.com/b.png"})},
				}}}},
			}},
			want: []chat.Issue{refuse("messages[2].content[0].content[1]", "Bedrock needs inline images (data URLs); Tollgate fetches https image URLs only from the hosts of the deployment's IMAGE_FETCH_HOSTS")},
		},
		{
			name: "metadata",
			req: chat.Request{Messages: []chat.Message{user}, Metadata: map[string]string{
				"":                       "x",
				"emoji😀":                 "x",
				"long":                   strings.Repeat("v", 257),
				"ok":                     "bad\"quote",
				strings.Repeat("k", 257): "",
			}},
			want: []chat.Issue{
				refuse("metadata", `metadata key "": Bedrock takes keys of 1 to 256 characters`),
				refuse("metadata", `metadata key "emoji😀": Bedrock takes only letters, digits, white space and _ . : / = + - @ $ # ,`),
				refuse("metadata", `metadata key "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…": Bedrock takes keys of 1 to 256 characters`),
				refuse("metadata", `metadata value of "long": Bedrock takes values of at most 256 characters`),
				refuse("metadata", `metadata value of "ok": Bedrock takes only letters, digits, white space and _ . : / = + - @ $ # ,`),
			},
		},
		{
			name: "too much metadata",
			req:  chat.Request{Messages: []chat.Message{user}, Metadata: bigMeta},
			want: []chat.Issue{refuse("metadata", "Bedrock takes at most 16 metadata entries, not 17")},
		},
	}
	c := bedrock.New(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req
			req.Model = cmpOr(req.Model, model)
			if diff := cmp.Diff(tt.want, c.Check(&req)); diff != "" {
				t.Errorf("Check() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	if got := c.Check(nil); got != nil {
		t.Errorf("Check(nil) = %v, want nil", got)
	}
}

// TestCheckDrop: once the gateway drops every droppable issue, Check finds
// none, and the request goes through.
func TestCheckDrop(t *testing.T) {
	req := &chat.Request{
		Model: sonnet4, Messages: toolTurn(), Tools: []chat.Tool{weather, clock},
		ToolChoice: chat.ToolChoice{Mode: chat.ToolChoiceNone}, N: 3, Seed: new(int64(1)),
		ServiceTier: "scale", Temperature: new(0.2), MaxTokens: 4000, ReasoningEffort: "medium",
	}
	srv, c := newClient(t)
	for _, is := range c.Check(req) {
		if !is.Droppable || !req.Drop(is.Param) {
			t.Fatalf("issue %+v cannot be dropped", is)
		}
	}
	if got := c.Check(req); got != nil {
		t.Errorf("Check() after dropping = %+v, want none", got)
	}
	if _, err := c.Complete(t.Context(), req); err != nil {
		t.Errorf("Complete() error = %v", err)
	}
	if got := srv.Requests()[0].ToolConfig; got == nil || got.ToolChoice != nil {
		t.Errorf("toolConfig = %+v, want the tools with the default choice", got)
	}
}
