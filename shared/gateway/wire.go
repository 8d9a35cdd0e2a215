package gateway

import (
	"encoding/base64"
	"encoding/json"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/money"
	"github.com/tollgate/tollgate/shared/sse"
)

// OpenAI wire types, with only the fields Tollgate sends.

type openAIUsage struct {
	PromptTokens            int                   `json:"prompt_tokens"`
	CompletionTokens        int                   `json:"completion_tokens"`
	TotalTokens             int                   `json:"total_tokens"`
	PromptTokensDetails     *promptTokensDetails  `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *completionTokDetails `json:"completion_tokens_details,omitempty"`
	Estimated               bool                  `json:"estimated,omitempty"` // Tollgate's: counted, not reported by the provider
}

type promptTokensDetails struct {
	CachedTokens int `json:"cached_tokens"`
	// CacheWriteTokens is Tollgate's: prompt tokens written to the provider's cache
	// (Bedrock and Anthropic report them; OpenAI has no such field).
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

type completionTokDetails struct {
	ReasoningTokens int `json:"reasoning_tokens"`
}

func toOpenAIUsage(u chat.Usage) *openAIUsage {
	out := &openAIUsage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.Total(), Estimated: u.Estimated}
	if u.CacheReadTokens > 0 || u.CacheWriteTokens > 0 {
		out.PromptTokensDetails = &promptTokensDetails{CachedTokens: u.CacheReadTokens, CacheWriteTokens: u.CacheWriteTokens}
	}
	if u.ReasoningTokens > 0 {
		out.CompletionTokensDetails = &completionTokDetails{ReasoningTokens: u.ReasoningTokens}
	}
	return out
}

// openAIMessageOut is a whole answer's message.
type openAIMessageOut struct {
	Role             string              `json:"role"`
	Content          *string             `json:"content"`
	Refusal          *string             `json:"refusal"`
	ToolCalls        []openAIToolCall    `json:"tool_calls,omitempty"`
	FunctionCall     *openAIFunctionCall `json:"function_call,omitempty"`
	ReasoningContent string              `json:"reasoning_content,omitempty"`
	ThinkingBlocks   []thinkingBlock     `json:"thinking_blocks,omitempty"`
	// Annotations are the retrieved files the answer cites (file_search).
	Annotations []fileCitation `json:"annotations,omitempty"`
}

type openAIFunctionCall struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// openAIMessage returns m (an assistant message) in OpenAI's shape.
func openAIMessageFrom(m *chat.Message, refusal string, legacy bool) openAIMessageOut {
	out := openAIMessageOut{Role: chat.RoleAssistant}
	var text []chat.Part
	for i := range m.Parts {
		p := &m.Parts[i]
		switch p.Kind {
		case chat.PartText:
			text = append(text, *p)
		case chat.PartReasoning:
			out.ReasoningContent += p.Text
			switch {
			case len(p.Redacted) > 0:
				out.ThinkingBlocks = append(out.ThinkingBlocks, thinkingBlock{Type: "redacted_thinking", Data: base64.StdEncoding.EncodeToString(p.Redacted)})
			case p.Signature != "":
				out.ThinkingBlocks = append(out.ThinkingBlocks, thinkingBlock{Type: "thinking", Thinking: p.Text, Signature: p.Signature})
			}
		case chat.PartToolCall:
			tc := openAIToolCall{ID: p.ToolCall.ID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = p.ToolCall.Name, p.ToolCall.Arguments
			out.ToolCalls = append(out.ToolCalls, tc)
		}
	}
	if s := chat.JoinText(text); s != "" || len(out.ToolCalls) == 0 && refusal == "" {
		out.Content = &s
	}
	if refusal != "" {
		out.Refusal = &refusal
	}
	if legacy && len(out.ToolCalls) > 0 {
		f := out.ToolCalls[0].Function
		out.FunctionCall = &openAIFunctionCall{Name: f.Name, Arguments: f.Arguments}
		out.ToolCalls = nil
	}
	return out
}

type openAIDelta struct {
	Role             string                `json:"role,omitempty"`
	Content          *string               `json:"content,omitempty"`
	ReasoningContent *string               `json:"reasoning_content,omitempty"`
	Refusal          *string               `json:"refusal,omitempty"`
	ToolCalls        []openAIToolCallDelta `json:"tool_calls,omitempty"`
	FunctionCall     *openAIFunctionCall   `json:"function_call,omitempty"`
	ThinkingBlocks   []thinkingBlock       `json:"thinking_blocks,omitempty"`
	Annotations      []fileCitation        `json:"annotations,omitempty"`
}

type openAIToolCallDelta struct {
	Index    int                `json:"index"`
	ID       string             `json:"id,omitempty"`
	Type     string             `json:"type,omitempty"`
	Function openAIFunctionCall `json:"function"`
}

type openAIChoice struct {
	Index   int               `json:"index"`
	Delta   *openAIDelta      `json:"delta,omitempty"`
	Message *openAIMessageOut `json:"message,omitempty"`
	// Logprobs is a pointer so that its usual null costs no allocation (a nil
	// json.RawMessage's MarshalJSON allocates "null").
	Logprobs     *json.RawMessage `json:"logprobs"`
	FinishReason *string          `json:"finish_reason"`
}

type openAIResponse struct {
	ID      string         `json:"id"`
	Object  string         `json:"object"`
	Created int64          `json:"created"`
	Model   string         `json:"model"`
	Choices []openAIChoice `json:"choices"`
	Usage   *openAIUsage   `json:"usage,omitempty"`
}

// Native (/chat) wire types.

type nativeUsage struct {
	InputTokens      int  `json:"inputTokens"`
	OutputTokens     int  `json:"outputTokens"`
	TotalTokens      int  `json:"totalTokens"`
	CacheReadTokens  int  `json:"cacheReadTokens,omitempty"`
	CacheWriteTokens int  `json:"cacheWriteTokens,omitempty"`
	ReasoningTokens  int  `json:"reasoningTokens,omitempty"`
	Estimated        bool `json:"estimated"`
}

func toNativeUsage(u chat.Usage) nativeUsage {
	return nativeUsage{u.InputTokens, u.OutputTokens, u.Total(), u.CacheReadTokens, u.CacheWriteTokens, u.ReasoningTokens, u.Estimated}
}

// nativeMessage is an assistant message in the native API's shape.
type nativeMessage struct {
	Role      string            `json:"role"`
	Content   string            `json:"content"`
	ToolCalls []nativeToolCall  `json:"toolCalls,omitempty"`
	Reasoning []nativeReasoning `json:"reasoning,omitempty"`
}

type nativeToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type nativeReasoning struct {
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	Redacted  []byte `json:"redacted,omitempty"`
}

func nativeMessageFrom(m *chat.Message) nativeMessage {
	out := nativeMessage{Role: chat.RoleAssistant, Content: m.Text()}
	for i := range m.Parts {
		p := &m.Parts[i]
		switch p.Kind {
		case chat.PartReasoning:
			out.Reasoning = append(out.Reasoning, nativeReasoning{p.Text, p.Signature, p.Redacted})
		case chat.PartToolCall:
			out.ToolCalls = append(out.ToolCalls, nativeToolCall{p.ToolCall.ID, p.ToolCall.Name, p.ToolCall.Arguments})
		}
	}
	return out
}

type nativeResponse struct {
	ID        string        `json:"id"`
	Model     string        `json:"model"`
	Message   nativeMessage `json:"message"`
	Usage     nativeUsage   `json:"usage"`
	LatencyMs float64       `json:"latencyMs"`
	Attempts  int           `json:"attempts"`
	// FinishReason is "stop", "length", "tool_calls" or "content_filter".
	FinishReason string `json:"finishReason"`
	// CostUSD is what the answer cost at its model's price (absent: unpriced).
	CostUSD *money.Micros `json:"costUsd,omitempty"`
	// Citations are the sources retrieved for the request (knowledge), and
	// whether the answer cites each.
	Citations []nativeCitation `json:"citations,omitempty"`
}

type nativeUsageEvent struct {
	nativeUsage
	Model              string        `json:"model"`
	LatencyMs          float64       `json:"latencyMs"`
	TimeToFirstTokenMs float64       `json:"timeToFirstTokenMs"`
	Attempts           int           `json:"attempts"`
	FinishReason       string        `json:"finishReason,omitempty"` // "incomplete" after a failure
	CostUSD            *money.Micros `json:"costUsd,omitempty"`
	Budget             *budgetInfo   `json:"budget,omitempty"`
}

// streamWriter writes one API's streaming wire format.
type streamWriter interface {
	start() error
	// delta writes one chunk's delta (text, reasoning, refusal or a tool-call
	// fragment); a chunk with none writes nothing.
	delta(c *chat.Chunk) error
	keepAlive() error
	// end reports a normal end: each choice's finish reason, and usage.
	end(finishes []string, u chat.Usage) error
	// fail reports a failure after streaming began: usage so far, then the error,
	// in a way no client can take for success.
	fail(u chat.Usage, err error) error
}

// openAIStream writes chat.completion.chunk events ending with [DONE]. It reuses
// one chunk value, so a streamed text delta costs no allocation of its own.
type openAIStream struct {
	x        *exchange
	sw       *sse.Writer
	chunk    openAIResponse
	choice   [1]openAIChoice
	d        openAIDelta
	text     string
	call     [1]openAIToolCallDelta
	fn       openAIFunctionCall
	logprobs json.RawMessage
	started  []bool // choices whose role went out
}

func newOpenAIStream(x *exchange, sw *sse.Writer) *openAIStream {
	s := &openAIStream{x: x, sw: sw, started: make([]bool, x.c.req.Choices())}
	s.chunk = openAIResponse{ID: x.id, Object: "chat.completion.chunk", Created: x.start.Unix(), Model: x.model.String()}
	return s
}

func (s *openAIStream) start() error {
	empty := ""
	s.choice[0] = openAIChoice{Delta: &openAIDelta{Role: chat.RoleAssistant, Content: &empty}}
	s.chunk.Choices = s.choice[:]
	s.started[0] = true
	return s.sw.Data(&s.chunk)
}

func (s *openAIStream) delta(c *chat.Chunk) error {
	s.d = openAIDelta{}
	switch {
	case c.Text != "":
		s.text = c.Text
		s.d.Content = &s.text
	case c.Reasoning != "":
		s.text = c.Reasoning
		s.d.ReasoningContent = &s.text
	case c.Refusal != "":
		s.text = c.Refusal
		s.d.Refusal = &s.text
	case c.ReasoningSignature != "":
		s.d.ThinkingBlocks = []thinkingBlock{{Type: "thinking", Signature: c.ReasoningSignature}}
	case c.RedactedReasoning != "":
		s.d.ThinkingBlocks = []thinkingBlock{{Type: "redacted_thinking", Data: base64.StdEncoding.EncodeToString([]byte(c.RedactedReasoning))}}
	case c.ToolCall != nil:
		tc := c.ToolCall
		if s.x.c.legacyFunctions {
			s.fn = openAIFunctionCall{Name: tc.Name, Arguments: tc.Arguments}
			s.d.FunctionCall = &s.fn
			break
		}
		s.call[0] = openAIToolCallDelta{Index: tc.Index, ID: tc.ID, Function: openAIFunctionCall{Name: tc.Name, Arguments: tc.Arguments}}
		if tc.ID != "" {
			s.call[0].Type = "function"
		}
		s.d.ToolCalls = s.call[:]
	case c.Logprobs == "":
		return nil
	}
	if c.Choice >= 0 && c.Choice < len(s.started) && !s.started[c.Choice] {
		s.started[c.Choice] = true
		s.d.Role = chat.RoleAssistant
	}
	s.choice[0] = openAIChoice{Index: c.Choice, Delta: &s.d}
	if c.Logprobs != "" {
		s.logprobs = json.RawMessage(c.Logprobs)
		s.choice[0].Logprobs = &s.logprobs
	}
	s.chunk.Choices = s.choice[:]
	return s.sw.Data(&s.chunk)
}

func (s *openAIStream) keepAlive() error { return s.sw.Comment("keep-alive") }

func (s *openAIStream) usage(u chat.Usage) error {
	if !s.x.c.includeUsage {
		return nil
	}
	s.chunk.Choices = []openAIChoice{}
	s.chunk.Usage = toOpenAIUsage(u)
	err := s.sw.Data(&s.chunk)
	s.chunk.Usage = nil
	return err
}

func (s *openAIStream) end(finishes []string, u chat.Usage) error {
	if src := s.x.c.req.Sources; len(src) > 0 {
		if cs := citations(s.x.answer.String(), src); len(cs) > 0 {
			s.d = openAIDelta{Annotations: annotationsOf(cs)}
			s.choice[0] = openAIChoice{Index: 0, Delta: &s.d}
			s.chunk.Choices = s.choice[:]
			if err := s.sw.Data(&s.chunk); err != nil {
				return err
			}
		}
	}
	for i, finish := range finishes {
		finish = openAIFinish(finish, s.x.c.legacyFunctions)
		s.d = openAIDelta{}
		s.choice[0] = openAIChoice{Index: i, Delta: &s.d, FinishReason: &finish}
		s.chunk.Choices = s.choice[:]
		if err := s.sw.Data(&s.chunk); err != nil {
			return err
		}
	}
	if err := s.usage(u); err != nil {
		return err
	}
	return s.sw.Done()
}

func (s *openAIStream) fail(u chat.Usage, err error) error {
	if werr := s.usage(u); werr != nil {
		return werr
	}
	return s.sw.Data(apierr.Body(err)) // no [DONE]: the OpenAI SDKs raise this as an error
}

// nativeStream writes /chat's events: delta, reasoning and toolCall..., usage,
// done (or error).
type nativeStream struct {
	x  *exchange
	sw *sse.Writer
	d  struct {
		Text string `json:"text"`
	}
}

type nativeReasoningEvent struct {
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	Redacted  []byte `json:"redacted,omitempty"`
}

func (s *nativeStream) start() error { return nil }

func (s *nativeStream) delta(c *chat.Chunk) error {
	switch {
	case c.Text != "":
		s.d.Text = c.Text
		return s.sw.Event("delta", &s.d)
	case c.Reasoning != "" || c.ReasoningSignature != "" || c.RedactedReasoning != "":
		ev := nativeReasoningEvent{Text: c.Reasoning, Signature: c.ReasoningSignature}
		if c.RedactedReasoning != "" {
			ev.Redacted = []byte(c.RedactedReasoning)
		}
		return s.sw.Event("reasoning", ev)
	case c.ToolCall != nil:
		return s.sw.Event("toolCall", struct {
			Index     int    `json:"index"`
			ID        string `json:"id,omitempty"`
			Name      string `json:"name,omitempty"`
			Arguments string `json:"arguments"`
		}{c.ToolCall.Index, c.ToolCall.ID, c.ToolCall.Name, c.ToolCall.Arguments})
	}
	return nil
}

func (s *nativeStream) keepAlive() error { return s.sw.Comment("keep-alive") }

func (s *nativeStream) usageEvent(u chat.Usage, finish string) error {
	return s.sw.Event("usage", nativeUsageEvent{
		nativeUsage: toNativeUsage(u), Model: s.x.model.String(), Attempts: s.x.attempts,
		LatencyMs: ms(s.x.h.Now().Sub(s.x.start)), TimeToFirstTokenMs: ms(s.x.ttft), FinishReason: finish,
		CostUSD: s.x.costOf(u), Budget: s.x.budget(),
	})
}

func (s *nativeStream) end(finishes []string, u chat.Usage) error {
	if src := s.x.c.req.Sources; len(src) > 0 {
		if err := s.sw.Event("citations", map[string]any{"citations": nativeCitations(s.x.answer.String(), src)}); err != nil {
			return err
		}
	}
	if err := s.usageEvent(u, ""); err != nil {
		return err
	}
	return s.sw.Event("done", map[string]string{"finishReason": finishes[0]})
}

func (s *nativeStream) fail(u chat.Usage, err error) error {
	if werr := s.usageEvent(u, "incomplete"); werr != nil {
		return werr
	}
	return s.sw.Event("error", apierr.Body(err))
}

// costOf is what usage u cost at the answering model's price, nil when it has
// none.
func (x *exchange) costOf(u chat.Usage) *money.Micros {
	if _, ok := x.prices.Lookup(x.model.String()); !ok {
		return nil
	}
	c := x.cost(u)
	return &c
}

// budget returns the budget numbers for the native usage event, nil without any.
func (x *exchange) budget() *budgetInfo {
	if x.budgetInfo == (budgetInfo{}) {
		return nil
	}
	return &x.budgetInfo
}
