package gateway

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	_ "image/gif" // image.DecodeConfig for data URLs
	_ "image/jpeg"
	_ "image/png"
	"strings"

	_ "golang.org/x/image/webp"

	"github.com/tollgate/tollgate/shared/chat"
)

// openAIFinish is the finish reason OpenAI's API gives: "function_call" for a
// tool call answering a request in the legacy functions form.
func openAIFinish(finish string, legacyFunctions bool) string {
	if legacyFunctions && finish == chat.FinishToolCalls {
		return "function_call"
	}
	return finish
}

// openAIMessage is one message of OpenAI's Chat Completions request, in any role.
type openAIMessage struct {
	Role         string           `json:"role"`
	Content      json.RawMessage  `json:"content"`
	Name         string           `json:"name"`
	ToolCalls    []openAIToolCall `json:"tool_calls"`
	ToolCallID   *string          `json:"tool_call_id"`
	FunctionCall *struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function_call"`
	Refusal          *string         `json:"refusal"`
	ReasoningContent *string         `json:"reasoning_content"`
	ThinkingBlocks   []thinkingBlock `json:"thinking_blocks"`
	CacheControl     *cacheControl   `json:"cache_control"`
	// Sent back by clients that replay a parsed answer (openai-node's
	// finalChatCompletion, annotations of search models); ignored.
	Annotations []json.RawMessage `json:"annotations"`
	Parsed      json.RawMessage   `json:"parsed"`
}

// openAIToolCall is a tool call in an assistant message, in requests and answers.
type openAIToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
		// ParsedArguments is what openai-node's helpers add to a replayed
		// call; Arguments is the source of truth, so it is ignored.
		ParsedArguments json.RawMessage `json:"parsed_arguments,omitempty"`
	} `json:"function"`
}

// thinkingBlock is a reasoning block with its signature, as LiteLLM's
// thinking_blocks carry Anthropic's thinking so it can be sent back.
type thinkingBlock struct {
	Type      string `json:"type"` // "thinking" or "redacted_thinking"
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	Data      string `json:"data,omitempty"` // redacted_thinking: base64
}

// cacheControl is the Anthropic-style prompt-cache marker ({"type":"ephemeral"}).
type cacheControl struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

// decodeMessages decodes the messages array. param is its name ("messages").
func decodeMessages(raw []json.RawMessage, param string) ([]chat.Message, error) {
	if len(raw) == 0 {
		return nil, invalid("messages_empty", param, "%s must be a non-empty array", param)
	}
	// One strict decoder reads every message in turn from their concatenation:
	// a decoder (and its buffer) per message cost more than the rest of the
	// decoding. Each raw message is one complete JSON value, so the values
	// cannot run into each other.
	all := []byte(raw[0])
	if len(raw) > 1 {
		n := 0
		for _, r := range raw {
			n += len(r) + 1
		}
		all = make([]byte, 0, n)
		for _, r := range raw {
			all = append(append(all, r...), ' ')
		}
	}
	dec := json.NewDecoder(bytes.NewReader(all))
	dec.DisallowUnknownFields()
	out := make([]chat.Message, 0, len(raw))
	for i := range raw {
		var m openAIMessage
		if err := dec.Decode(&m); err != nil {
			p := fmt.Sprintf("%s[%d]", param, i)
			if strings.Contains(err.Error(), "unknown field") {
				name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
				if name == "audio" {
					return nil, invalid("unsupported_parameter", p+".audio", "%s.audio: audio messages are not supported by this gateway", p)
				}
				return nil, invalid("unknown_parameter", p+"."+name, "%s.%s: unrecognized field", p, name)
			}
			return nil, invalid("invalid_type", p, "%s must be an object with a role and content", p)
		}
		msg, err := decodeMessage(&m, fmt.Sprintf("%s[%d]", param, i))
		if err != nil {
			return nil, err
		}
		out = append(out, msg)
	}
	return out, nil
}

