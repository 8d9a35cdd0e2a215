package bedrock_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

// interleaved answers with reasoning, a tool call, text and another tool call:
// the tool calls are content blocks 1 and 3, and tool calls 0 and 1.
var interleaved = bedrocktest.Script{
	Blocks: []bedrocktest.AnswerBlock{
		{Reasoning: &bedrocktest.Reasoning{Text: "Two tools.", Signature: "sig-1"}},
		{ToolCall: &bedrocktest.ToolCall{ID: "t1", Name: "weather", Input: `{"city":"Paris"}`}},
		{Text: []string{"And ", "the time."}},
		{ToolCall: &bedrocktest.ToolCall{ID: "t2", Name: "clock"}},
	},
	Usage: &bedrocktest.Usage{In: 20, Out: 9},
}

func TestStreamToolCalls(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(model, interleaved)
	req := userRequest("Weather and time in Paris?")
	req.Tools = []chat.Tool{weather, clock}

	s, err := c.Stream(t.Context(), req)
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	defer s.Close()
	got, err := drain(t, s)
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	tc := func(i int, id, name, args string) chat.Chunk {
		return chat.Chunk{ToolCall: &chat.ToolCallDelta{Index: i, ID: id, Name: name, Arguments: args}}
	}
	want := []chat.Chunk{
		{Reasoning: "Two "}, {Reasoning: "tools."}, {ReasoningSignature: "sig-1"},
		tc(0, "t1", "weather", ""),
		tc(0, "", "", `{"city`), tc(0, "", "", `":"Par`), tc(0, "", "", `is"}`),
		{Text: "And "}, {Text: "the time."},
		tc(1, "t2", "clock", ""),
		tc(1, "", "", "{"), tc(1, "", "", "}"),
		{FinishReason: chat.FinishToolCalls, Usage: &chat.Usage{InputTokens: 20, OutputTokens: 9}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("chunks mismatch (-want +got):\n%s", diff)
	}
}

func TestCompleteToolCalls(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(model, interleaved)
	req := userRequest("Weather and time in Paris?")
	req.Tools = []chat.Tool{weather, clock}

	got, err := c.Complete(t.Context(), req)
	if err != nil {
		t.Fatalf("Complete() error = %v", err)
	}
	want := chat.Completion{
		Choices: []chat.Choice{{
			Message: chat.Message{Role: chat.RoleAssistant, Parts: []chat.Part{
				{Kind: chat.PartReasoning, Text: "Two tools.", Signature: "sig-1"},
				chat.TextPart("And the time."),
				{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "t1", Name: "weather", Arguments: `{"city":"Paris"}`}},
				{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: "t2", Name: "clock", Arguments: `{}`}},
			}},
			FinishReason: chat.FinishToolCalls,
		}},
		Usage: &chat.Usage{InputTokens: 20, OutputTokens: 9},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Complete() mismatch (-want +got):\n%s", diff)
	}
}

func TestRedactedReasoning(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(model, bedrocktest.Script{Reasoning: &bedrocktest.Reasoning{Redacted: []byte{1, 2, 3}}, Chunks: []string{"ok"}})

	s, err := c.Stream(t.Context(), userRequest("hi"))
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	defer s.Close()
	got, err := drain(t, s)
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	if len(got) < 2 || got[0].RedactedReasoning != "\x01\x02\x03" || got[1].Text != "ok" {
		t.Errorf("chunks = %+v, want redacted reasoning \\x01\\x02\\x03, then ok", got)
	}

	comp, err := c.Complete(t.Context(), userRequest("hi"))
	if err != nil {
		t.Fatalf("Complete() error = %v", err)
	}
	want := []chat.Part{{Kind: chat.PartReasoning, Redacted: []byte{1, 2, 3}}, chat.TextPart("ok")}
	if diff := cmp.Diff(want, comp.Choices[0].Message.Parts); diff != "" {
		t.Errorf("Complete() parts mismatch (-want +got):\n%s", diff)
	}
}

