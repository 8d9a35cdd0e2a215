package gateway

import (
	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/sse"
)

// OpenAI wire types, with only the fields Tollgate sends.

type openAIUsage struct {
	PromptTokens     int  `json:"prompt_tokens"`
	CompletionTokens int  `json:"completion_tokens"`
	TotalTokens      int  `json:"total_tokens"`
	Estimated        bool `json:"estimated,omitempty"` // Tollgate's: counted, not reported by the provider
}

func toOpenAIUsage(u chat.Usage) *openAIUsage {
	return &openAIUsage{u.InputTokens, u.OutputTokens, u.Total(), u.Estimated}
}

type openAIMessageOut struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type openAIDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
}

type openAIChoice struct {
	Index        int               `json:"index"`
	Delta        *openAIDelta      `json:"delta,omitempty"`
	Message      *openAIMessageOut `json:"message,omitempty"`
	Logprobs     *struct{}         `json:"logprobs"`
	FinishReason *string           `json:"finish_reason"`
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
	InputTokens  int  `json:"inputTokens"`
	OutputTokens int  `json:"outputTokens"`
	TotalTokens  int  `json:"totalTokens"`
	Estimated    bool `json:"estimated"`
}

func toNativeUsage(u chat.Usage) nativeUsage {
	return nativeUsage{u.InputTokens, u.OutputTokens, u.Total(), u.Estimated}
}

type nativeResponse struct {
	ID        string           `json:"id"`
	Model     string           `json:"model"`
	Message   openAIMessageOut `json:"message"`
	Usage     nativeUsage      `json:"usage"`
	LatencyMs float64          `json:"latencyMs"`
	Attempts  int              `json:"attempts"`
	// FinishReason is "stop", "length" or "content_filter".
	FinishReason string `json:"finishReason"`
}

type nativeUsageEvent struct {
	nativeUsage
	Model              string      `json:"model"`
	LatencyMs          float64     `json:"latencyMs"`
	TimeToFirstTokenMs float64     `json:"timeToFirstTokenMs"`
	Attempts           int         `json:"attempts"`
	FinishReason       string      `json:"finishReason,omitempty"` // "incomplete" after a failure
	Budget             *budgetInfo `json:"budget,omitempty"`
}

// streamWriter writes one API's streaming wire format.
type streamWriter interface {
	start() error
	delta(text string) error
	keepAlive() error
	// end reports a normal end: finish reason and usage.
	end(finish string, u chat.Usage) error
	// fail reports a failure after streaming began: usage so far, then the error,
	// in a way no client can take for success.
	fail(u chat.Usage, err error) error
}

// openAIStream writes chat.completion.chunk events ending with [DONE]. It reuses
// one chunk value, so a streamed delta costs no allocation of its own.
type openAIStream struct {
	x      *exchange
	sw     *sse.Writer
	chunk  openAIResponse
	choice [1]openAIChoice
	d      openAIDelta
	text   string
}

func newOpenAIStream(x *exchange, sw *sse.Writer) *openAIStream {
	s := &openAIStream{x: x, sw: sw}
	s.chunk = openAIResponse{ID: x.id, Object: "chat.completion.chunk", Created: x.start.Unix(), Model: x.model.String()}
	return s
}

func (s *openAIStream) start() error {
	empty := ""
	s.choice[0] = openAIChoice{Delta: &openAIDelta{Role: chat.RoleAssistant, Content: &empty}}
	s.chunk.Choices = s.choice[:]
	return s.sw.Data(&s.chunk)
}

func (s *openAIStream) delta(text string) error {
	s.text = text
	s.d = openAIDelta{Content: &s.text}
	s.choice[0] = openAIChoice{Delta: &s.d}
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

func (s *openAIStream) end(finish string, u chat.Usage) error {
	s.d = openAIDelta{}
	s.choice[0] = openAIChoice{Delta: &s.d, FinishReason: &finish}
	s.chunk.Choices = s.choice[:]
	if err := s.sw.Data(&s.chunk); err != nil {
		return err
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

// nativeStream writes /chat's events: delta..., usage, done (or error).
type nativeStream struct {
	x  *exchange
	sw *sse.Writer
	d  struct {
		Text string `json:"text"`
	}
}

func (s *nativeStream) start() error { return nil }

func (s *nativeStream) delta(text string) error {
	s.d.Text = text
	return s.sw.Event("delta", &s.d)
}

func (s *nativeStream) keepAlive() error { return s.sw.Comment("keep-alive") }

func (s *nativeStream) usageEvent(u chat.Usage, finish string) error {
	return s.sw.Event("usage", nativeUsageEvent{
		nativeUsage: toNativeUsage(u), Model: s.x.model.String(), Attempts: s.x.attempts,
		LatencyMs: ms(s.x.h.Now().Sub(s.x.start)), TimeToFirstTokenMs: ms(s.x.ttft), FinishReason: finish,
		Budget: s.x.budget(),
	})
}

func (s *nativeStream) end(finish string, u chat.Usage) error {
	if err := s.usageEvent(u, ""); err != nil {
		return err
	}
	return s.sw.Event("done", map[string]string{"finishReason": finish})
}

func (s *nativeStream) fail(u chat.Usage, err error) error {
	if werr := s.usageEvent(u, "incomplete"); werr != nil {
		return werr
	}
	return s.sw.Event("error", apierr.Body(err))
}

// budget returns the budget numbers for the native usage event, nil without any.
func (x *exchange) budget() *budgetInfo {
	if x.budgetInfo == (budgetInfo{}) {
		return nil
	}
	return &x.budgetInfo
}
