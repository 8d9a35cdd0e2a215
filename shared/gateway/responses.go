package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/responses"
	"github.com/tollgate/tollgate/shared/session"
)

// The Responses API (POST /v1/responses) decoded onto the shared chat.Request:
// input items become messages (a message, or the reasoning, text and
// function_call items of one assistant turn, or a function_call_output as a tool
// result), instructions the leading system message, text.format the response
// format. What only the Responses API has (storage, continuation, the fields the
// Response object echoes) is in respCall.

// respCall is what a Responses request asks beyond chat.Request.
type respCall struct {
	key        string // the new response's key: resp_<key>, and its items' ids
	previousID string
	store      bool
	encrypted  bool // include: reasoning.encrypted_content
	results    bool // include: file_search_call.results
	items      []inItem
	// echo holds the request's parameters as the Response object repeats them.
	echo responseEcho
	// sent is the request's own messages (item references resolved, without the
	// instructions), which its stored turn holds; set by resolveInput.
	sent []chat.Message
	// history is the conversation of the previous response (whole: the prompt
	// takes what fits the window).
	history []session.Turn
	output  []item // the answer's output items, in order, as streamed or built
	input   []byte // the input items as stored, when stored (resolveInput)
}

// inItem is one decoded input item.
type inItem struct {
	it    item   // normalised, as input_items lists it (without its id yet)
	ref   string // item_reference: the id it names; it is unset until resolved
	param string // input[i]
}

// responsesRequest is the body of POST /v1/responses.
type responsesRequest struct {
	Model             string            `json:"model"`
	Input             json.RawMessage   `json:"input"`
	Instructions      *string           `json:"instructions"`
	Tools             []json.RawMessage `json:"tools"`
	ToolChoice        json.RawMessage   `json:"tool_choice"`
	ParallelToolCalls *bool             `json:"parallel_tool_calls"`
	Text              *struct {
		Format    json.RawMessage `json:"format"`
		Verbosity *string         `json:"verbosity"`
	} `json:"text"`
	Reasoning *struct {
		Effort          *string `json:"effort"`
		Summary         *string `json:"summary"`
		GenerateSummary *string `json:"generate_summary"`
	} `json:"reasoning"`
	MaxOutputTokens  *int64            `json:"max_output_tokens"`
	Temperature      *float64          `json:"temperature"`
	TopP             *float64          `json:"top_p"`
	Metadata         map[string]string `json:"metadata"`
	User             *string           `json:"user"`
	SafetyIdentifier *string           `json:"safety_identifier"`
	Store            *bool             `json:"store"`
	Stream           *bool             `json:"stream"`
	StreamOptions    *struct {
		IncludeObfuscation *bool `json:"include_obfuscation"`
	} `json:"stream_options"`
	Include            []string `json:"include"`
	PreviousResponseID *string  `json:"previous_response_id"`
	Background         *bool    `json:"background"`
	Truncation         *string  `json:"truncation"`
	ServiceTier        *string  `json:"service_tier"`
	TopLogprobs        *int64   `json:"top_logprobs"`
	MaxToolCalls       *int64   `json:"max_tool_calls"`
}

// responsesUnsupported are Responses parameters the gateway refuses.
var responsesUnsupported = map[string]string{
	"conversation": "the conversation object (use previous_response_id)", "prompt": "the prompt template",
	"prompt_cache_key": "prompt cache keys", "prompt_cache_retention": "prompt cache retention",
	"prompt_cache_options": "prompt cache options", "context_management": "context management",
}

