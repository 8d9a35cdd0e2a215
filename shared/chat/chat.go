// Package chat holds the vocabulary every part of Tollgate shares about a chat
// completion: messages as typed content parts (text, images, tool calls and
// results, reasoning, cache points), the request a provider receives (with tools,
// tool choice and response format), the deltas it streams back, token usage, and
// the classified errors that drive fallback. Front ends decode into it; each
// provider owns its wire types and translates. It has no JSON tags. It imports nothing from the
// project, as io imports nothing from its users.
package chat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Roles a message may have.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	// RoleTool is a message that answers tool calls: its parts are tool results.
	RoleTool = "tool"
)

// PartKind says what a Part holds.
type PartKind uint8

// The kinds of part.
const (
	PartText       PartKind = iota // Text
	PartImage                      // Image
	PartToolCall                   // ToolCall (assistant messages)
	PartToolResult                 // ToolResult (tool messages)
	PartReasoning                  // Text, with Signature or Redacted (assistant messages)
	PartCachePoint                 // a prompt-cache breakpoint after the parts before it
)

func (k PartKind) String() string {
	switch k {
	case PartText:
		return "text"
	case PartImage:
		return "image"
	case PartToolCall:
		return "tool_call"
	case PartToolResult:
		return "tool_result"
	case PartReasoning:
		return "reasoning"
	case PartCachePoint:
		return "cache_point"
	}
	return fmt.Sprintf("PartKind(%d)", int(k))
}

// Part is one typed block of a message's content.
type Part struct {
	Kind PartKind
	// Text is the text of a text part and of a reasoning part.
	Text string
	// Signature is a reasoning part's provider signature (Anthropic's thinking
	// signature), which must be sent back unchanged with the next turn; Redacted
	// holds reasoning the provider returned encrypted instead of as text.
	Signature string
	Redacted  []byte

	Image      *Image
	ToolCall   *ToolCall
	ToolResult *ToolResult
}

// TextPart returns a text part.
func TextPart(s string) Part { return Part{Kind: PartText, Text: s} }

// Image is an image in a prompt: inline bytes, or a URL for providers that fetch.
type Image struct {
	MediaType string // image/png, image/jpeg, image/gif or image/webp; "" for a URL of unknown type
	Data      []byte // the decoded bytes of an inline (data URL) image
	URL       string // an http(s) URL, when the image is not inline
	Detail    string // OpenAI's detail: "", "auto", "low" or "high"
	// Width and Height are the pixel size of an inline image (0 for a URL).
	Width, Height int
}

// ToolCall is a model's call of a tool.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // a JSON object, as text
}

// ToolResult answers the tool call CallID.
type ToolResult struct {
	CallID  string
	Parts   []Part // text and image parts
	IsError bool
}

// Message is one turn of a conversation: a role and typed parts. System and
// user messages hold text (users also images); assistant messages hold reasoning,
// text and tool calls; tool messages hold tool results.
type Message struct {
	Role  string
	Parts []Part
	Name  string // OpenAI's optional participant name
}

// TextMessage returns a message of one text part.
func TextMessage(role, text string) Message {
	return Message{Role: role, Parts: []Part{TextPart(text)}}
}

// Text returns the concatenated text parts of m.
func (m *Message) Text() string { return JoinText(m.Parts) }

// JoinText returns the concatenated text of the text parts of parts.
func JoinText(parts []Part) string {
	if len(parts) == 1 && parts[0].Kind == PartText {
		return parts[0].Text
	}
	var b strings.Builder
	for i := range parts {
		if parts[i].Kind == PartText {
			b.WriteString(parts[i].Text)
		}
	}
	return b.String()
}

// ToolCalls returns the tool calls of m, in order.
func (m *Message) ToolCalls() []ToolCall {
	var out []ToolCall
	for i := range m.Parts {
		if p := &m.Parts[i]; p.Kind == PartToolCall && p.ToolCall != nil {
			out = append(out, *p.ToolCall)
		}
	}
	return out
}

