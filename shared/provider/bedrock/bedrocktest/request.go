package bedrocktest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Request is one request as the fake received it.
type Request struct {
	ModelID         string // path-unescaped
	Stream          bool   // ConverseStream rather than Converse
	Invoke          bool   // InvokeModel (embeddings): only ModelID, Body and TraceID are set
	Messages        []Message
	System          []Block
	InferenceConfig *InferenceConfig
	ToolConfig      *ToolConfig
	OutputConfig    *OutputConfig
	// AdditionalModelRequestFields is the request's additionalModelRequestFields
	// as decoded by encoding/json (numbers are float64), such as
	// {"thinking": {"type": "enabled", "budget_tokens": 2048.0}}.
	AdditionalModelRequestFields map[string]any
	RequestMetadata              map[string]string
	ServiceTier                  *ServiceTier
	Body                         []byte // the JSON body as received
	TraceID                      string // the X-Amzn-Trace-Id header, when sent
}

// Message is one message of a recorded request.
type Message struct {
	Role    string  `json:"role"`
	Content []Block `json:"content"`
}

// Block is a content or system block: a text block, or the one member it holds.
// A tool result's content holds text, image and json blocks.
type Block struct {
	Text             string            `json:"text,omitempty"`
	Image            *Image            `json:"image,omitempty"`
	ToolUse          *ToolUse          `json:"toolUse,omitempty"`
	ToolResult       *ToolResult       `json:"toolResult,omitempty"`
	ReasoningContent *ReasoningContent `json:"reasoningContent,omitempty"`
	CachePoint       *CachePoint       `json:"cachePoint,omitempty"`
	JSON             any               `json:"json,omitempty"`
}

// text reports whether b is a text block: it holds no other member.
func (b *Block) text() bool {
	return b.Image == nil && b.ToolUse == nil && b.ToolResult == nil &&
		b.ReasoningContent == nil && b.CachePoint == nil && b.JSON == nil
}

// Image is an image block.
type Image struct {
	Format string      `json:"format"` // png, jpeg, gif or webp
	Source ImageSource `json:"source"`
}

// ImageSource is where an image block's bytes are; the fake knows inline bytes.
type ImageSource struct {
	Bytes []byte `json:"bytes"`
}

// ToolUse is a tool call of an assistant turn.
type ToolUse struct {
	ToolUseID string `json:"toolUseId"`
	Name      string `json:"name"`
	Input     any    `json:"input"` // as decoded by encoding/json
}

// ToolResult answers the tool call ToolUseID.
type ToolResult struct {
	ToolUseID string  `json:"toolUseId"`
	Content   []Block `json:"content"`
	Status    string  `json:"status,omitempty"` // "", "success" or "error"
}

// ReasoningContent is a reasoning block sent back with a conversation.
type ReasoningContent struct {
	ReasoningText   *ReasoningText `json:"reasoningText,omitempty"`
	RedactedContent []byte         `json:"redactedContent,omitempty"`
}

// ReasoningText is reasoning in the clear, with the model's signature.
type ReasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

// CachePoint is a prompt-cache breakpoint.
type CachePoint struct {
	Type string `json:"type"` // "default"
}

