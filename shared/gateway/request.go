package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
)

// call is a decoded and validated chat request, whichever API it came from: the
// provider-neutral chat.Request (without a model: each attempt copies it and
// sets its own), and what only the gateway acts on.
type call struct {
	req          chat.Request // MaxTokens 0: DEFAULT_MAX_OUTPUT_TOKENS
	native       bool         // POST /chat rather than /v1/chat/completions
	model        string       // the model the client asked for, if any
	stream       bool
	includeUsage bool // OpenAI stream_options.include_usage
	sessionID    string
}

// openAIRequest is the subset of OpenAI's Chat Completions request Tollgate serves.
// Parameters it cannot honour are listed in unsupported and refused with a 400,
// never dropped silently.
type openAIRequest struct {
	Model         string            `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Stream        *bool             `json:"stream"`
	StreamOptions *struct {
		IncludeUsage *bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	User                string          `json:"user"`
	N                   *int64          `json:"n"`
}

// unsupported maps OpenAI parameters the gateway refuses to what to say about them.
var unsupported = map[string]string{
	"tools": "tool calling", "tool_choice": "tool calling", "functions": "function calling",
	"function_call": "function calling", "parallel_tool_calls": "tool calling",
	"response_format": "structured output", "logprobs": "log probabilities",
	"top_logprobs": "log probabilities", "audio": "audio output", "modalities": "non-text modalities",
	"prediction": "predicted outputs", "web_search_options": "web search", "seed": "seeded sampling",
	"logit_bias": "logit bias", "presence_penalty": "presence penalty", "frequency_penalty": "frequency penalty",
	"reasoning_effort": "reasoning effort", "service_tier": "service tiers", "store": "stored completions",
	"metadata": "stored completion metadata",
}

func invalid(code, param, format string, args ...any) error {
	return apierr.InvalidParam(code, param, fmt.Sprintf(format, args...))
}

// decodeOpenAI parses and validates a /v1/chat/completions body.
func decodeOpenAI(body []byte) (*call, error) {
	var req openAIRequest
	if err := strictDecode(body, &req); err != nil {
		return nil, err
	}
	c := &call{model: req.Model, req: chat.Request{User: req.User, Temperature: req.Temperature, TopP: req.TopP}}
	if req.Stream != nil {
		c.stream = *req.Stream
	}
	if req.StreamOptions != nil {
		if !c.stream {
			return nil, invalid("invalid_value", "stream_options", "stream_options is only allowed when stream is true")
		}
		c.includeUsage = req.StreamOptions.IncludeUsage != nil && *req.StreamOptions.IncludeUsage
	}
	if req.N != nil && *req.N != 1 {
		return nil, invalid("unsupported_parameter", "n", "n must be 1: Tollgate returns one choice per request")
	}
	var err error
	if c.req.Messages, err = openAIMessages(req.Messages); err != nil {
		return nil, err
	}
	mt := req.MaxCompletionTokens
	param := "max_completion_tokens"
	if mt == nil {
		mt, param = req.MaxTokens, "max_tokens"
	}
	if c.req.MaxTokens, err = maxTokens(mt, param); err != nil {
		return nil, err
	}
	if c.req.Stop, err = decodeStop(req.Stop); err != nil {
		return nil, err
	}
	return c, sampling(&c.req)
}

// strictDecode decodes one JSON object into v, refusing unknown and unsupported
// fields with a 400 that names them.
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return invalid("invalid_type", typeErr.Field, "%s must be %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if what, ok := unsupported[name]; ok {
			return invalid("unsupported_parameter", name, "%s: %s is not supported by this gateway", name, what)
		}
		return invalid("unknown_parameter", name, "unrecognized request argument supplied: %s", name)
	}
	return invalid("invalid_json", "", "the request body is not a valid JSON object: %v", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}

// openAIMessage is one message; content is a string or an array of text parts.
type openAIMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
	Name    string          `json:"name"`
}

func openAIMessages(raw []json.RawMessage) ([]chat.Message, error) {
	if len(raw) == 0 {
		return nil, invalid("messages_empty", "messages", "messages must be a non-empty array")
	}
	out := make([]chat.Message, len(raw))
	for i, r := range raw {
		param := fmt.Sprintf("messages[%d]", i)
		var m openAIMessage
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			if strings.Contains(err.Error(), "unknown field") {
				name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
				return nil, invalid("unsupported_parameter", param+"."+name, "%s.%s is not supported by this gateway (tool calls, audio and refusals are not)", param, name)
			}
			return nil, invalid("invalid_type", param, "%s must be an object with role and content", param)
		}
		role := m.Role
		switch role {
		case chat.RoleSystem, chat.RoleUser, chat.RoleAssistant:
		case "developer":
			role = chat.RoleSystem
		case "tool", "function":
			return nil, invalid("unsupported_parameter", param+".role", "%s.role: %q messages are not supported (no tool calling)", param, m.Role)
		default:
			return nil, invalid("invalid_value", param+".role", "%s.role must be system, developer, user or assistant", param)
		}
		text, err := content(m.Content, param+".content")
		if err != nil {
			return nil, err
		}
		out[i] = chat.TextMessage(role, text)
	}
	return out, nil
}

// content accepts a string or an array of {"type":"text","text":...} parts.
func content(raw json.RawMessage, param string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", invalid("invalid_value", param, "%s is required", param)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", invalid("invalid_type", param, "%s must be a string or an array of text parts", param)
		}
		return s, nil
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", invalid("invalid_type", param, "%s must be a string or an array of text parts", param)
	}
	var b strings.Builder
	for i, p := range parts {
		if p.Type != "text" || p.Text == nil {
			return "", invalid("unsupported_content", fmt.Sprintf("%s[%d]", param, i),
				"%s[%d]: only text parts are supported (got type %q; images, audio and files are not)", param, i, p.Type)
		}
		b.WriteString(*p.Text)
	}
	return b.String(), nil
}

func maxTokens(v *int64, param string) (int, error) {
	if v == nil {
		return 0, nil
	}
	if *v < 1 || *v > math.MaxInt32 {
		return 0, invalid("invalid_value", param, "%s must be a positive integer", param)
	}
	return int(*v), nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) > 4 {
		return nil, invalid("invalid_value", "stop", "stop must be a string or an array of at most 4 strings")
	}
	return many, nil
}

func sampling(r *chat.Request) error {
	if r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2) {
		return invalid("invalid_value", "temperature", "temperature must be between 0 and 2")
	}
	if r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1) {
		return invalid("invalid_value", "top_p", "top_p must be between 0 and 1")
	}
	return nil
}

// nativeRequest is the body of POST /chat.
type nativeRequest struct {
	Messages    []json.RawMessage `json:"messages"`
	ModelID     string            `json:"modelId"`
	SessionID   string            `json:"sessionId"`
	Stream      bool              `json:"stream"`
	MaxTokens   *int64            `json:"maxTokens"`
	Temperature *float64          `json:"temperature"`
	TopP        *float64          `json:"topP"`
	Stop        json.RawMessage   `json:"stopSequences"`
}

var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// decodeNative parses and validates a /chat body.
func decodeNative(body []byte) (*call, error) {
	var req nativeRequest
	if err := strictDecode(body, &req); err != nil {
		return nil, err
	}
	c := &call{native: true, model: req.ModelID, stream: req.Stream, sessionID: req.SessionID,
		req: chat.Request{Temperature: req.Temperature, TopP: req.TopP}}
	if req.SessionID != "" && !sessionIDPattern.MatchString(req.SessionID) {
		return nil, invalid("invalid_session_id", "sessionId", "sessionId must match [A-Za-z0-9_-]{1,128}")
	}
	var err error
	if c.req.Messages, err = openAIMessages(req.Messages); err != nil {
		return nil, err
	}
	if c.req.MaxTokens, err = maxTokens(req.MaxTokens, "maxTokens"); err != nil {
		return nil, err
	}
	if c.req.Stop, err = decodeStop(req.Stop); err != nil {
		return nil, invalid("invalid_value", "stopSequences", "stopSequences must be a string or an array of at most 4 strings")
	}
	if c.req.TopP != nil && (*c.req.TopP < 0 || *c.req.TopP > 1) {
		return nil, invalid("invalid_value", "topP", "topP must be between 0 and 1")
	}
	if c.req.Temperature != nil && (*c.req.Temperature < 0 || *c.req.Temperature > 2) {
		return nil, invalid("invalid_value", "temperature", "temperature must be between 0 and 2")
	}
	return c, nil
}