// decodeResponses parses and validates a /v1/responses body. Item references
// and previous_response_id are resolved later, against the store (resolveInput).
func decodeResponses(body []byte) (*call, error) {
	var req responsesRequest
	if err := strictDecodeAs(body, &req, responsesUnsupported); err != nil {
		return nil, err
	}
	rc := &respCall{key: responses.NewKey(), store: req.Store == nil || *req.Store}
	c := &call{model: req.Model, resp: rc, req: chat.Request{Temperature: req.Temperature, TopP: req.TopP,
		ParallelToolCalls: req.ParallelToolCalls}}
	r := &c.req
	if req.Stream != nil {
		c.stream = *req.Stream
	}
	if req.StreamOptions != nil && !c.stream {
		return nil, invalid("invalid_value", "stream_options", "stream_options is only allowed when stream is true")
	}
	if req.Background != nil && *req.Background {
		return nil, invalid("unsupported_parameter", "background", "background: background responses are not supported by this gateway; stream the response instead")
	}
	if req.MaxToolCalls != nil {
		return nil, invalid("unsupported_parameter", "max_tool_calls", "max_tool_calls: limits on built-in tool calls are not supported by this gateway (it serves function tools only)")
	}
	if req.TopLogprobs != nil && *req.TopLogprobs != 0 {
		return nil, invalid("unsupported_parameter", "top_logprobs", "top_logprobs: log probabilities are not supported on /v1/responses by this gateway (they are on /v1/chat/completions)")
	}
	if req.Text != nil && req.Text.Verbosity != nil {
		return nil, invalid("unsupported_parameter", "text.verbosity", "text.verbosity: verbosity is not supported by this gateway")
	}
	if req.User != nil {
		r.User = *req.User
	}
	if r.User == "" && req.SafetyIdentifier != nil {
		r.User = *req.SafetyIdentifier
	}
	if req.PreviousResponseID != nil {
		if !responses.ValidID(*req.PreviousResponseID) {
			return nil, notFound("previous_response_not_found", "previous_response_id", "Previous response", *req.PreviousResponseID)
		}
		rc.previousID = *req.PreviousResponseID
	}
	for i, inc := range req.Include {
		switch inc {
		case "reasoning.encrypted_content":
			rc.encrypted = true
		case "message.input_image.image_url":
		case "message.output_text.logprobs":
			return nil, invalid("unsupported_parameter", fmt.Sprintf("include[%d]", i), "include[%d]: log probabilities are not supported on /v1/responses by this gateway", i)
		case "file_search_call.results":
			rc.results = true
		case "web_search_call.results", "web_search_call.action.sources",
			"code_interpreter_call.outputs", "computer_call_output.output.image_url":
			return nil, invalid("unsupported_parameter", fmt.Sprintf("include[%d]", i), "include[%d]: %s: built-in tools are not supported by this gateway", i, inc)
		default:
			return nil, invalid("invalid_value", fmt.Sprintf("include[%d]", i), "include[%d]: unknown value %q", i, clip(inc))
		}
	}
	var err error
	if rc.items, err = decodeInputItems(req.Input); err != nil {
		return nil, err
	}
	if req.Instructions != nil && *req.Instructions != "" {
		r.Messages = append(r.Messages, chat.TextMessage(chat.RoleSystem, *req.Instructions))
	}
	if r.MaxTokens, err = maxTokens(req.MaxOutputTokens, "max_output_tokens"); err != nil {
		return nil, err
	}
	if err := sampling(r); err != nil {
		return nil, err
	}
	if r.Tools, c.retrieval, err = decodeResponsesTools(req.Tools); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = decodeResponsesToolChoice(req.ToolChoice); err != nil {
		return nil, err
	}
	if req.Text != nil {
		if r.ResponseFormat, err = decodeResponseFormat(req.Text.Format, "text.format", true); err != nil {
			return nil, err
		}
	}
	if req.Reasoning != nil {
		if req.Reasoning.Effort != nil {
			if r.ReasoningEffort, err = reasoningEffort(*req.Reasoning.Effort, "reasoning.effort"); err != nil {
				return nil, err
			}
		}
		for _, s := range []struct {
			v     *string
			param string
		}{{req.Reasoning.Summary, "reasoning.summary"}, {req.Reasoning.GenerateSummary, "reasoning.generate_summary"}} {
			if s.v != nil && *s.v != "auto" && *s.v != "concise" && *s.v != "detailed" {
				return nil, invalid("invalid_value", s.param, "%s must be auto, concise or detailed", s.param)
			}
		}
	}
	if req.Truncation != nil && *req.Truncation != "auto" && *req.Truncation != "disabled" {
		return nil, invalid("invalid_value", "truncation", "truncation must be auto or disabled")
	}
	if req.ServiceTier != nil {
		switch *req.ServiceTier {
		case "auto", "default", "flex", "scale", "priority":
			r.ServiceTier = *req.ServiceTier
		default:
			return nil, invalid("invalid_value", "service_tier", "service_tier must be auto, default, flex, scale or priority")
		}
	}
	if err := validateMetadata(req.Metadata, "metadata"); err != nil {
		return nil, err
	}
	rc.echo = echoOf(&req, r, c.retrieval)
	// The request's messages without the references: enough for the checks that
	// need no store; resolveInput rebuilds them with the references in.
	r.Messages = append(r.Messages, itemMessages(rc.items)...)
	c.searchOnlyChoice()
	return c, validate(r, responsesNames)
}

