package openaitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Request is the decoded JSON body of a chat completions request, as the fake
// understood it: every field the fake knows, so tests can assert what reached
// the upstream. Optional fields the request did not send are nil or zero.
type Request struct {
	Model               string            `json:"model"`
	Messages            []Message         `json:"messages"`
	Tools               []Tool            `json:"tools,omitempty"`
	ToolChoice          *ToolChoice       `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *ResponseFormat   `json:"response_format,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	MaxTokens           int               `json:"max_tokens,omitempty"`
	MaxCompletionTokens int               `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	Stop                Stop              `json:"stop,omitempty"`
	Seed                *int64            `json:"seed,omitempty"`
	PresencePenalty     *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64          `json:"frequency_penalty,omitempty"`
	LogitBias           map[string]int    `json:"logit_bias,omitempty"`
	Logprobs            bool              `json:"logprobs,omitempty"`
	TopLogprobs         *int              `json:"top_logprobs,omitempty"`
	N                   int               `json:"n,omitempty"`
	User                string            `json:"user,omitempty"`
	Metadata            map[string]string `json:"metadata,omitempty"`
	Store               *bool             `json:"store,omitempty"`
	ServiceTier         string            `json:"service_tier,omitempty"`
	Prediction          *Prediction       `json:"prediction,omitempty"`
	Stream              bool              `json:"stream,omitempty"`
	StreamOptions       *StreamOptions    `json:"stream_options,omitempty"`
}

// IncludeUsage reports whether the request asked for a usage chunk at the end of
// the stream.
func (r *Request) IncludeUsage() bool {
	return r.Stream && r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// StreamOptions is the request's stream_options object.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one message of a request. Content holds the text, whether the
// request sent it as a string or as an array of content parts (whose "text"
// parts are joined); Parts holds the array as sent, and is nil when content was
// a string or null. ToolCalls are an assistant message's tool_calls, ToolCallID
// the call a tool message answers.
type Message struct {
	Role       string
	Content    string
	Parts      []ContentPart
	Name       string
	ToolCalls  []ToolCall
	ToolCallID string
}

// ContentPart is one part of a message's content: {"type":"text","text"} or
// {"type":"image_url","image_url":{"url","detail"}} (or another type, recorded
// by its Type alone).
type ContentPart struct {
	Type     string    `json:"type"`
	Text     string    `json:"text,omitempty"`
	ImageURL *ImageURL `json:"image_url,omitempty"`
}

// ImageURL is an image_url part's image: an http(s) URL or a data URL.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// UnmarshalJSON accepts content as a string, null or an array of parts.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw struct {
		Role       string          `json:"role"`
		Content    json.RawMessage `json:"content"`
		Name       string          `json:"name"`
		ToolCalls  []ToolCall      `json:"tool_calls"`
		ToolCallID string          `json:"tool_call_id"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Message{Role: raw.Role, Name: raw.Name, ToolCalls: raw.ToolCalls, ToolCallID: raw.ToolCallID}
	c := bytes.TrimSpace(raw.Content)
	switch {
	case len(c) == 0 || string(c) == "null":
	case c[0] == '[':
		if err := json.Unmarshal(c, &m.Parts); err != nil {
			return err
		}
		var text strings.Builder
		for _, p := range m.Parts {
			if p.Type == "text" {
				text.WriteString(p.Text)
			}
		}
		m.Content = text.String()
	default:
		return json.Unmarshal(c, &m.Content)
	}
	return nil
}

// ToolCall is a call of a function tool: one of an assistant message's
// tool_calls in a request, or one a Script makes. On the wire it is
// {"id","type":"function","function":{"name","arguments"}}.
type ToolCall struct {
	ID        string
	Name      string
	Arguments string // a JSON object, as text
}

type toolCallJSON struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function functionJSON `json:"function"`
}

type functionJSON struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

// MarshalJSON writes the wire form.
func (c ToolCall) MarshalJSON() ([]byte, error) {
	return json.Marshal(toolCallJSON{ID: c.ID, Type: "function", Function: functionJSON{Name: c.Name, Arguments: c.Arguments}})
}

// UnmarshalJSON reads the wire form; the type must be "function".
func (c *ToolCall) UnmarshalJSON(b []byte) error {
	var w toolCallJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type != "function" {
		return fmt.Errorf("openaitest: tool call of type %q, want \"function\"", w.Type)
	}
	*c = ToolCall{ID: w.ID, Name: w.Function.Name, Arguments: w.Function.Arguments}
	return nil
}

// Tool is one of the request's tools, {"type":"function","function":{"name",
// "description","parameters","strict"}}, flattened. Parameters is the JSON
// Schema as sent.
type Tool struct {
	Type        string
	Name        string
	Description string
	Parameters  json.RawMessage
	Strict      *bool
}

// UnmarshalJSON reads the wire form.
func (t *Tool) UnmarshalJSON(b []byte) error {
	var w struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			Parameters  json.RawMessage `json:"parameters"`
			Strict      *bool           `json:"strict"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = Tool{Type: w.Type, Name: w.Function.Name, Description: w.Function.Description, Parameters: w.Function.Parameters, Strict: w.Function.Strict}
	return nil
}

// ToolChoice is the request's tool_choice: Mode is "auto", "none" or
// "required" for the string forms, and "function" for
// {"type":"function","function":{"name"}}, with the tool's Name.
type ToolChoice struct {
	Mode string
	Name string
}

// UnmarshalJSON accepts a string or an object.
func (c *ToolChoice) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		*c = ToolChoice{}
		return json.Unmarshal(b, &c.Mode)
	}
	var w struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Type != "function" {
		return errors.New("openaitest: tool_choice object of a type other than \"function\"")
	}
	*c = ToolChoice{Mode: w.Type, Name: w.Function.Name}
	return nil
}

// ResponseFormat is the request's response_format: Type "text",
// "json_object" or "json_schema" (with JSONSchema).
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is a json_schema response format; Schema is the schema as sent.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// Prediction is the request's prediction, {"type":"content","content"}; an
// array of text parts as content is joined.
type Prediction struct {
	Type    string
	Content string
}

// UnmarshalJSON reads the wire form.
func (p *Prediction) UnmarshalJSON(b []byte) error {
	var w struct {
		Type    string          `json:"type"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = Prediction{Type: w.Type}
	m := Message{}
	if err := m.UnmarshalJSON(fmt.Appendf(nil, `{"content":%s}`, orNull(w.Content))); err != nil {
		return err
	}
	p.Content = m.Content
	return nil
}

func orNull(b json.RawMessage) []byte {
	if len(bytes.TrimSpace(b)) == 0 {
		return []byte("null")
	}
	return b
}

// Stop holds the request's stop sequences, sent as a string or an array.
type Stop []string

// UnmarshalJSON accepts a string or an array of strings.
func (s *Stop) UnmarshalJSON(b []byte) error {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = Stop{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// lastText returns the content of the last message with role, or "".
func (r *Request) lastText(role string) string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == role {
			return r.Messages[i].Content
		}
	}
	return ""
}