func decodeMessage(m *openAIMessage, p string) (chat.Message, error) {
	msg := chat.Message{Role: m.Role, Name: m.Name}
	var err error
	only := func(field, role string) error {
		return invalid("invalid_value", p+"."+field, "%s.%s is only allowed in %s messages", p, field, role)
	}
	if m.Role != chat.RoleAssistant {
		// In order, so that the first offending field is always the one named.
		for _, f := range [...]struct {
			name string
			set  bool
		}{{"tool_calls", m.ToolCalls != nil}, {"function_call", m.FunctionCall != nil}, {"refusal", m.Refusal != nil},
			{"reasoning_content", m.ReasoningContent != nil}, {"thinking_blocks", m.ThinkingBlocks != nil}} {
			if f.set {
				return msg, only(f.name, chat.RoleAssistant)
			}
		}
	}
	if m.Role != chat.RoleTool && m.ToolCallID != nil {
		return msg, only("tool_call_id", chat.RoleTool)
	}
	switch m.Role {
	case chat.RoleSystem, "developer":
		msg.Role = chat.RoleSystem
		msg.Parts, err = decodeContent(m.Content, p+".content", textOnly)
	case chat.RoleUser:
		msg.Parts, err = decodeContent(m.Content, p+".content", textAndImages)
	case chat.RoleAssistant:
		msg.Parts, err = assistantParts(m, p)
	case chat.RoleTool:
		if m.ToolCallID == nil || *m.ToolCallID == "" {
			return msg, invalid("invalid_value", p+".tool_call_id", "%s.tool_call_id is required in tool messages", p)
		}
		var parts []chat.Part
		if parts, err = decodeContent(m.Content, p+".content", textAndImages); err == nil {
			msg.Parts = []chat.Part{{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{CallID: *m.ToolCallID, Parts: parts}}}
		}
	case "function": // legacy function result: answers the latest call of that name (validate)
		if m.Name == "" {
			return msg, invalid("invalid_value", p+".name", "%s.name is required in function messages", p)
		}
		var parts []chat.Part
		if parts, err = decodeContent(m.Content, p+".content", textOnly); err == nil {
			msg.Role = chat.RoleTool
			msg.Parts = []chat.Part{{Kind: chat.PartToolResult, ToolResult: &chat.ToolResult{CallID: legacyCallPrefix + m.Name, Parts: parts}}}
		}
	default:
		return msg, invalid("invalid_value", p+".role", "%s.role must be system, developer, user, assistant or tool", p)
	}
	if err != nil {
		return msg, err
	}
	if m.CacheControl != nil {
		if err := checkCacheControl(m.CacheControl, p+".cache_control"); err != nil {
			return msg, err
		}
		msg.Parts = append(msg.Parts, chat.Part{Kind: chat.PartCachePoint})
	}
	return msg, nil
}

// legacyCallPrefix makes the call id of a legacy function_call, which has none:
// function messages answer calls by name.
const legacyCallPrefix = "call_fn_"