var responsesNames = paramNames{toolChoice: "tool_choice", tools: "tools", maxTokens: "max_output_tokens"}

// notFound is the 404 for an id the tenant does not have (absent, expired, or
// another tenant's: the same answer).
func notFound(code, param, what, id string) error {
	return &apierr.Error{Kind: apierr.NotFound, Code: code, Param: param, Message: fmt.Sprintf("%s: %s with id '%s' not found.", param, what, clip(id))}
}

// responsesTool is one entry of tools: function tools are flat in this API.
type responsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// decodeResponsesTools takes the function tools, and a file_search tool,
// which Tollgate runs itself (retrieval.go).
func decodeResponsesTools(raw []json.RawMessage) ([]chat.Tool, *retrieval, error) {
	if len(raw) > maxTools {
		return nil, nil, invalid("invalid_value", "tools", "tools may list at most %d tools", maxTools)
	}
	var out []chat.Tool
	var rv *retrieval
	for i, r := range raw {
		p := fmt.Sprintf("tools[%d]", i)
		var typ struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(r, &typ); err != nil {
			return nil, nil, invalid("invalid_type", p, "%s must be an object", p)
		}
		switch typ.Type {
		case "function":
		case "file_search":
			if rv != nil {
				return nil, nil, invalid("invalid_value", p, "%s: give one file_search tool", p)
			}
			var ft struct {
				Type string `json:"type"`
				fileSearchTool
			}
			if err := strictUnmarshal(r, &ft, p); err != nil {
				return nil, nil, err
			}
			var err error
			if rv, err = decodeFileSearch(&ft.fileSearchTool, p); err != nil {
				return nil, nil, err
			}
			continue
		case "web_search", "web_search_preview", "web_search_2025_08_26", "code_interpreter", "computer_use_preview",
			"image_generation", "mcp", "local_shell", "shell", "apply_patch", "custom":
			return nil, nil, invalid("unsupported_parameter", p+".type", "%s.type: %s tools are not supported by this gateway (function and file_search tools are)", p, typ.Type)
		default:
			return nil, nil, invalid("invalid_value", p+".type", "%s.type must be function or file_search", p)
		}
		var rt responsesTool
		if err := strictUnmarshal(r, &rt, p); err != nil {
			return nil, nil, err
		}
		t, err := tool(&openAIFunction{Name: rt.Name, Description: rt.Description, Parameters: rt.Parameters, Strict: rt.Strict}, p)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, t)
	}
	return out, rv, nil
}

// decodeResponsesToolChoice takes "none", "auto", "required" or
// {"type":"function","name":...}.
func decodeResponsesToolChoice(raw json.RawMessage) (chat.ToolChoice, error) {
	const param = "tool_choice"
	if isNull(raw) || raw[0] == '"' {
		return decodeToolChoice(raw, param, true)
	}
	var named struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return chat.ToolChoice{}, invalid("invalid_value", param, `%s must be "none", "auto", "required" or {"type":"function","name":...}`, param)
	}
	switch named.Type {
	case "function":
	case "allowed_tools", "custom", "mcp", "file_search", "web_search_preview", "computer_use_preview", "code_interpreter", "image_generation":
		return chat.ToolChoice{}, invalid("unsupported_parameter", param+".type", "%s: %s tool choices are not supported by this gateway", param, named.Type)
	default:
		return chat.ToolChoice{}, invalid("invalid_value", param+".type", `%s.type must be function`, param)
	}
	if named.Name == "" {
		return chat.ToolChoice{}, invalid("invalid_value", param+".name", "%s names no tool", param)
	}
	return chat.ToolChoice{Mode: chat.ToolChoiceNamed, Name: named.Name}, nil
}

// maxInputItems bounds the items of one request.
const maxInputItems = 2048

