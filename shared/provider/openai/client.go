// Package openai is a client for OpenAI-compatible Chat Completions APIs (OpenAI,
// vLLM, Ollama, LiteLLM and the like). It streams a chat.Request as chat.Chunks,
// always asking for the usage chunk, and classifies every failure as a
// *chat.ProviderError so the gateway can decide on fallback.
package openai

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tollgate/tollgate/shared/chat"
)

// Client calls one OpenAI-compatible API. It is safe for concurrent use.
type Client struct {
	hc       *http.Client
	url      string // baseURL + "/chat/completions"
	embedURL string // baseURL + "/embeddings"
	apiKey   string
	// completionTokens sends the output limit as max_completion_tokens, which
	// OpenAI's reasoning models require, instead of max_tokens, which most
	// OpenAI-compatible servers (vLLM, Ollama, Azure's older API versions) know.
	completionTokens bool
}

// Option configures a Client.
type Option func(*Client)

// MaxCompletionTokens makes the Client send the output limit as
// max_completion_tokens instead of max_tokens.
func MaxCompletionTokens() Option { return func(c *Client) { c.completionTokens = true } }

// New returns a Client for the API at baseURL, such as "https://api.openai.com/v1";
// requests go to baseURL + "/chat/completions". apiKey is sent as a bearer token,
// and not at all when empty. A nil hc means http.DefaultClient.
func New(hc *http.Client, baseURL, apiKey string, opts ...Option) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	base := strings.TrimRight(baseURL, "/")
	c := &Client{
		hc:       hc,
		url:      base + "/chat/completions",
		embedURL: base + "/embeddings",
		apiKey:   apiKey,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Stream sends req with "stream": true and returns the answer as it arrives. It
// returns once the response headers are in: a non-2xx status, a transport
// failure or a deadline is a *chat.ProviderError; a cancelled ctx returns an error
// that wraps context.Canceled. ctx bounds the whole stream; cancelling it ends
// the upstream request.
//
// The stream yields a chunk per piece of text, then one last chunk with the
// finish reason and the usage the provider reported (nil when none), then
// io.EOF. A stream that ends before "data: [DONE]" fails with ErrUnavailable.
func (c *Client) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	resp, err := c.post(ctx, req, true)
	if err != nil {
		return nil, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "application/json" {
		// Some compatible servers answer an error, with status 200, this way.
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		msg, _, _ := parseErrorBody(b)
		return nil, &chat.ProviderError{
			Class:   chat.ErrUnavailable,
			Status:  resp.StatusCode,
			Message: c.clean(msg),
			Err:     errors.New("openai: expected an event stream, got application/json"),
		}
	}
	return newStream(resp.Body, ctx.Done(), c.apiKey), nil
}

// maxCompletionBody bounds a non-streamed answer.
const maxCompletionBody = 32 << 20

// Complete sends req with "stream": false and returns the whole answer. Errors
// are classified as Stream's are.
func (c *Client) Complete(ctx context.Context, req *chat.Request) (chat.Completion, error) {
	resp, err := c.post(ctx, req, false)
	if err != nil {
		return chat.Completion{}, err
	}
	defer resp.Body.Close()
	var out wireCompletion
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCompletionBody)).Decode(&out); err != nil {
		if ctxErr := contextError(ctx, err); ctxErr != nil {
			return chat.Completion{}, ctxErr
		}
		pe := &chat.ProviderError{
			Class:   chat.ErrUnavailable,
			Message: "malformed completion",
			Err:     fmt.Errorf("openai: decode completion: %w", err),
		}
		var syntax *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case isTimeout(err):
			pe.Class, pe.Message = chat.ErrTimeout, ""
		case !errors.As(err, &syntax) && !errors.As(err, &typ):
			pe.Message = "completion cut short"
		}
		return chat.Completion{}, pe
	}
	if isSet(out.Error) {
		return chat.Completion{}, inBandError(out.Error, c.apiKey)
	}
	if len(out.Choices) == 0 {
		return chat.Completion{}, &chat.ProviderError{
			Class:   chat.ErrUnavailable,
			Message: "completion without choices",
			Err:     errors.New("openai: completion without choices"),
		}
	}
	return out.chat(), nil
}