// Tool is a function the model may call.
type Tool struct {
	Name        string
	Description string
	Parameters  []byte // a JSON Schema object, as JSON; nil when the tool takes none
	Strict      bool
	// CachePoint asks for a prompt-cache breakpoint after this tool.
	CachePoint bool
}

// ToolChoiceMode says whether and how the model must call a tool.
type ToolChoiceMode uint8

// The modes. The zero value leaves the choice to the provider's default (auto
// when tools are offered).
const (
	ToolChoiceDefault  ToolChoiceMode = iota
	ToolChoiceAuto                    // the model decides
	ToolChoiceNone                    // the model must not call a tool
	ToolChoiceRequired                // the model must call at least one tool
	ToolChoiceNamed                   // the model must call the tool Name
)

// ToolChoice is the request's tool choice.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // ToolChoiceNamed only
}

// FormatType is the kind of output a request asks for.
type FormatType uint8

// The formats. The zero value is free text.
const (
	FormatText       FormatType = iota
	FormatJSONObject            // any JSON object
	FormatJSONSchema            // a JSON value valid for Schema
)

// ResponseFormat is the request's structured-output setting.
type ResponseFormat struct {
	Type        FormatType
	Name        string // json_schema: the schema's name
	Description string
	Schema      []byte // json_schema: the JSON Schema, as JSON
	Strict      bool
}

// Request is what a provider is asked to complete. Model is the provider's own model
// name (the part after "provider/"), never the full Tollgate name. A front end
// decodes and validates one Request; each attempt copies it and sets Model.
type Request struct {
	Model    string
	Messages []Message // system messages included, in order
	// Sources are passages the gateway retrieved for the request (file_search),
	// already in Messages as the system message SourcesMessage makes; providers
	// need not read them (echo answers from them).
	Sources []Source

	Tools             []Tool
	ToolChoice        ToolChoice
	ParallelToolCalls *bool // nil: the provider's default (parallel allowed)
	ResponseFormat    ResponseFormat
	ReasoningEffort   string // "", "minimal", "low", "medium" or "high"

	MaxTokens        int // > 0: the upper bound of output tokens per choice
	Temperature      *float64
	TopP             *float64
	Stop             []string
	Seed             *int64
	PresencePenalty  *float64
	FrequencyPenalty *float64
	LogitBias        map[string]int // token id -> bias (-100..100)
	Logprobs         bool
	TopLogprobs      *int // 0..20, with Logprobs
	N                int  // choices to generate; 0 means 1

	User        string
	Metadata    map[string]string
	Store       *bool
	ServiceTier string
	Prediction  string // predicted output content, for providers that use it
}

// Choices returns how many choices req asks for: N, at least 1.
func (r *Request) Choices() int { return max(r.N, 1) }

// Finish reasons, in OpenAI's vocabulary.
const (
	FinishStop   = "stop"
	FinishLength = "length"
	// FinishToolCalls is reported when the model stopped to call tools.
	FinishToolCalls = "tool_calls"
	// FinishContentFilter is reported when the provider withheld content.
	FinishContentFilter = "content_filter"
)

// Chunk is one delta of a streamed answer. A provider's stream yields deltas (text,
// reasoning, refusal text or a tool-call fragment, each for choice Choice), then a
// final chunk with FinishReason and, when the provider reports it, Usage. With
// several choices, each choice's finish comes in a chunk of its own (Usage on the
// last).
type Chunk struct {
	Choice    int // 0 unless the request asked for several choices
	Text      string
	Reasoning string
	// ReasoningSignature ends a reasoning block (Anthropic's thinking signature);
	// RedactedReasoning is a block of encrypted reasoning (raw bytes).
	ReasoningSignature string
	RedactedReasoning  string
	Refusal            string
	ToolCall           *ToolCallDelta
	Logprobs           string // the provider's logprobs for this delta, as OpenAI JSON
	FinishReason       string // set on a choice's last chunk only
	Usage              *Usage // set on the last chunk only, when the provider reports usage
}

// ToolCallDelta is a fragment of a streamed tool call. Index counts a choice's tool
// calls densely from 0; the first fragment of a call carries its ID and Name,
// later ones only more Arguments text.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}