// decodeInputItems takes input: a string (one user message) or a list of items.
func decodeInputItems(raw json.RawMessage) ([]inItem, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, invalid("missing_required_parameter", "input", "input is required")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("invalid_type", "input", "input must be a string or an array of input items")
		}
		return []inItem{{it: item{Type: "message", Role: chat.RoleUser, Content: []content{{Type: "input_text", Text: s}}}, param: "input"}}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, invalid("invalid_type", "input", "input must be a string or an array of input items")
	}
	if len(list) == 0 {
		return nil, invalid("invalid_value", "input", "input must not be empty")
	}
	if len(list) > maxInputItems {
		return nil, invalid("invalid_value", "input", "input may hold at most %d items", maxInputItems)
	}
	out := make([]inItem, 0, len(list))
	conversation := false // a non-system item came
	for i, r := range list {
		p := fmt.Sprintf("input[%d]", i)
		in, err := decodeItem(r, p)
		if err != nil {
			return nil, err
		}
		if in.it.Type == "message" && in.it.Role == chat.RoleSystem {
			if conversation {
				return nil, invalid("invalid_value", p+".role",
					"%s.role: system and developer messages must come before the conversation (with instructions, they are the system prompt)", p)
			}
		} else {
			conversation = true
		}
		out = append(out, in)
	}
	return out, nil
}

// wireItem is an input item in any of the types Tollgate takes; the fields of
// the other types must be absent.
type wireItem struct {
	Type             string          `json:"type"`
	ID               *string         `json:"id"`
	Status           *string         `json:"status"`
	Role             string          `json:"role"`
	Content          json.RawMessage `json:"content"`
	Phase            *string         `json:"phase"`
	CallID           *string         `json:"call_id"`
	Name             *string         `json:"name"`
	Arguments        *string         `json:"arguments"`
	Output           json.RawMessage `json:"output"`
	Summary          []wirePart      `json:"summary"`
	EncryptedContent *string         `json:"encrypted_content"`
	Queries          json.RawMessage `json:"queries"`
	Results          json.RawMessage `json:"results"`
}

// wirePart is one content part (or summary part) of an item.
type wirePart struct {
	Type        string            `json:"type"`
	Text        *string           `json:"text"`
	Refusal     *string           `json:"refusal"`
	ImageURL    *string           `json:"image_url"`
	FileID      *string           `json:"file_id"`
	Detail      string            `json:"detail"`
	Annotations []json.RawMessage `json:"annotations"`
	Logprobs    []json.RawMessage `json:"logprobs"`
	FileData    *string           `json:"file_data"`
	FileURL     *string           `json:"file_url"`
	Filename    *string           `json:"filename"`
}

// decodeItem decodes one input item: a message (type "message" or none), a
// function_call, a function_call_output, a reasoning item or an item_reference.
func decodeItem(raw json.RawMessage, p string) (inItem, error) { return decodeItemFrom(raw, p, false) }