// wireCompletion is a chat.completion object, as far as the gateway needs it.
type wireCompletion struct {
	Choices []wireWholeChoice `json:"choices"`
	Usage   *wireUsage        `json:"usage"`
	Error   json.RawMessage   `json:"error"`
}

type wireWholeChoice struct {
	Index   int `json:"index"`
	Message struct {
		Content string `json:"content"`
		Refusal string `json:"refusal"`
		// ReasoningContent is DeepSeek's and vLLM's field for the reasoning,
		// Reasoning OpenRouter's and Ollama's.
		ReasoningContent string         `json:"reasoning_content"`
		Reasoning        string         `json:"reasoning"`
		ToolCalls        []wireToolCall `json:"tool_calls"`
	} `json:"message"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// chat returns the completion with its choices in order of index: an assistant
// message of reasoning, text and tool-call parts each.
func (w *wireCompletion) chat() chat.Completion {
	slices.SortStableFunc(w.Choices, func(a, b wireWholeChoice) int { return cmp.Compare(a.Index, b.Index) })
	out := chat.Completion{Choices: make([]chat.Choice, len(w.Choices))}
	for i := range w.Choices {
		wc := &w.Choices[i]
		m := &wc.Message
		var parts []chat.Part
		if r := cmp.Or(m.ReasoningContent, m.Reasoning); r != "" {
			parts = append(parts, chat.Part{Kind: chat.PartReasoning, Text: r})
		}
		if m.Content != "" || len(m.ToolCalls) == 0 && m.Refusal == "" && len(parts) == 0 {
			parts = append(parts, chat.TextPart(m.Content))
		}
		for _, tc := range m.ToolCalls {
			parts = append(parts, chat.Part{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{
				ID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments,
			}})
		}
		c := chat.Choice{
			Message:      chat.Message{Role: chat.RoleAssistant, Parts: parts},
			Refusal:      m.Refusal,
			FinishReason: finishReason(wc.FinishReason),
		}
		if isSet(wc.Logprobs) {
			c.Logprobs = wc.Logprobs
		}
		out.Choices[i] = c
	}
	if w.Usage != nil {
		u := w.Usage.chat()
		out.Usage = &u
	}
	return out
}

// wireUsage is the usage object of an answer or of a stream's last chunk.
type wireUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
	// PromptCacheHitTokens is DeepSeek's name for cached_tokens.
	PromptCacheHitTokens int `json:"prompt_cache_hit_tokens"`
}

func (u *wireUsage) chat() chat.Usage {
	cached := u.PromptTokensDetails.CachedTokens
	if cached == 0 {
		cached = u.PromptCacheHitTokens
	}
	return chat.Usage{
		InputTokens:     u.PromptTokens,
		OutputTokens:    u.CompletionTokens,
		CacheReadTokens: cached,
		ReasoningTokens: u.CompletionTokensDetails.ReasoningTokens,
	}
}

// finishReason maps a finish_reason onto chat's vocabulary: the deprecated
// "function_call" is a tool call.
func finishReason(fr string) string {
	if fr == "function_call" {
		return chat.FinishToolCalls
	}
	return fr
}

// post sends req and returns the response when its status is 2xx.
func (c *Client) post(ctx context.Context, req *chat.Request, stream bool) (*http.Response, error) {
	accept := "application/json"
	if stream {
		accept = "text/event-stream"
	}
	return c.send(ctx, c.url, c.newWireRequest(req, stream), accept)
}

// send posts body as JSON to url and returns the response when its status is
// 2xx; failures are *chat.ProviderError, or wrap the context's error.
func (c *Client) send(ctx context.Context, url string, body any, accept string) (*http.Response, error) {
	b, err := json.Marshal(body)
	if err != nil { // a NaN or infinite temperature, say
		return nil, &chat.ProviderError{Class: chat.ErrBadRequest, Err: fmt.Errorf("openai: encode request: %w", err)}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, &chat.ProviderError{Class: chat.ErrUnavailable, Err: fmt.Errorf("openai: %w", err)}
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", accept)
	if c.apiKey != "" {
		hreq.Header.Set("Authorization", "Bearer "+c.apiKey)
	}

	resp, err := c.hc.Do(hreq)
	if err != nil {
		if ctxErr := contextError(ctx, err); ctxErr != nil {
			return nil, ctxErr
		}
		class := chat.ErrUnavailable
		if isTimeout(err) {
			class = chat.ErrTimeout
		}
		return nil, &chat.ProviderError{Class: class, Err: fmt.Errorf("openai: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		return nil, c.statusError(resp)
	}
	return resp, nil
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// statusError classifies a non-2xx answer.
func (c *Client) statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	msg, _, _ := parseErrorBody(b)
	return &chat.ProviderError{
		Class:      statusClass(resp.StatusCode),
		Status:     resp.StatusCode,
		Message:    c.clean(msg),
		RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
}

func statusClass(status int) chat.ErrorClass {
	switch status {
	case http.StatusTooManyRequests:
		return chat.ErrRateLimited
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return chat.ErrBadRequest
	case http.StatusUnauthorized, http.StatusForbidden:
		return chat.ErrAuth
	case http.StatusNotFound:
		return chat.ErrNotFound
	}
	return chat.ErrUnavailable // 408, 5xx and anything unexpected
}

// maxRetryAfter caps a provider's Retry-After.
const maxRetryAfter = 24 * time.Hour

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date. It
// returns 0 when v is empty or malformed.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// parseErrorBody returns the message, type and code of an OpenAI error body,
// {"error":{"message":...,"type":...,"code":...}}, or of the {"error":"..."}
// some compatible servers send. All are "" when b is neither.
func parseErrorBody(b []byte) (msg, typ, code string) {
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &body) != nil {
		return "", "", ""
	}
	return parseError(body.Error)
}

// parseError parses the value of an "error" field: an object or a string. code
// may be a string or a number.
func parseError(raw json.RawMessage) (msg, typ, code string) {
	var e struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(raw, &e) == nil {
		code := string(e.Code)
		if s, err := strconv.Unquote(code); err == nil {
			code = s
		} else if code == "null" {
			code = ""
		}
		return e.Message, e.Type, code
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, "", ""
	}
	return "", "", ""
}

// inBandError classifies an error that arrived in a 2xx answer: unavailable,
// unless the provider says it is a rate limit.
func inBandError(raw json.RawMessage, apiKey string) error {
	msg, typ, code := parseError(raw)
	class := chat.ErrUnavailable
	if strings.Contains(typ, "rate_limit") || strings.Contains(code, "rate_limit") {
		class = chat.ErrRateLimited
	}
	if msg == "" {
		msg = "provider error"
	}
	return &chat.ProviderError{
		Class:   class,
		Message: clean(msg, apiKey),
		Err:     errors.New("openai: error event in the answer"),
	}
}

func isSet(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// contextError returns the error for err when ctx has ended: a cancelled ctx
// gives an error that wraps context.Canceled, a deadline a timeout. It returns
// nil while ctx is live.
func contextError(ctx context.Context, err error) error {
	ctxErr := ctx.Err()
	if ctxErr == nil {
		return nil
	}
	if !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", ctxErr, err)
	}
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return &chat.ProviderError{Class: chat.ErrTimeout, Err: fmt.Errorf("openai: %w", err)}
	}
	return fmt.Errorf("openai: %w", err)
}

// isTimeout reports whether err is a network or client timeout, such as
// http.Client.Timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// maxMessage bounds the provider message kept in an error.
const maxMessage = 500

func (c *Client) clean(msg string) string { return clean(msg, c.apiKey) }

// clean makes a provider's message safe to show: no trace of an API key (ours,
// or one the provider echoes, masked or not, as "sk-..."), valid UTF-8 and at
// most maxMessage bytes.
func clean(msg, apiKey string) string {
	if len(apiKey) >= 8 {
		msg = strings.ReplaceAll(msg, apiKey, "[redacted]")
	}
	if strings.Contains(msg, "sk-") {
		var b strings.Builder
		for {
			i := strings.Index(msg, "sk-")
			if i < 0 {
				break
			}
			end := i + len("sk-")
			for end < len(msg) && isKeyByte(msg[end]) {
				end++
			}
			b.WriteString(msg[:i])
			b.WriteString("[redacted]")
			msg = msg[end:]
		}
		b.WriteString(msg)
		msg = b.String()
	}
	msg = strings.ToValidUTF8(strings.TrimSpace(msg), "\uFFFD")
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// isKeyByte reports whether b may be part of an API key, masked or not.
func isKeyByte(b byte) bool {
	return b == '-' || b == '_' || b == '*' ||
		'0' <= b && b <= '9' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z'
}