// InferenceConfig is the inferenceConfig of a recorded request.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// ToolConfig is the toolConfig of a recorded request.
type ToolConfig struct {
	Tools      []Tool      `json:"tools"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
}

// Tool is a tool on offer, or a cache point after the tools before it.
type Tool struct {
	ToolSpec   *ToolSpec   `json:"toolSpec,omitempty"`
	CachePoint *CachePoint `json:"cachePoint,omitempty"`
}

// ToolSpec describes a tool.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema ToolInputSchema `json:"inputSchema"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ToolInputSchema holds a tool's JSON Schema, as decoded by encoding/json.
type ToolInputSchema struct {
	JSON any `json:"json"`
}

// ToolChoice is a request's toolChoice: exactly one member is set.
type ToolChoice struct {
	Auto *struct{}           `json:"auto,omitempty"`
	Any  *struct{}           `json:"any,omitempty"`
	Tool *SpecificToolChoice `json:"tool,omitempty"`
}

// SpecificToolChoice names the tool the model must call.
type SpecificToolChoice struct {
	Name string `json:"name"`
}

// OutputConfig is the outputConfig of a recorded request.
type OutputConfig struct {
	TextFormat *OutputFormat `json:"textFormat,omitempty"`
}

// OutputFormat is structured output: Type "json_schema" and its schema.
type OutputFormat struct {
	Type      string          `json:"type"`
	Structure OutputStructure `json:"structure"`
}

// OutputStructure holds the JSON Schema of structured output.
type OutputStructure struct {
	JSONSchema *JSONSchema `json:"jsonSchema,omitempty"`
}

// JSONSchema is a structured output schema; Schema is the schema as JSON text.
type JSONSchema struct {
	Schema      string `json:"schema"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// ServiceTier is a request's serviceTier.
type ServiceTier struct {
	Type string `json:"type"`
}

// requestBody is the part of a Converse or ConverseStream body the fake decodes.
type requestBody struct {
	Messages                     []Message         `json:"messages"`
	System                       []Block           `json:"system"`
	InferenceConfig              *InferenceConfig  `json:"inferenceConfig"`
	ToolConfig                   *ToolConfig       `json:"toolConfig"`
	OutputConfig                 *OutputConfig     `json:"outputConfig"`
	AdditionalModelRequestFields map[string]any    `json:"additionalModelRequestFields"`
	RequestMetadata              map[string]string `json:"requestMetadata"`
	ServiceTier                  *ServiceTier      `json:"serviceTier"`
}

// toolSpecs returns the tools on offer.
func (in *requestBody) toolSpecs() []ToolSpec {
	if in.ToolConfig == nil {
		return nil
	}
	var specs []ToolSpec
	for _, t := range in.ToolConfig.Tools {
		if t.ToolSpec != nil {
			specs = append(specs, *t.ToolSpec)
		}
	}
	return specs
}

// jsonSchema returns the schema of a json_schema outputConfig, or "".
func (in *requestBody) jsonSchema() string {
	if c := in.OutputConfig; c != nil && c.TextFormat != nil && c.TextFormat.Type == "json_schema" &&
		c.TextFormat.Structure.JSONSchema != nil {
		return c.TextFormat.Structure.JSONSchema.Schema
	}
	return ""
}

// thinking returns the type of Anthropic's thinking field ("enabled",
// "adaptive") or "nova" for Nova 2's reasoningConfig, or "".
func (in *requestBody) thinking() string {
	if t, ok := in.AdditionalModelRequestFields["thinking"].(map[string]any); ok {
		if s, _ := t["type"].(string); s == "enabled" || s == "adaptive" {
			return s
		}
	}
	if r, ok := in.AdditionalModelRequestFields["reasoningConfig"].(map[string]any); ok && r["type"] == "enabled" {
		return "nova"
	}
	return ""
}

// Limits Bedrock enforces that the fake checks (Bedrock API reference,
// API_runtime_Message and API_runtime_ToolSpecification).
const (
	maxImageBytes     = 3_932_160 // 3.75 MB
	minThinkingBudget = 1024
)

var (
	toolNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	imageFormats    = []string{"png", "jpeg", "gif", "webp"}
)

const (
	msgStartUser = "A conversation must start with a user message. Try again with a conversation that starts with a user message."
	msgAlternate = "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
	msgToolConf  = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
)

// validate returns the ValidationException message Bedrock would give for in, or "".
func validate(in *requestBody) string {
	if len(in.Messages) == 0 {
		return msgStartUser
	}
	toolBlocks := false
	for i, m := range in.Messages {
		switch {
		case m.Role != "user" && m.Role != "assistant":
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'messages.%d.member.role' failed to satisfy constraint: Member must satisfy enum value set: [user, assistant]", m.Role, i+1)
		case i == 0 && m.Role != "user":
			return msgStartUser
		case i > 0 && m.Role == in.Messages[i-1].Role:
			return msgAlternate
		case len(m.Content) == 0:
			return fmt.Sprintf("The content field in the Message object at messages.%d is empty. Add a ContentBlock object to the content field and try again.", i)
		}
		for j, b := range m.Content {
			switch {
			case b.text() && strings.TrimSpace(b.Text) == "":
				return fmt.Sprintf("The text field in the ContentBlock object at messages.%d.content.%d is blank. Add text to the text field, and try again.", i, j)
			case b.Image != nil:
				if msg := validateImage(fmt.Sprintf("messages.%d.content.%d", i, j), m.Role, b.Image); msg != "" {
					return msg
				}
			case b.ToolUse != nil, b.ToolResult != nil:
				toolBlocks = true
			}
			if b.ToolResult != nil {
				for k, c := range b.ToolResult.Content {
					if c.Image == nil {
						continue
					}
					if msg := validateImage(fmt.Sprintf("messages.%d.content.%d.toolResult.content.%d", i, j, k), m.Role, c.Image); msg != "" {
						return msg
					}
				}
			}
		}
		if msg := validateToolResults(in.Messages, i); msg != "" {
			return msg
		}
	}
	if toolBlocks && (in.ToolConfig == nil || len(in.ToolConfig.Tools) == 0) {
		return msgToolConf
	}
	if msg := validateTools(in.ToolConfig); msg != "" {
		return msg
	}
	if s := in.jsonSchema(); s != "" || (in.OutputConfig != nil && in.OutputConfig.TextFormat != nil) {
		var v map[string]any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return "The JSON schema in outputConfig.textFormat.structure.jsonSchema.schema is not a valid JSON object."
		}
	}
	return validateThinking(in)
}

// validateImage checks an image block at path in a message of role.
func validateImage(path, role string, img *Image) string {
	switch {
	case role != "user":
		return fmt.Sprintf("The image at %s is in a %s message. You can only include images if the role is user.", path, role)
	case !slices.Contains(imageFormats, img.Format):
		return fmt.Sprintf("1 validation error detected: Value '%s' at '%s.member.image.format' failed to satisfy constraint: Member must satisfy enum value set: [png, jpeg, gif, webp]", img.Format, path)
	case len(img.Source.Bytes) == 0:
		return fmt.Sprintf("The image at %s has no bytes.", path)
	case len(img.Source.Bytes) > maxImageBytes:
		return fmt.Sprintf("The image at %s is %d bytes; images must be no more than 3.75 MB.", path, len(img.Source.Bytes))
	}
	return ""
}

// validateToolResults checks that the toolResult blocks of message i answer
// exactly the toolUse blocks of the assistant turn before it, and that an
// assistant turn's tool calls are answered in the turn after it.
func validateToolResults(msgs []Message, i int) string {
	ids := func(m Message, results bool) []string {
		var out []string
		for _, b := range m.Content {
			switch {
			case results && b.ToolResult != nil:
				out = append(out, b.ToolResult.ToolUseID)
			case !results && b.ToolUse != nil:
				out = append(out, b.ToolUse.ToolUseID)
			}
		}
		slices.Sort(out)
		return out
	}
	m := msgs[i]
	if m.Role != "user" {
		return ""
	}
	got := ids(m, true)
	var want []string
	if i > 0 {
		want = ids(msgs[i-1], false)
	}
	if len(got) == 0 && len(want) == 0 {
		return ""
	}
	if !slices.Equal(got, want) {
		return fmt.Sprintf("Expected toolResult blocks at messages.%d.content for the following Ids: %s, but found: %s",
			i, strings.Join(want, ", "), strings.Join(got, ", "))
	}
	return ""
}

// validateTools checks a toolConfig.
func validateTools(tc *ToolConfig) string {
	if tc == nil {
		return ""
	}
	if len(tc.Tools) == 0 {
		return "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy constraint: Member must have length greater than or equal to 1"
	}
	names := map[string]bool{}
	for i, t := range tc.Tools {
		if t.ToolSpec == nil {
			continue
		}
		name := t.ToolSpec.Name
		if !toolNamePattern.MatchString(name) {
			return fmt.Sprintf("1 validation error detected: Value '%s' at 'toolConfig.tools.%d.member.toolSpec.name' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+ and have length less than or equal to 64", name, i+1)
		}
		if names[name] {
			return fmt.Sprintf("The toolConfig field has more than one tool named %s. Tool names must be unique.", name)
		}
		names[name] = true
		if _, ok := t.ToolSpec.InputSchema.JSON.(map[string]any); !ok {
			return fmt.Sprintf("The inputSchema of the tool %s is not a JSON object.", name)
		}
	}
	if c := tc.ToolChoice; c != nil && c.Tool != nil && !names[c.Tool.Name] {
		return fmt.Sprintf("The tool %s named by toolConfig.toolChoice is not one of the tools in toolConfig.tools.", c.Tool.Name)
	}
	return ""
}

// validateThinking checks Anthropic's thinking budget against maxTokens.
func validateThinking(in *requestBody) string {
	t, ok := in.AdditionalModelRequestFields["thinking"].(map[string]any)
	if !ok || t["type"] != "enabled" {
		return ""
	}
	budget, _ := t["budget_tokens"].(float64)
	if budget < minThinkingBudget {
		return "thinking.budget_tokens: Input should be greater than or equal to 1024"
	}
	if c := in.InferenceConfig; c != nil && c.MaxTokens != nil && budget >= float64(*c.MaxTokens) {
		return "`max_tokens` must be greater than `thinking.budget_tokens`."
	}
	if c := in.ToolConfig; c != nil && c.ToolChoice != nil && (c.ToolChoice.Any != nil || c.ToolChoice.Tool != nil) {
		return "Thinking may not be enabled when tool_choice forces tool use."
	}
	return ""
}
