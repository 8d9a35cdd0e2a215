package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/tollgate/tollgate/shared/chat"
)

// toolNamePattern is OpenAI's rule for function names, which Bedrock shares.
var toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// maxTools bounds the tools of one request, as OpenAI does.
const maxTools = 128

// openAITool is one entry of tools: {"type":"function","function":{...}}.
type openAITool struct {
	Type         string          `json:"type"`
	Function     *openAIFunction `json:"function"`
	CacheControl *cacheControl   `json:"cache_control"`
	// file_search (the Responses API's tool, as LiteLLM takes it in Chat
	// Completions): Tollgate retrieves from these vector stores itself.
	fileSearchTool
}

type openAIFunction struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
}

// decodeTools takes tools, tool_choice and the legacy functions/function_call.
func (c *call) decodeTools(req *openAIRequest) error {
	r := &c.req
	if req.Functions != nil || !isNull(req.FunctionCall) {
		if req.Tools != nil || !isNull(req.ToolChoice) {
			return invalid("invalid_value", "functions", "use tools and tool_choice or the deprecated functions and function_call, not both")
		}
		c.legacyFunctions = true
		for i, raw := range req.Functions {
			p := fmt.Sprintf("functions[%d]", i)
			var f openAIFunction
			if err := strictUnmarshal(raw, &f, p); err != nil {
				return err
			}
			t, err := tool(&f, p)
			if err != nil {
				return err
			}
			r.Tools = append(r.Tools, t)
		}
		if len(r.Tools) > maxTools {
			return invalid("invalid_value", "functions", "functions may list at most %d functions", maxTools)
		}
		return c.functionCall(req.FunctionCall)
	}
	for i, raw := range req.Tools {
		p := fmt.Sprintf("tools[%d]", i)
		var ot openAITool
		if err := strictUnmarshal(raw, &ot, p); err != nil {
			return err
		}
		switch ot.Type {
		case "function":
			if ot.VectorStoreIDs != nil || ot.MaxNumResults != nil || !isNull(ot.Filters) || !isNull(ot.RankingOptions) {
				return invalid("invalid_value", p, "%s: vector_store_ids, max_num_results, filters and ranking_options belong to file_search tools", p)
			}
		case "file_search":
			if c.retrieval != nil {
				return invalid("invalid_value", p, "%s: give one file_search tool", p)
			}
			if ot.Function != nil || ot.CacheControl != nil {
				return invalid("invalid_value", p, "%s: a file_search tool takes vector_store_ids, max_num_results and filters", p)
			}
			rv, err := decodeFileSearch(&ot.fileSearchTool, p)
			if err != nil {
				return err
			}
			c.retrieval = rv
			continue
		case "custom", "web_search", "web_search_preview", "code_interpreter", "mcp":
			return invalid("unsupported_parameter", p+".type", "%s: %s tools are not supported by this gateway (function tools are)", p, ot.Type)
		default:
			return invalid("invalid_value", p+".type", "%s.type must be function", p)
		}
		if ot.Function == nil {
			return invalid("invalid_value", p+".function", "%s.function is required", p)
		}
		t, err := tool(ot.Function, p+".function")
		if err != nil {
			return err
		}
		if ot.CacheControl != nil {
			if err := checkCacheControl(ot.CacheControl, p+".cache_control"); err != nil {
				return err
			}
			t.CachePoint = true
		}
		r.Tools = append(r.Tools, t)
	}
	if len(r.Tools) > maxTools {
		return invalid("invalid_value", "tools", "tools may list at most %d tools", maxTools)
	}
	var err error
	r.ToolChoice, err = decodeToolChoice(req.ToolChoice, "tool_choice", false)
	return err
}

// functionCall takes the legacy function_call: "none", "auto" or {"name": ...}.
func (c *call) functionCall(raw json.RawMessage) error {
	if isNull(raw) {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "none":
			c.req.ToolChoice.Mode = chat.ToolChoiceNone
		case "auto":
			c.req.ToolChoice.Mode = chat.ToolChoiceAuto
		default:
			return invalid("invalid_value", "function_call", `function_call must be "none", "auto" or {"name": ...}`)
		}
		return nil
	}
	var named struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(raw, &named); err != nil || named.Name == "" {
		return invalid("invalid_value", "function_call", `function_call must be "none", "auto" or {"name": ...}`)
	}
	c.req.ToolChoice = chat.ToolChoice{Mode: chat.ToolChoiceNamed, Name: named.Name}
	return nil
}

// tool validates one function definition.
func tool(f *openAIFunction, p string) (chat.Tool, error) {
	if !toolNamePattern.MatchString(f.Name) {
		return chat.Tool{}, invalid("invalid_value", p+".name", "%s.name must match ^[a-zA-Z0-9_-]{1,64}$", p)
	}
	t := chat.Tool{Name: f.Name, Description: f.Description, Strict: f.Strict != nil && *f.Strict}
	if !isNull(f.Parameters) {
		if err := schemaObject(f.Parameters, p+".parameters", true); err != nil {
			return chat.Tool{}, err
		}
		t.Parameters = bytes.TrimSpace(f.Parameters)
	}
	return t, nil
}

// schemaObject checks that raw is a JSON Schema object; with rootObject, one that
// describes objects (as tool parameters must).
func schemaObject(raw json.RawMessage, param string, rootObject bool) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return invalid("invalid_schema", param, "%s must be a JSON Schema object", param)
	}
	if t, ok := obj["type"]; ok && rootObject {
		var typ string
		if json.Unmarshal(t, &typ) == nil && typ != "object" {
			return invalid("invalid_schema", param, `%s must describe an object ("type": "object")`, param)
		}
	}
	return nil
}

