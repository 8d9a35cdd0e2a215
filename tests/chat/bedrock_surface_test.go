package chat_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

// thinkingModel is a Bedrock model with Anthropic's extended thinking.
const thinkingModel = "bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0"

type wholeAnswer struct {
	Choices []struct {
		Message struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
			ThinkingBlocks   []struct {
				Type      string `json:"type"`
				Thinking  string `json:"thinking"`
				Signature string `json:"signature"`
			} `json:"thinking_blocks"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		Prompt     int64 `json:"prompt_tokens"`
		Completion int64 `json:"completion_tokens"`
		Total      int64 `json:"total_tokens"`
		Details    *struct {
			Cached     int64 `json:"cached_tokens"`
			CacheWrite int64 `json:"cache_write_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

// TestBedrockReasoning: a reasoning effort becomes Anthropic's thinking budget
// on Bedrock; the reasoning streams as delta.reasoning_content with its
// signature, comes back whole in thinking_blocks, and sent back in the next turn
// reaches Bedrock as a reasoning block with the signature.
func TestBedrockReasoning(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": catalog + "," + thinkingModel})
	key := g.tenant("thinking", nil)
	body := map[string]any{"model": thinkingModel, "messages": userMessage("why is the sky blue"),
		"reasoning_effort": "low", "max_tokens": 4000}

	r := g.do("POST", "/v1/chat/completions", key, body)
	var a wholeAnswer
	if err := json.Unmarshal(r.Body, &a); err != nil || r.Status != 200 || len(a.Choices) != 1 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	msg := a.Choices[0].Message
	if msg.ReasoningContent == "" || len(msg.ThinkingBlocks) != 1 || msg.ThinkingBlocks[0].Signature == "" ||
		msg.ThinkingBlocks[0].Thinking != msg.ReasoningContent || msg.Content != "why is the sky blue" {
		t.Errorf("whole answer with reasoning: %s", r.Body)
	}
	reqs := g.Bedrock.Requests()
	thinking, _ := reqs[len(reqs)-1].AdditionalModelRequestFields["thinking"].(map[string]any)
	if thinking["type"] != "enabled" || thinking["budget_tokens"] != 1200.0 {
		t.Errorf("additionalModelRequestFields = %v, want thinking enabled with 30%% of 4000 tokens", reqs[len(reqs)-1].AdditionalModelRequestFields)
	}

	body["stream"] = true
	r = g.do("POST", "/v1/chat/completions", key, body)
	var reasoning, signature, content strings.Builder
	for _, ev := range parseEvents(t, r.Body) {
		if ev.Data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content          string `json:"content"`
					ReasoningContent string `json:"reasoning_content"`
					ThinkingBlocks   []struct {
						Signature string `json:"signature"`
					} `json:"thinking_blocks"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			t.Fatalf("chunk %s: %v", ev.Data, err)
		}
		for _, ch := range c.Choices {
			if content.Len() > 0 && ch.Delta.ReasoningContent != "" {
				t.Errorf("reasoning after the answer's text: %s", ev.Data)
			}
			reasoning.WriteString(ch.Delta.ReasoningContent)
			content.WriteString(ch.Delta.Content)
			for _, b := range ch.Delta.ThinkingBlocks {
				signature.WriteString(b.Signature)
			}
		}
	}
	// The fake signs each answer with its own request id.
	if reasoning.String() != msg.ReasoningContent || !strings.HasPrefix(signature.String(), "bedrocktest-signature-") ||
		content.String() != "why is the sky blue" {
		t.Errorf("streamed reasoning %q, signature %q, content %q; want the whole answer's, signed", reasoning.String(), signature.String(), content.String())
	}

	// The next turn sends the reasoning back, as multi-turn thinking needs.
	body = map[string]any{"model": thinkingModel, "reasoning_effort": "low", "max_tokens": 4000, "messages": []any{
		map[string]any{"role": "user", "content": "why is the sky blue"},
		map[string]any{"role": "assistant", "content": msg.Content, "thinking_blocks": msg.ThinkingBlocks},
		map[string]any{"role": "user", "content": "and at sunset"},
	}}
	if r := g.do("POST", "/v1/chat/completions", key, body); r.Status != 200 {
		t.Fatalf("second turn: %d %s", r.Status, r.Body)
	}
	reqs = g.Bedrock.Requests()
	sent := reqs[len(reqs)-1].Messages
	if len(sent) != 3 || len(sent[1].Content) == 0 || sent[1].Content[0].ReasoningContent == nil ||
		sent[1].Content[0].ReasoningContent.ReasoningText == nil ||
		sent[1].Content[0].ReasoningContent.ReasoningText.Signature != msg.ThinkingBlocks[0].Signature {
		t.Errorf("second turn reached Bedrock as %+v, want the assistant turn to start with the signed reasoning", sent)
	}
}

// TestPromptCaching: cache_control markers become Bedrock cache points, and the
// cache tokens Bedrock reports reach usage and the tenant's budget.
func TestPromptCaching(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	key := g.tenant("caching", nil)
	g.do("PUT", "/admin/tenants/caching", adminKey, map[string]any{"name": "caching",
		"tokenBudget": map[string]any{"daily": 100000, "monthly": 1000000}})
	g.Bedrock.Set(bedrockID, bedrocktest.Script{Chunks: []string{"cached", " answer"},
		Usage: &bedrocktest.Usage{In: 12, Out: 2, CacheRead: 900, CacheWrite: 100}})
	long := strings.Repeat("You answer questions about the attached manual. ", 40)
	body := map[string]any{"model": bedrockModel, "messages": []any{
		map[string]any{"role": "system", "content": []any{
			map[string]any{"type": "text", "text": long, "cache_control": map[string]any{"type": "ephemeral"}},
		}},
		map[string]any{"role": "user", "content": "what does chapter 2 say"},
	}}
	for _, stream := range []bool{false, true} {
		body["stream"] = stream
		if stream {
			body["stream_options"] = map[string]any{"include_usage": true}
		}
		r := g.do("POST", "/v1/chat/completions", key, body)
		if r.Status != 200 {
			t.Fatalf("stream=%v: %d %s", stream, r.Status, r.Body)
		}
		var a wholeAnswer
		if !stream {
			if err := json.Unmarshal(r.Body, &a); err != nil {
				t.Fatal(err)
			}
		} else {
			evs := parseEvents(t, r.Body)
			if err := json.Unmarshal([]byte(evs[len(evs)-2].Data), &a); err != nil {
				t.Fatalf("usage chunk %s: %v", evs[len(evs)-2].Data, err)
			}
		}
		u := a.Usage
		if u.Prompt != 1012 || u.Completion != 2 || u.Total != 1014 || u.Details == nil || u.Details.Cached != 900 || u.Details.CacheWrite != 100 {
			t.Errorf("stream=%v: usage %+v (details %+v), want 1012 prompt tokens of which 900 read from and 100 written to the cache", stream, u, u.Details)
		}
		reqs := g.Bedrock.Requests()
		sys := reqs[len(reqs)-1].System
		if len(sys) != 2 || sys[0].Text != long || sys[1].CachePoint == nil || sys[1].CachePoint.Type != "default" {
			t.Errorf("stream=%v: system blocks %+v, want the text then a default cache point", stream, sys)
		}
	}
	r := g.do("GET", "/usage", key, nil)
	var used struct {
		Day struct {
			Used int64 `json:"used"`
		} `json:"day"`
	}
	if err := json.Unmarshal(r.Body, &used); err != nil || used.Day.Used != 2*1014 {
		t.Errorf("GET /usage: %s, want 2×1014 tokens charged (cache tokens count)", r.Body)
	}
}