// assistantParts decodes an assistant message: reasoning, text (or refusal), then
// tool calls. Content may be null when there are tool calls.
func assistantParts(m *openAIMessage, p string) ([]chat.Part, error) {
	var parts []chat.Part
	for i, b := range m.ThinkingBlocks {
		bp := fmt.Sprintf("%s.thinking_blocks[%d]", p, i)
		switch b.Type {
		case "thinking":
			parts = append(parts, chat.Part{Kind: chat.PartReasoning, Text: b.Thinking, Signature: b.Signature})
		case "redacted_thinking":
			data, err := base64.StdEncoding.DecodeString(b.Data)
			if err != nil || len(data) == 0 {
				return nil, invalid("invalid_value", bp+".data", "%s.data must be the base64 of the redacted reasoning", bp)
			}
			parts = append(parts, chat.Part{Kind: chat.PartReasoning, Redacted: data})
		default:
			return nil, invalid("invalid_value", bp+".type", "%s.type must be thinking or redacted_thinking", bp)
		}
	}
	if m.ReasoningContent != nil && *m.ReasoningContent != "" && len(m.ThinkingBlocks) == 0 {
		parts = append(parts, chat.Part{Kind: chat.PartReasoning, Text: *m.ReasoningContent})
	}
	if !isNull(m.Content) {
		content, err := decodeContent(m.Content, p+".content", textOnly)
		if err != nil {
			return nil, err
		}
		parts = append(parts, content...)
	} else if m.Refusal != nil {
		parts = append(parts, chat.TextPart(*m.Refusal))
	}
	for i, tc := range m.ToolCalls {
		tp := fmt.Sprintf("%s.tool_calls[%d]", p, i)
		if tc.Type != "function" {
			return nil, invalid("invalid_value", tp+".type", "%s.type must be function", tp)
		}
		if tc.ID == "" {
			return nil, invalid("invalid_value", tp+".id", "%s.id is required", tp)
		}
		if !toolNamePattern.MatchString(tc.Function.Name) {
			return nil, invalid("invalid_value", tp+".function.name", "%s.function.name must match ^[a-zA-Z0-9_-]{1,64}$", tp)
		}
		args, err := toolArguments(tc.Function.Arguments, tp+".function.arguments")
		if err != nil {
			return nil, err
		}
		parts = append(parts, chat.Part{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args}})
	}
	if fc := m.FunctionCall; fc != nil {
		if len(m.ToolCalls) > 0 {
			return nil, invalid("invalid_value", p+".function_call", "%s: use tool_calls or function_call, not both", p)
		}
		if !toolNamePattern.MatchString(fc.Name) {
			return nil, invalid("invalid_value", p+".function_call.name", "%s.function_call.name must match ^[a-zA-Z0-9_-]{1,64}$", p)
		}
		args, err := toolArguments(fc.Arguments, p+".function_call.arguments")
		if err != nil {
			return nil, err
		}
		parts = append(parts, chat.Part{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: legacyCallPrefix + fc.Name, Name: fc.Name, Arguments: args}})
	}
	if len(parts) == 0 {
		return nil, invalid("invalid_value", p+".content", "%s.content is required unless the message has tool_calls", p)
	}
	return parts, nil
}

// toolArguments checks that a tool call's arguments are a JSON object; an empty
// string (some clients' way of saying none) is {}.
func toolArguments(s, param string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "{}", nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil || obj == nil {
		return "", invalid("invalid_value", param, "%s must be a JSON object, as text", param)
	}
	return s, nil
}

// contentKinds says which parts a message's content may hold.
type contentKinds int

const (
	textOnly contentKinds = iota
	textAndImages
)

