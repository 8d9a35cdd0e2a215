package openai

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/tollgate/tollgate/shared/chat"
)

// wireRequest is the request body; unset optional fields are omitted.
type wireRequest struct {
	Model             string            `json:"model"`
	Messages          []wireMessage     `json:"messages"`
	Tools             []wireTool        `json:"tools,omitempty"`
	ToolChoice        any               `json:"tool_choice,omitempty"` // a string or *wireNamedChoice
	ParallelToolCalls *bool             `json:"parallel_tool_calls,omitempty"`
	ResponseFormat    *wireFormat       `json:"response_format,omitempty"`
	ReasoningEffort   string            `json:"reasoning_effort,omitempty"`
	MaxTokens         int               `json:"max_tokens,omitempty"`
	MaxCompTokens     int               `json:"max_completion_tokens,omitempty"`
	Temperature       *float64          `json:"temperature,omitempty"`
	TopP              *float64          `json:"top_p,omitempty"`
	Stop              []string          `json:"stop,omitempty"`
	Seed              *int64            `json:"seed,omitempty"`
	PresencePenalty   *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty  *float64          `json:"frequency_penalty,omitempty"`
	LogitBias         map[string]int    `json:"logit_bias,omitempty"`
	Logprobs          bool              `json:"logprobs,omitempty"`
	TopLogprobs       *int              `json:"top_logprobs,omitempty"`
	N                 int               `json:"n,omitempty"`
	User              string            `json:"user,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	Store             *bool             `json:"store,omitempty"`
	ServiceTier       string            `json:"service_tier,omitempty"`
	Prediction        *wirePrediction   `json:"prediction,omitempty"`
	Stream            bool              `json:"stream"`
	StreamOptions     *streamOptions    `json:"stream_options,omitempty"`
}

// wireMessage is one message of the request. Content is a string, a
// []wirePart, or nil for null (an assistant message with tool calls only).
type wireMessage struct {
	Role       string         `json:"role"`
	Content    any            `json:"content"`
	Name       string         `json:"name,omitempty"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

// wirePart is one content part: {"type":"text","text"} or
// {"type":"image_url","image_url":{"url","detail"}}.
type wirePart struct {
	Type     string        `json:"type"`
	Text     *string       `json:"text,omitempty"`
	ImageURL *wireImageURL `json:"image_url,omitempty"`
}

type wireImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// wireToolCall is a tool call of an assistant message, in a request or a
// whole answer.
type wireToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type wireTool struct {
	Type     string          `json:"type"`
	Function wireFunctionDef `json:"function"`
}

type wireFunctionDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      bool            `json:"strict,omitempty"`
}

type wireNamedChoice struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

type wireFormat struct {
	Type       string          `json:"type"`
	JSONSchema *wireJSONSchema `json:"json_schema,omitempty"`
}

type wireJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      bool            `json:"strict,omitempty"`
}