// decodeItemFrom is decodeItem for an item of the request, or (stored) one the
// gateway stored, whose inline images are kept without their data.
func decodeItemFrom(raw json.RawMessage, p string, stored bool) (inItem, error) {
	var w wireItem
	if err := strictUnmarshal(raw, &w, p); err != nil {
		return inItem{}, err
	}
	in := inItem{param: p}
	it := &in.it
	it.Type = w.Type
	if it.Type == "" && w.Role != "" {
		it.Type = "message"
	}
	if w.ID != nil {
		it.ID = *w.ID
	}
	need := func(v *string, field string) (string, error) {
		if v == nil || *v == "" {
			return "", invalid("missing_required_parameter", p+"."+field, "%s.%s is required in %s items", p, field, it.Type)
		}
		return *v, nil
	}
	var err error
	switch it.Type {
	case "message":
		switch w.Role {
		case chat.RoleUser, chat.RoleAssistant:
			it.Role = w.Role
		case chat.RoleSystem, "developer":
			it.Role = chat.RoleSystem
		default:
			return in, invalid("invalid_value", p+".role", "%s.role must be user, assistant, system or developer", p)
		}
		it.Content, err = decodeItemContent(w.Content, p+".content", it.Role, stored)
	case "function_call":
		if it.CallID, err = need(w.CallID, "call_id"); err != nil {
			return in, err
		}
		if w.Name == nil || !toolNamePattern.MatchString(*w.Name) {
			return in, invalid("invalid_value", p+".name", "%s.name must match ^[a-zA-Z0-9_-]{1,64}$", p)
		}
		it.Name = *w.Name
		args := ""
		if w.Arguments != nil {
			args = *w.Arguments
		}
		it.Arguments, err = toolArguments(args, p+".arguments")
	case "function_call_output":
		if it.CallID, err = need(w.CallID, "call_id"); err != nil {
			return in, err
		}
		it.Output, err = decodeToolOutput(w.Output, p+".output", stored)
	case "reasoning":
		for i, s := range w.Summary {
			if s.Type != "summary_text" || s.Text == nil {
				return in, invalid("invalid_value", fmt.Sprintf("%s.summary[%d]", p, i), `%s.summary[%d] must be {"type":"summary_text","text":...}`, p, i)
			}
			it.Summary = append(it.Summary, *s.Text)
		}
		if w.EncryptedContent != nil && *w.EncryptedContent != "" {
			if _, err := decodeEncrypted(*w.EncryptedContent); err != nil {
				return in, invalid("invalid_encrypted_content", p+".encrypted_content", "%s.encrypted_content is not reasoning this gateway encrypted", p)
			}
			it.Encrypted = *w.EncryptedContent
		}
		if !isNull(w.Content) {
			var parts []wirePart
			if err := json.Unmarshal(w.Content, &parts); err != nil {
				return in, invalid("invalid_type", p+".content", "%s.content must be an array of reasoning_text parts", p)
			}
			for i, c := range parts {
				if c.Type != "reasoning_text" || c.Text == nil {
					return in, invalid("invalid_value", fmt.Sprintf("%s.content[%d]", p, i), `%s.content[%d] must be {"type":"reasoning_text","text":...}`, p, i)
				}
				it.Summary = append(it.Summary, *c.Text)
			}
		}
	case "item_reference":
		if in.ref, err = need(w.ID, "id"); err != nil {
			return in, err
		}
	case "file_search_call":
		// A search this gateway ran (a client sending back the output of an
		// earlier response): it holds no prompt text (the next request
		// retrieves afresh), so it is taken and left out of the prompt.
		if _, err = need(w.ID, "id"); err != nil {
			return in, err
		}
		if !isNull(w.Queries) && json.Unmarshal(w.Queries, &it.Queries) != nil {
			return in, invalid("invalid_value", p+".queries", "%s.queries must be a list of strings", p)
		}
	case "web_search_call", "computer_call", "computer_call_output", "code_interpreter_call",
		"image_generation_call", "local_shell_call", "local_shell_call_output", "shell_call", "shell_call_output",
		"mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "mcp_call", "custom_tool_call",
		"custom_tool_call_output", "apply_patch_call", "apply_patch_call_output", "tool_search_call", "tool_search_output":
		return in, invalid("unsupported_parameter", p+".type", "%s.type: %s items are not supported by this gateway (it serves function tools)", p, it.Type)
	case "":
		return in, invalid("missing_required_parameter", p+".type", "%s.type is required", p)
	default:
		return in, invalid("invalid_value", p+".type", "%s.type %q is not an input item type", p, clip(it.Type))
	}
	if err != nil {
		return in, err
	}
	return in, checkItemFields(&w, it.Type, p)
}

// checkItemFields refuses the fields of other item types, which the one struct
// for every type would otherwise take silently.
func checkItemFields(w *wireItem, typ, p string) error {
	allowed := itemFields[typ]
	for _, f := range [...]struct {
		name string
		set  bool
	}{{"role", w.Role != ""}, {"content", w.Content != nil}, {"phase", w.Phase != nil}, {"call_id", w.CallID != nil},
		{"name", w.Name != nil}, {"arguments", w.Arguments != nil}, {"output", w.Output != nil},
		{"summary", w.Summary != nil}, {"encrypted_content", w.EncryptedContent != nil}, {"status", w.Status != nil},
		{"queries", w.Queries != nil}, {"results", w.Results != nil}} {
		if f.set && !allowed[f.name] {
			return invalid("unknown_parameter", p+"."+f.name, "%s.%s: %s is not a field of %s items", p, f.name, f.name, typ)
		}
	}
	return nil
}