// Completion is a whole answer from a non-streaming call: one choice per requested
// choice, in order.
type Completion struct {
	Choices []Choice
	Usage   *Usage // nil when the provider reported none
}

// Choice is one whole answer: an assistant message (reasoning, text and tool
// calls), with its finish reason.
type Choice struct {
	Message      Message
	Refusal      string
	FinishReason string
	Logprobs     []byte // as OpenAI JSON, when asked for and reported
}

// TextCompletion returns a completion of one text choice.
func TextCompletion(text, finish string, u *Usage) Completion {
	return Completion{Choices: []Choice{{Message: TextMessage(RoleAssistant, text), FinishReason: finish}}, Usage: u}
}

// Usage counts the tokens of one completion. InputTokens counts every prompt
// token, cached ones included; CacheReadTokens and CacheWriteTokens are the
// parts of it read from and written to the provider's prompt cache.
// ReasoningTokens is the part of OutputTokens spent on reasoning.
type Usage struct {
	InputTokens      int
	OutputTokens     int
	CacheReadTokens  int
	CacheWriteTokens int
	ReasoningTokens  int
	Estimated        bool // true when Tollgate counted, not the provider
}

// Total returns input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Stream is a provider's answer in progress. Next returns io.EOF after the last
// chunk. Close releases the connection; it is safe to call more than once.
type Stream interface {
	Next(ctx context.Context) (Chunk, error)
	Close() error
}

type traceKey struct{}

// WithTraceID returns ctx carrying the request's AWS X-Ray trace header
// (X-Amzn-Trace-Id), which providers on AWS forward with their calls.
func WithTraceID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return context.WithValue(ctx, traceKey{}, id)
}

// TraceID returns the trace header carried by ctx, or "".
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceKey{}).(string)
	return id
}

// ErrorClass is the small set of provider failures the gateway decides on.
type ErrorClass int

// The classes. Retryable reports which ones fallback may retry on another model.
const (
	ErrUnavailable ErrorClass = iota // 5xx, connection refused or cut, malformed answer
	ErrRateLimited                   // provider said 429 or throttled
	ErrTimeout                       // no answer (or no first token) in time
	ErrBadRequest                    // provider rejected the request itself (400)
	ErrAuth                          // provider refused our credentials (401/403)
	ErrNotFound                      // provider does not know the model (404)
)

func (c ErrorClass) String() string {
	switch c {
	case ErrUnavailable:
		return "unavailable"
	case ErrRateLimited:
		return "rate_limited"
	case ErrTimeout:
		return "timeout"
	case ErrBadRequest:
		return "bad_request"
	case ErrAuth:
		return "auth"
	case ErrNotFound:
		return "not_found"
	}
	return fmt.Sprintf("ErrorClass(%d)", int(c))
}

// Retryable reports whether another attempt (on a fallback model) may succeed.
func (c ErrorClass) Retryable() bool {
	return c == ErrUnavailable || c == ErrRateLimited || c == ErrTimeout
}

// ProviderError is a classified provider failure. Message is the provider's own text,
// safe to show a client (it never holds credentials); Err is the cause, for logs.
type ProviderError struct {
	Class      ErrorClass
	Status     int           // upstream HTTP status, when there was one
	Message    string        // provider's message, client-safe
	RetryAfter time.Duration // from the provider's Retry-After, when given
	Err        error
}