type wirePrediction struct {
	Type    string `json:"type"`
	Content string `json:"content"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// includeUsage is sent with every streamed request: usage must come from the
// provider whatever the gateway's client asked for.
var includeUsage = &streamOptions{IncludeUsage: true}

// newWireRequest translates req into the request body. Every field of req the
// Chat Completions API knows is passed on unchanged; raw JSON (tool parameters,
// response schemas) is embedded as it is, not decoded and encoded again.
func (c *Client) newWireRequest(req *chat.Request, stream bool) *wireRequest {
	body := &wireRequest{
		Model:             req.Model,
		Messages:          wireMessages(req.Messages),
		ParallelToolCalls: req.ParallelToolCalls,
		ReasoningEffort:   req.ReasoningEffort,
		MaxTokens:         req.MaxTokens,
		Temperature:       req.Temperature,
		TopP:              req.TopP,
		Stop:              req.Stop,
		Seed:              req.Seed,
		PresencePenalty:   req.PresencePenalty,
		FrequencyPenalty:  req.FrequencyPenalty,
		LogitBias:         req.LogitBias,
		Logprobs:          req.Logprobs,
		TopLogprobs:       req.TopLogprobs,
		N:                 req.N,
		User:              req.User,
		Metadata:          req.Metadata,
		Store:             req.Store,
		ServiceTier:       req.ServiceTier,
		Stream:            stream,
	}
	if c.completionTokens {
		body.MaxTokens, body.MaxCompTokens = 0, req.MaxTokens
	}
	if stream {
		body.StreamOptions = includeUsage
	}
	if len(req.Tools) > 0 {
		body.Tools = make([]wireTool, len(req.Tools))
		for i, t := range req.Tools {
			// CachePoint is not sent: OpenAI-compatible APIs cache prompt
			// prefixes by themselves.
			body.Tools[i] = wireTool{Type: "function", Function: wireFunctionDef{
				Name:        t.Name,
				Description: t.Description,
				Parameters:  rawJSON(t.Parameters),
				Strict:      t.Strict,
			}}
		}
	}
	switch req.ToolChoice.Mode {
	case chat.ToolChoiceAuto:
		body.ToolChoice = "auto"
	case chat.ToolChoiceNone:
		body.ToolChoice = "none"
	case chat.ToolChoiceRequired:
		body.ToolChoice = "required"
	case chat.ToolChoiceNamed:
		named := &wireNamedChoice{Type: "function"}
		named.Function.Name = req.ToolChoice.Name
		body.ToolChoice = named
	}
	switch f := &req.ResponseFormat; f.Type {
	case chat.FormatJSONObject:
		body.ResponseFormat = &wireFormat{Type: "json_object"}
	case chat.FormatJSONSchema:
		body.ResponseFormat = &wireFormat{Type: "json_schema", JSONSchema: &wireJSONSchema{
			Name:        f.Name,
			Description: f.Description,
			Schema:      rawJSON(f.Schema),
			Strict:      f.Strict,
		}}
	}
	if req.Prediction != "" {
		body.Prediction = &wirePrediction{Type: "content", Content: req.Prediction}
	}
	return body
}

// rawJSON returns b as a json.RawMessage, nil (omitted) when empty.
func rawJSON(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

// wireMessages translates the conversation. A tool message becomes one
// message per tool result, as the API wants them.
//
// Reasoning parts and cache points are not sent: OpenAI-compatible APIs take
// no reasoning as input (the model's earlier reasoning is not part of the
// prompt), and they cache prompt prefixes by themselves, without breakpoints.
func wireMessages(msgs []chat.Message) []wireMessage {
	out := make([]wireMessage, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		switch m.Role {
		case chat.RoleTool:
			for j := range m.Parts {
				p := &m.Parts[j]
				if p.Kind != chat.PartToolResult || p.ToolResult == nil {
					continue
				}
				// Tool messages take text parts only, so images in a
				// result are not sent; IsError has no field either, the
				// result's text must say it.
				out = append(out, wireMessage{
					Role:       chat.RoleTool,
					ToolCallID: p.ToolResult.CallID,
					Content:    content(p.ToolResult.Parts, "", false),
				})
			}
		case chat.RoleAssistant:
			wm := wireMessage{Role: m.Role, Name: m.Name}
			for _, tc := range m.ToolCalls() {
				wm.ToolCalls = append(wm.ToolCalls, wireToolCall{
					ID:       tc.ID,
					Type:     "function",
					Function: wireFunction{Name: tc.Name, Arguments: tc.Arguments},
				})
			}
			var empty any = "" // content is required unless there are tool calls
			if len(wm.ToolCalls) > 0 {
				empty = nil
			}
			wm.Content = content(m.Parts, empty, false)
			out = append(out, wm)
		default: // system, user, and any other role the upstream may know
			out = append(out, wireMessage{Role: m.Role, Name: m.Name, Content: content(m.Parts, "", true)})
		}
	}
	return out
}

// content returns the content of a message of parts: a string for a message of
// one text part, empty when there is neither text nor an image, and an array of
// text (and, with images, image_url) parts otherwise.
func content(parts []chat.Part, empty any, images bool) any {
	n, text := 0, -1
	for i := range parts {
		switch parts[i].Kind {
		case chat.PartText:
			n++
			text = i
		case chat.PartImage:
			if images && parts[i].Image != nil {
				n++
			}
		}
	}
	switch {
	case n == 0:
		return empty
	case n == 1 && text >= 0:
		return parts[text].Text
	}
	out := make([]wirePart, 0, n)
	for i := range parts {
		p := &parts[i]
		switch {
		case p.Kind == chat.PartText:
			out = append(out, wirePart{Type: "text", Text: &p.Text})
		case p.Kind == chat.PartImage && images && p.Image != nil:
			out = append(out, wirePart{Type: "image_url", ImageURL: &wireImageURL{URL: imageURL(p.Image), Detail: p.Image.Detail}})
		}
	}
	return out
}

// imageURL returns the image's URL, or a data URL of its bytes.
func imageURL(img *chat.Image) string {
	if len(img.Data) == 0 {
		return img.URL
	}
	mt := img.MediaType
	if mt == "" {
		mt = http.DetectContentType(img.Data)
	}
	return "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(img.Data)
}