// itemFields are the fields (besides type and id) each input item type has.
var itemFields = map[string]map[string]bool{
	"message":              {"status": true, "role": true, "content": true, "phase": true},
	"function_call":        {"status": true, "call_id": true, "name": true, "arguments": true},
	"function_call_output": {"status": true, "call_id": true, "output": true},
	"reasoning":            {"status": true, "summary": true, "encrypted_content": true, "content": true},
	"item_reference":       {},
	"file_search_call":     {"status": true, "queries": true, "results": true},
}

// itemPrefix is the id prefix of each item type, as OpenAI's ids have.
var itemPrefix = map[string]string{"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs", "file_search_call": "fs"}

// decodeItemContent takes a message's content: a string, or parts (input_text and
// input_image for users, output_text and refusal for the assistant).
func decodeItemContent(raw json.RawMessage, p, role string, stored bool) ([]content, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, invalid("missing_required_parameter", p, "%s is required", p)
	}
	textType := "input_text"
	if role == chat.RoleAssistant {
		textType = "output_text"
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid("invalid_type", p, "%s must be a string or an array of content parts", p)
		}
		return []content{{Type: textType, Text: s}}, nil
	}
	var parts []wirePart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, invalid("invalid_type", p, "%s must be a string or an array of content parts", p)
	}
	out := make([]content, 0, len(parts))
	for i, wp := range parts {
		pp := fmt.Sprintf("%s[%d]", p, i)
		c, err := decodePart(&wp, pp, role != chat.RoleUser, stored)
		if err != nil {
			return nil, err
		}
		if c.Type == "input_text" || c.Type == "output_text" {
			c.Type = textType
		}
		out = append(out, c)
	}
	return out, nil
}

// decodePart decodes one content part; noImages refuses input_image, stored
// takes an image without data (as the gateway stores inline images).
func decodePart(wp *wirePart, pp string, noImages, stored bool) (content, error) {
	switch wp.Type {
	case "input_text", "output_text", "text":
		if wp.Text == nil {
			return content{}, invalid("missing_required_parameter", pp+".text", "%s.text is required", pp)
		}
		return content{Type: "input_text", Text: *wp.Text}, nil
	case "refusal":
		if wp.Refusal == nil {
			return content{}, invalid("missing_required_parameter", pp+".refusal", "%s.refusal is required", pp)
		}
		return content{Type: "refusal", Text: *wp.Refusal}, nil
	case "input_image":
		if noImages {
			return content{}, invalid("unsupported_content", pp, "%s: images are only allowed in user messages and function call outputs", pp)
		}
		if wp.FileID != nil && *wp.FileID != "" {
			return content{}, invalid("unsupported_content", pp+".file_id", "%s.file_id: file ids are not supported by this gateway; send image_url", pp)
		}
		if wp.ImageURL == nil && stored {
			return content{Type: "input_image", Detail: wp.Detail}, nil
		}
		if wp.ImageURL == nil {
			return content{}, invalid("missing_required_parameter", pp+".image_url", "%s.image_url is required", pp)
		}
		img, err := decodeImage(*wp.ImageURL, wp.Detail, pp)
		if err != nil {
			return content{}, err
		}
		return content{Type: "input_image", image: img, ImageURL: *wp.ImageURL, Detail: wp.Detail}, nil
	case "input_file", "input_audio":
		return content{}, invalid("unsupported_content", pp, "%s: %s parts are not supported by this gateway (input_text and input_image are)", pp, wp.Type)
	case "":
		return content{}, invalid("missing_required_parameter", pp+".type", "%s.type is required", pp)
	}
	return content{}, invalid("invalid_value", pp+".type", "%s.type must be input_text, input_image, output_text or refusal", pp)
}

// decodeToolOutput takes a function_call_output's output: a string or parts.
func decodeToolOutput(raw json.RawMessage, p string, stored bool) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, invalid("missing_required_parameter", p, "%s is required in function_call_output items", p)
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return nil, invalid("invalid_type", p, "%s must be a string or an array of content parts", p)
		}
		return raw, nil
	}
	if _, err := outputParts(raw, p, stored); err != nil {
		return nil, err
	}
	return raw, nil
}