func (e *ProviderError) Error() string {
	msg := "provider " + e.Class.String()
	if e.Status != 0 {
		msg += fmt.Sprintf(" (status %d)", e.Status)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ProviderError) Unwrap() error { return e.Err }

// LogValue keeps the provider's message out of logs: it is the client's to see
// (it may quote the prompt, as validation errors do), not the operator's. The
// log holds the class, the status, the cause, and the message's length.
func (e *ProviderError) LogValue() slog.Value { return slog.StringValue(logText(e)) }

// LogValue is what a log line holds of err: its text, with the message of any
// ProviderError in its chain withheld (see ProviderError.LogValue).
func LogValue(err error) slog.Value {
	var pe *ProviderError
	if err == nil || !errors.As(err, &pe) {
		return slog.AnyValue(err)
	}
	return slog.StringValue(logText(err))
}

// logText is err's text with every ProviderError message in its chain
// replaced by its length.
func logText(err error) string {
	text := err.Error()
	for e := err; e != nil; e = errors.Unwrap(e) {
		if pe, ok := e.(*ProviderError); ok && pe.Message != "" {
			text = strings.ReplaceAll(text, pe.Message, fmt.Sprintf("[provider message withheld, %d bytes]", len(pe.Message)))
		}
	}
	return text
}

// ClassOf returns the class of err: its ProviderError's class, ErrTimeout for a
// deadline, and ErrUnavailable for anything else.
func ClassOf(err error) ErrorClass {
	var pe *ProviderError
	if errors.As(err, &pe) {
		return pe.Class
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return ErrTimeout
	}
	return ErrUnavailable
}

// Issue is something a provider cannot do with a request, found before the call.
// Param names the request parameter in OpenAI's vocabulary ("seed",
// "parallel_tool_calls", or a path such as "messages[2].content[0]").
// A Droppable issue is an optional parameter the provider cannot honour: the
// gateway refuses the request, or, where the deployment or tenant chose so,
// drops the parameter (Request.Drop) and says so. Any other issue makes the
// request impossible on that provider (an image over its size limit, say).
type Issue struct {
	Param     string
	Message   string
	Droppable bool
}

// Drop clears the optional parameter param (an Issue's Param) from r, so a
// provider that cannot honour it can take the request. It reports whether param
// names such a parameter.
func (r *Request) Drop(param string) bool {
	switch param {
	case "n":
		r.N = 0
	case "seed":
		r.Seed = nil
	case "presence_penalty":
		r.PresencePenalty = nil
	case "frequency_penalty":
		r.FrequencyPenalty = nil
	case "logit_bias":
		r.LogitBias = nil
	case "logprobs":
		r.Logprobs, r.TopLogprobs = false, nil
	case "top_logprobs":
		r.TopLogprobs = nil
	case "prediction":
		r.Prediction = ""
	case "service_tier":
		r.ServiceTier = ""
	case "store":
		r.Store = nil
	case "metadata":
		r.Metadata = nil
	case "parallel_tool_calls":
		r.ParallelToolCalls = nil
	case "reasoning_effort":
		r.ReasoningEffort = ""
	case "response_format":
		r.ResponseFormat = ResponseFormat{}
	case "tool_choice":
		r.ToolChoice = ToolChoice{}
	case "temperature":
		r.Temperature = nil
	case "top_p":
		r.TopP = nil
	case "stop":
		r.Stop = nil
	case "user":
		r.User = ""
	default:
		return false
	}
	return true
}

// ContentIndex returns the index part j of parts has in its message's content
// on the wire, where a cache point marks the part before it instead of being a
// part of its own (OpenAI's and Anthropic's cache_control). Parameter paths
// (messages[i].content[k]) use it.
func ContentIndex(parts []Part, j int) int {
	k := 0
	for i := 0; i < j && i < len(parts); i++ {
		if parts[i].Kind != PartCachePoint {
			k++
		}
	}
	return k
}

// Source is a passage retrieved from a tenant's vector store for a request.
type Source struct {
	FileID, Filename, Text string
	Score                  float64
}

// SourcesInstruction opens the system message of retrieved sources.
const SourcesInstruction = "Answer using the numbered sources below when they are relevant. " +
	"Cite each source you use by its number in square brackets, like [1], right after the sentence it supports. " +
	"If the sources do not hold the answer, say so."

// SourcesMessage is the system message that gives a model the retrieved
// sources: SourcesInstruction, then each source numbered from 1 with its file
// name.
func SourcesMessage(sources []Source) Message {
	var b strings.Builder
	b.WriteString(SourcesInstruction)
	b.WriteString("\n\nSources:")
	for i, s := range sources {
		fmt.Fprintf(&b, "\n\n[%d] (file: %s)\n%s", i+1, s.Filename, s.Text)
	}
	return TextMessage(RoleSystem, b.String())
}