// decodeToolChoice takes "none", "auto", "required" or a named tool:
// {"type":"function","function":{"name":...}} (OpenAI) or {"name":...} (native).
func decodeToolChoice(raw json.RawMessage, param string, native bool) (chat.ToolChoice, error) {
	if isNull(raw) {
		return chat.ToolChoice{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "none":
			return chat.ToolChoice{Mode: chat.ToolChoiceNone}, nil
		case "auto":
			return chat.ToolChoice{Mode: chat.ToolChoiceAuto}, nil
		case "required":
			return chat.ToolChoice{Mode: chat.ToolChoiceRequired}, nil
		}
		return chat.ToolChoice{}, invalid("invalid_value", param, `%s must be "none", "auto", "required" or a named tool`, param)
	}
	var named struct {
		Type     string `json:"type"`
		Name     string `json:"name"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &named); err != nil {
		return chat.ToolChoice{}, invalid("invalid_value", param, `%s must be "none", "auto", "required" or a named tool`, param)
	}
	name := named.Name
	if !native {
		if named.Type == "allowed_tools" || named.Type == "custom" {
			return chat.ToolChoice{}, invalid("unsupported_parameter", param+".type", "%s: %s tool choices are not supported by this gateway", param, named.Type)
		}
		if named.Type != "function" || named.Function == nil {
			return chat.ToolChoice{}, invalid("invalid_value", param, `%s must be "none", "auto", "required" or {"type":"function","function":{"name":...}}`, param)
		}
		name = named.Function.Name
	}
	if name == "" {
		return chat.ToolChoice{}, invalid("invalid_value", param, "%s names no tool", param)
	}
	return chat.ToolChoice{Mode: chat.ToolChoiceNamed, Name: name}, nil
}

// decodeResponseFormat takes OpenAI's response_format ({"type":"json_schema",
// "json_schema":{name, description, schema, strict}}) or the native
// responseFormat ({"type":"json_schema", name, description, schema, strict}).
func decodeResponseFormat(raw json.RawMessage, param string, native bool) (chat.ResponseFormat, error) {
	if isNull(raw) {
		return chat.ResponseFormat{}, nil
	}
	type schemaDef struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	}
	var rf struct {
		Type       string     `json:"type"`
		JSONSchema *schemaDef `json:"json_schema"`
		schemaDef
	}
	if err := json.Unmarshal(raw, &rf); err != nil {
		return chat.ResponseFormat{}, invalid("invalid_value", param, "%s must be an object with a type", param)
	}
	switch rf.Type {
	case "text":
		return chat.ResponseFormat{}, nil
	case "json_object":
		return chat.ResponseFormat{Type: chat.FormatJSONObject}, nil
	case "json_schema":
	default:
		return chat.ResponseFormat{}, invalid("invalid_value", param+".type", "%s.type must be text, json_object or json_schema", param)
	}
	def, p := &rf.schemaDef, param
	if !native {
		if rf.JSONSchema == nil {
			return chat.ResponseFormat{}, invalid("invalid_value", param+".json_schema", "%s.json_schema is required for type json_schema", param)
		}
		def, p = rf.JSONSchema, param+".json_schema"
	}
	if !toolNamePattern.MatchString(def.Name) {
		return chat.ResponseFormat{}, invalid("invalid_value", p+".name", "%s.name must match ^[a-zA-Z0-9_-]{1,64}$", p)
	}
	if isNull(def.Schema) {
		return chat.ResponseFormat{}, invalid("invalid_schema", p+".schema", "%s.schema is required", p)
	}
	if err := schemaObject(def.Schema, p+".schema", false); err != nil {
		return chat.ResponseFormat{}, err
	}
	return chat.ResponseFormat{Type: chat.FormatJSONSchema, Name: def.Name, Description: def.Description,
		Schema: bytes.TrimSpace(def.Schema), Strict: def.Strict != nil && *def.Strict}, nil
}

// nativeTool is one entry of the native API's tools.
type nativeTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      *bool           `json:"strict"`
	Cache       bool            `json:"cachePoint"`
}

func decodeNativeTools(raw []json.RawMessage) ([]chat.Tool, error) {
	if len(raw) > maxTools {
		return nil, invalid("invalid_value", "tools", "tools may list at most %d tools", maxTools)
	}
	var out []chat.Tool
	for i, r := range raw {
		p := fmt.Sprintf("tools[%d]", i)
		var nt nativeTool
		if err := strictUnmarshal(r, &nt, p); err != nil {
			return nil, err
		}
		t, err := tool(&openAIFunction{Name: nt.Name, Description: nt.Description, Parameters: nt.Parameters, Strict: nt.Strict}, p)
		if err != nil {
			return nil, err
		}
		t.CachePoint = nt.Cache
		out = append(out, t)
	}
	return out, nil
}

// strictUnmarshal decodes one object into v, naming param in its errors.
func strictUnmarshal(raw json.RawMessage, v any, param string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if name, ok := bytes.CutPrefix([]byte(err.Error()), []byte("json: unknown field ")); ok {
			return invalid("unknown_parameter", param+"."+string(bytes.Trim(name, `"`)), "%s.%s: unrecognized field", param, bytes.Trim(name, `"`))
		}
		return invalid("invalid_type", param, "%s must be an object", param)
	}
	return nil
}