// contentPart is one part of a content array.
type contentPart struct {
	Type     string  `json:"type"`
	Text     *string `json:"text"`
	Refusal  *string `json:"refusal"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
	CacheControl *cacheControl   `json:"cache_control"`
	InputAudio   json.RawMessage `json:"input_audio"`
	File         json.RawMessage `json:"file"`
}

// decodeContent accepts a string or an array of parts: text parts, and image_url
// parts where kinds allows. A cache_control on a part adds a cache point after it.
func decodeContent(raw json.RawMessage, param string, kinds contentKinds) ([]chat.Part, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, invalid("invalid_value", param, "%s is required", param)
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("invalid_type", param, "%s must be a string or an array of content parts", param)
		}
		return []chat.Part{chat.TextPart(s)}, nil
	}
	var parts []contentPart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, invalid("invalid_type", param, "%s must be a string or an array of content parts", param)
	}
	out := make([]chat.Part, 0, len(parts))
	for i, cp := range parts {
		pp := fmt.Sprintf("%s[%d]", param, i)
		switch {
		case cp.Type == "text" && cp.Text != nil:
			out = append(out, chat.TextPart(*cp.Text))
		case cp.Type == "refusal" && cp.Refusal != nil:
			out = append(out, chat.TextPart(*cp.Refusal))
		case cp.Type == "image_url" && kinds == textAndImages:
			if cp.ImageURL == nil {
				return nil, invalid("invalid_value", pp+".image_url", "%s.image_url is required", pp)
			}
			img, err := decodeImage(cp.ImageURL.URL, cp.ImageURL.Detail, pp+".image_url")
			if err != nil {
				return nil, err
			}
			out = append(out, chat.Part{Kind: chat.PartImage, Image: img})
		case cp.Type == "image_url":
			return nil, invalid("unsupported_content", pp, "%s: images are only allowed in user and tool messages", pp)
		case cp.Type == "text" || cp.Type == "refusal":
			return nil, invalid("invalid_value", pp+"."+cp.Type, "%s.%s is required", pp, cp.Type)
		case cp.Type == "input_audio" || cp.Type == "file":
			return nil, invalid("unsupported_content", pp, "%s: %s parts are not supported by this gateway (text and image_url are)", pp, cp.Type)
		default:
			return nil, invalid("invalid_value", pp+".type", "%s.type must be text or image_url", pp)
		}
		if cp.CacheControl != nil {
			if err := checkCacheControl(cp.CacheControl, pp+".cache_control"); err != nil {
				return nil, err
			}
			out = append(out, chat.Part{Kind: chat.PartCachePoint})
		}
	}
	return out, nil
}

func checkCacheControl(c *cacheControl, param string) error {
	if c.Type != "ephemeral" {
		return invalid("invalid_value", param+".type", `%s.type must be "ephemeral"`, param)
	}
	if c.TTL != "" && c.TTL != "5m" && c.TTL != "1h" {
		return invalid("invalid_value", param+".ttl", `%s.ttl must be "5m" or "1h"`, param)
	}
	return nil
}

// maxImageBytes bounds one inline image; providers have lower limits of their own
// (Bedrock: 3.75 MB), checked against the model.
const maxImageBytes = 20 << 20

// imageTypes are the inline image types Tollgate accepts.
var imageTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// decodeImage takes an image_url: a base64 data URL (decoded, its type and pixel
// size checked), or an http(s) URL left for providers that fetch images.
func decodeImage(url, detail, param string) (*chat.Image, error) {
	switch detail {
	case "", "auto", "low", "high":
	default:
		return nil, invalid("invalid_value", param+".detail", "%s.detail must be auto, low or high", param)
	}
	up := param + ".url"
	if strings.HasPrefix(url, "https://") || strings.HasPrefix(url, "http://") {
		if len(url) > 8192 {
			return nil, invalid("invalid_value", up, "%s is longer than 8192 characters", up)
		}
		return &chat.Image{URL: url, Detail: detail}, nil
	}
	rest, ok := strings.CutPrefix(url, "data:")
	if !ok {
		return nil, invalid("invalid_image_url", up, "%s must be a data URL (data:image/png;base64,...) or an http(s) URL", up)
	}
	meta, data, ok := strings.Cut(rest, ",")
	mediaType, isBase64 := strings.CutSuffix(meta, ";base64")
	if !ok || !isBase64 {
		return nil, invalid("invalid_image_url", up, "%s: a data URL must be base64 (data:<type>;base64,<data>)", up)
	}
	mediaType, known := imageMediaType(mediaType)
	if !known {
		return nil, invalid("invalid_image_format", up, "%s: the image type must be image/png, image/jpeg, image/gif or image/webp (got %q)", up, clip(mediaType))
	}
	if base64.StdEncoding.DecodedLen(len(data)) > maxImageBytes+3 {
		return nil, invalid("image_too_large", up, "%s: the image is larger than %d MB", up, maxImageBytes>>20)
	}
	b, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		return nil, invalid("invalid_image_url", up, "%s: the data URL is not valid base64", up)
	}
	return inlineImage(mediaType, b, detail, up)
}

// imageMediaType normalises an image's media type and reports whether Tollgate
// takes it.
func imageMediaType(mt string) (string, bool) {
	mt = strings.ToLower(mt)
	if mt == "image/jpg" {
		mt = "image/jpeg"
	}
	return mt, imageTypes[mt]
}

// inlineImage checks an image's bytes (their type must be mediaType, when not
// empty) and returns it with its pixel size.
func inlineImage(mediaType string, b []byte, detail, up string) (*chat.Image, error) {
	if len(b) > maxImageBytes {
		return nil, invalid("image_too_large", up, "%s: the image is larger than %d MB", up, maxImageBytes>>20)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err == nil && mediaType == "" {
		mediaType = "image/" + format
	}
	if err != nil || "image/"+format != mediaType {
		return nil, invalid("invalid_image", up, "%s: the data is not a valid %s image", up, cmp.Or(mediaType, "png, jpeg, gif or webp"))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, invalid("invalid_image", up, "%s: the image has no pixels", up)
	}
	return &chat.Image{MediaType: mediaType, Data: b, Detail: detail, Width: cfg.Width, Height: cfg.Height}, nil
}