// outputParts decodes a function_call_output's output (already checked).
func outputParts(raw json.RawMessage, p string, stored bool) ([]content, error) {
	if raw[0] == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		return []content{{Type: "input_text", Text: s}}, nil
	}
	var parts []wirePart
	if err := json.Unmarshal(raw, &parts); err != nil {
		return nil, invalid("invalid_type", p, "%s must be a string or an array of content parts", p)
	}
	out := make([]content, 0, len(parts))
	for i, wp := range parts {
		c, err := decodePart(&wp, fmt.Sprintf("%s[%d]", p, i), false, stored)
		if err != nil {
			return nil, err
		}
		if c.Type == "refusal" {
			return nil, invalid("invalid_value", fmt.Sprintf("%s[%d].type", p, i), "%s[%d]: a function call output holds input_text and input_image parts", p, i)
		}
		out = append(out, c)
	}
	return out, nil
}

// encryptedReasoning is what a reasoning item's encrypted_content carries: the
// provider's signature (or redacted reasoning) that lets the reasoning be sent
// back. It is base64 of this JSON; the provider's own signature is what protects
// it, as it does for OpenAI's.
type encryptedReasoning struct {
	Signature string `json:"s,omitempty"`
	Redacted  []byte `json:"r,omitempty"`
}

func encodeEncrypted(sig string, redacted []byte) string {
	b, _ := json.Marshal(encryptedReasoning{sig, redacted})
	return base64.StdEncoding.EncodeToString(b)
}

func decodeEncrypted(s string) (encryptedReasoning, error) {
	var e encryptedReasoning
	b, err := base64.StdEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &e)
	}
	if err == nil && e.Signature == "" && len(e.Redacted) == 0 {
		err = fmt.Errorf("empty")
	}
	return e, err
}

// itemMessages returns the messages of items: each user or system message as
// it is; the reasoning, assistant messages and function calls in a row as one
// assistant message; each function call output as a tool message. Unresolved
// references are left out.
func itemMessages(items []inItem) []chat.Message {
	var out []chat.Message
	assistant := func() *chat.Message {
		if n := len(out); n > 0 && out[n-1].Role == chat.RoleAssistant {
			return &out[n-1]
		}
		out = append(out, chat.Message{Role: chat.RoleAssistant})
		return &out[len(out)-1]
	}
	for i := range items {
		if items[i].ref != "" {
			continue
		}
		it := &items[i].it
		switch it.Type {
		case "message":
			parts := chatParts(it.Content)
			if it.Role == chat.RoleAssistant {
				m := assistant()
				m.Parts = append(m.Parts, parts...)
				continue
			}
			out = append(out, chat.Message{Role: it.Role, Parts: parts})
		case "function_call":
			m := assistant()
			m.Parts = append(m.Parts, chat.Part{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: it.CallID, Name: it.Name, Arguments: it.Arguments}})
		case "function_call_output":
			parts, _ := outputParts(it.Output, "", true)
			out = append(out, chat.Message{Role: chat.RoleTool, Parts: []chat.Part{{Kind: chat.PartToolResult,
				ToolResult: &chat.ToolResult{CallID: it.CallID, Parts: chatParts(parts)}}}})
		case "reasoning":
			m := assistant()
			p := chat.Part{Kind: chat.PartReasoning, Text: joinSummary(it.Summary), Signature: it.sig, Redacted: it.redacted}
			if e, err := decodeEncrypted(it.Encrypted); err == nil && p.Signature == "" && p.Redacted == nil {
				p.Signature, p.Redacted = e.Signature, e.Redacted
			}
			m.Parts = append(m.Parts, p)
		}
	}
	return out
}

func joinSummary(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	var b bytes.Buffer
	for i, t := range s {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(t)
	}
	return b.String()
}

// chatParts returns content parts as chat parts; a refusal is text.
func chatParts(cs []content) []chat.Part {
	out := make([]chat.Part, 0, len(cs))
	for i := range cs {
		c := &cs[i]
		if c.Type == "input_image" {
			if c.image != nil {
				out = append(out, chat.Part{Kind: chat.PartImage, Image: c.image})
			} else { // a stored image: its data is not kept
				out = append(out, chat.TextPart("[image]"))
			}
			continue
		}
		out = append(out, chat.TextPart(c.Text))
	}
	return out
}