// TestAnswerTool checks structured output on a model without it: the forced
// tool's input is the answer, streamed as text deltas, with finish reason stop.
func TestAnswerTool(t *testing.T) {
	personArg := `{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}`
	for _, tt := range []struct {
		name, model string
	}{
		{"forced tool", haiku35},
		{"native", sonnet45},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newClient(t)
			req := &chat.Request{Model: tt.model, Messages: userMessages("Ada"), ResponseFormat: chat.ResponseFormat{
				Type: chat.FormatJSONSchema, Name: "person", Schema: []byte(personArg),
			}}

			s, err := c.Stream(t.Context(), req)
			if err != nil {
				t.Fatalf("Stream() error = %v", err)
			}
			defer s.Close()
			chunks, err := drain(t, s)
			if err != nil {
				t.Fatalf("Next() error = %v", err)
			}
			var text string
			for _, ch := range chunks[:len(chunks)-1] {
				if ch.ToolCall != nil || ch.Text == "" {
					t.Errorf("chunk %+v, want text deltas only", ch)
				}
				text += ch.Text
			}
			if len(chunks) < 3 {
				t.Errorf("got %d chunks, want the answer in several deltas", len(chunks))
			}
			if text != `{"name":"Ada"}` || chunks[len(chunks)-1].FinishReason != chat.FinishStop {
				t.Errorf("streamed %q, finish %q; want {\"name\":\"Ada\"}, stop", text, chunks[len(chunks)-1].FinishReason)
			}

			comp, err := c.Complete(t.Context(), req)
			if err != nil {
				t.Fatalf("Complete() error = %v", err)
			}
			want := chat.Choice{Message: chat.TextMessage(chat.RoleAssistant, `{"name":"Ada"}`), FinishReason: chat.FinishStop}
			if diff := cmp.Diff(want, comp.Choices[0]); diff != "" {
				t.Errorf("Complete() mismatch (-want +got):\n%s", diff)
			}
			forced := srv.Requests()[0].ToolConfig != nil
			if forced != (tt.model == haiku35) {
				t.Errorf("toolConfig sent = %v, want %v", forced, tt.model == haiku35)
			}
		})
	}
}

// TestAgentLoop runs a tool loop against the fake's Auto behaviour: two tool
// calls, then an answer from their results.
func TestAgentLoop(t *testing.T) {
	_, c := newClient(t)
	req := userRequest("Paris")
	req.Tools = []chat.Tool{weather, clock}

	comp, err := c.Complete(t.Context(), req)
	if err != nil {
		t.Fatalf("Complete() error = %v", err)
	}
	msg := comp.Choices[0].Message
	calls := msg.ToolCalls()
	if comp.Choices[0].FinishReason != chat.FinishToolCalls || len(calls) != 2 ||
		calls[0].Name != "weather" || calls[0].Arguments != `{"city":"Paris"}` || calls[1].Name != "clock" {
		t.Fatalf("first answer = %+v, want calls of weather {\"city\":\"Paris\"} and clock", comp.Choices[0])
	}
	req.Messages = append(req.Messages, msg)
	for i, call := range calls {
		req.Messages = append(req.Messages, chat.Message{Role: chat.RoleTool, Parts: []chat.Part{{
			Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{CallID: call.ID, Parts: []chat.Part{chat.TextPart([]string{"18C", "noon"}[i])}},
		}}})
	}

	s, err := c.Stream(t.Context(), req)
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	defer s.Close()
	chunks, err := drain(t, s)
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	var text string
	for _, ch := range chunks {
		text += ch.Text
	}
	if text != "results: 18C; noon" || chunks[len(chunks)-1].FinishReason != chat.FinishStop {
		t.Errorf("second answer = %q, finish %q; want \"results: 18C; noon\", stop", text, chunks[len(chunks)-1].FinishReason)
	}
}

// TestCacheUsage: Bedrock's inputTokens leave the cache out; chat's count it.
func TestCacheUsage(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(model, bedrocktest.Script{Chunks: []string{"x"}, Usage: &bedrocktest.Usage{In: 10, Out: 5, CacheRead: 100, CacheWrite: 20}})
	want := &chat.Usage{InputTokens: 130, OutputTokens: 5, CacheReadTokens: 100, CacheWriteTokens: 20}

	comp, err := c.Complete(t.Context(), userRequest("hi"))
	if err != nil {
		t.Fatalf("Complete() error = %v", err)
	}
	if diff := cmp.Diff(want, comp.Usage); diff != "" {
		t.Errorf("Complete() usage mismatch (-want +got):\n%s", diff)
	}
	s, err := c.Stream(t.Context(), userRequest("hi"))
	if err != nil {
		t.Fatalf("Stream() error = %v", err)
	}
	defer s.Close()
	chunks, err := drain(t, s)
	if err != nil {
		t.Fatalf("Next() error = %v", err)
	}
	if diff := cmp.Diff(want, chunks[len(chunks)-1].Usage); diff != "" {
		t.Errorf("stream usage mismatch (-want +got):\n%s", diff)
	}
}
