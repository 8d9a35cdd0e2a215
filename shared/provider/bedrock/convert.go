package bedrock

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate/tollgate/shared/chat"
)

// request is a chat.Request in Bedrock's terms.
type request struct {
	modelID    *string
	messages   []types.Message
	system     []types.SystemContentBlock
	config     *types.InferenceConfiguration
	tools      *types.ToolConfiguration
	output     *types.OutputConfig
	additional document.Interface
	metadata   map[string]string
	tier       *types.ServiceTier

	// answerTool names the tool Tollgate added and forced so that a model
	// without native structured output answers in JSON: its input is the
	// answer's text, not a tool call. "" when there is none.
	answerTool string
}

func (r *request) converseInput() *bedrockruntime.ConverseInput {
	return &bedrockruntime.ConverseInput{
		ModelId:                      r.modelID,
		Messages:                     r.messages,
		System:                       r.system,
		InferenceConfig:              r.config,
		ToolConfig:                   r.tools,
		OutputConfig:                 r.output,
		AdditionalModelRequestFields: r.additional,
		RequestMetadata:              r.metadata,
		ServiceTier:                  r.tier,
	}
}

func (r *request) converseStreamInput() *bedrockruntime.ConverseStreamInput {
	return &bedrockruntime.ConverseStreamInput{
		ModelId:                      r.modelID,
		Messages:                     r.messages,
		System:                       r.system,
		InferenceConfig:              r.config,
		ToolConfig:                   r.tools,
		OutputConfig:                 r.output,
		AdditionalModelRequestFields: r.additional,
		RequestMetadata:              r.metadata,
		ServiceTier:                  r.tier,
	}
}

// defaultAnswerTool names the forced tool of structured output when the
// response format has no usable name of its own.
const defaultAnswerTool = "json_response"

// toolName is what Bedrock accepts as a tool name (ToolSpecification.name).
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// convert maps req onto Bedrock's Converse input.
//
// System messages become system blocks, in order. Bedrock wants the
// conversation to start with a user message and roles to alternate, so tool
// messages become user turns of toolResult blocks, and consecutive turns of one
// role are merged: text that meets text is joined with a blank line, other
// blocks follow each other. A conversation starting with an assistant message is
// a bad request. Reasoning goes first in an assistant turn, as Anthropic wants.
//
// Parameters Bedrock cannot honour (Check reports them) are left out; what
// cannot be expressed at all (an image given by URL, tool arguments that are no
// JSON object) is a bad request.
func convert(req *chat.Request) (request, error) {
	if req == nil {
		return request{}, badRequest("no request")
	}
	if req.Model == "" {
		return request{}, badRequest("no model")
	}
	var (
		r   request
		err error
	)
	if r.messages, r.system, err = convertMessages(req.Messages); err != nil {
		return request{}, err
	}
	r.modelID = aws.String(req.Model)
	r.config = inferenceConfig(req)
	if err := r.setTools(req); err != nil {
		return request{}, err
	}
	if r.additional, err = reasoningFields(req); err != nil {
		return request{}, err
	}
	if len(req.Metadata) > 0 {
		r.metadata = maps.Clone(req.Metadata)
	}
	r.tier = serviceTier(req.ServiceTier)
	return r, nil
}

// convertMessages returns the conversation and the system blocks of msgs.
func convertMessages(msgs []chat.Message) ([]types.Message, []types.SystemContentBlock, error) {
	var (
		turns  []types.Message
		system []types.SystemContentBlock
	)
	for i := range msgs {
		m := &msgs[i]
		var (
			role   types.ConversationRole
			blocks []types.ContentBlock
			err    error
		)
		switch m.Role {
		case chat.RoleSystem:
			sys, err := systemBlocks(i, m)
			if err != nil {
				return nil, nil, err
			}
			system = append(system, sys...)
			continue
		case chat.RoleUser:
			role = types.ConversationRoleUser
			blocks, err = userBlocks(i, m)
		case chat.RoleTool:
			role = types.ConversationRoleUser
			blocks, err = toolMessageBlocks(i, m)
		case chat.RoleAssistant:
			role = types.ConversationRoleAssistant
			blocks, err = assistantBlocks(i, m)
		default:
			return nil, nil, badRequest("unsupported message role " + quote(m.Role))
		}
		if err != nil {
			return nil, nil, err
		}
		if n := len(turns); n > 0 && turns[n-1].Role == role {
			turns[n-1].Content = mergeBlocks(turns[n-1].Content, blocks)
			continue
		}
		if len(turns) == 0 && role != types.ConversationRoleUser {
			return nil, nil, badRequest("the conversation must start with a user message")
		}
		if len(blocks) == 0 {
			// An empty message: Bedrock's own validation names what is wrong.
			blocks = []types.ContentBlock{&types.ContentBlockMemberText{Value: m.Text()}}
		}
		turns = append(turns, types.Message{Role: role, Content: blocks})
	}
	if len(turns) == 0 {
		return nil, nil, badRequest("the conversation has no user message")
	}
	return turns, system, nil
}

// mergeBlocks appends next to prev, joining text that meets text with a blank
// line.
func mergeBlocks(prev, next []types.ContentBlock) []types.ContentBlock {
	if len(next) == 0 {
		return prev
	}
	if n := len(prev); n > 0 {
		a, ok1 := prev[n-1].(*types.ContentBlockMemberText)
		b, ok2 := next[0].(*types.ContentBlockMemberText)
		if ok1 && ok2 {
			prev = slices.Clone(prev)
			prev[n-1] = &types.ContentBlockMemberText{Value: a.Value + "\n\n" + b.Value}
			next = next[1:]
		}
	}
	return append(prev, next...)
}

// partPath names part j of message i, whose parts are parts, in OpenAI's terms.
func partPath(i int, parts []chat.Part, j int) string {
	return fmt.Sprintf("messages[%d].content[%d]", i, chat.ContentIndex(parts, j))
}

// systemBlocks returns the blocks of system message i: its text (consecutive
// text parts joined), with a cache point block where it has one.
func systemBlocks(i int, m *chat.Message) ([]types.SystemContentBlock, error) {
	var (
		out  []types.SystemContentBlock
		text strings.Builder
	)
	flush := func() {
		if text.Len() > 0 {
			out = append(out, &types.SystemContentBlockMemberText{Value: text.String()})
			text.Reset()
		}
	}
	for j := range m.Parts {
		switch p := &m.Parts[j]; p.Kind {
		case chat.PartText:
			text.WriteString(p.Text)
		case chat.PartCachePoint:
			flush()
			out = append(out, &types.SystemContentBlockMemberCachePoint{Value: cachePoint()})
		default:
			return nil, badRequest(partPath(i, m.Parts, j) + ": a system message holds only text, not " + p.Kind.String() + " parts")
		}
	}
	flush()
	if len(out) == 0 {
		out = append(out, &types.SystemContentBlockMemberText{Value: ""})
	}
	return out, nil
}

// userBlocks returns the blocks of user message i. Empty text parts are left
// out.
func userBlocks(i int, m *chat.Message) ([]types.ContentBlock, error) {
	var out []types.ContentBlock
	for j := range m.Parts {
		switch p := &m.Parts[j]; p.Kind {
		case chat.PartText:
			if p.Text != "" {
				out = append(out, &types.ContentBlockMemberText{Value: p.Text})
			}
		case chat.PartImage:
			img, err := imageBlock(partPath(i, m.Parts, j), p.Image)
			if err != nil {
				return nil, err
			}
			out = append(out, &types.ContentBlockMemberImage{Value: img})
		case chat.PartCachePoint:
			out = append(out, &types.ContentBlockMemberCachePoint{Value: cachePoint()})
		case chat.PartToolResult:
			b, err := toolResultBlock(partPath(i, m.Parts, j), p.ToolResult)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		default:
			return nil, badRequest(partPath(i, m.Parts, j) + ": a user message cannot hold " + p.Kind.String() + " parts")
		}
	}
	return out, nil
}

// toolMessageBlocks returns the toolResult blocks of tool message i.
func toolMessageBlocks(i int, m *chat.Message) ([]types.ContentBlock, error) {
	var out []types.ContentBlock
	for j := range m.Parts {
		switch p := &m.Parts[j]; p.Kind {
		case chat.PartToolResult:
			b, err := toolResultBlock(partPath(i, m.Parts, j), p.ToolResult)
			if err != nil {
				return nil, err
			}
			out = append(out, b)
		case chat.PartCachePoint:
			out = append(out, &types.ContentBlockMemberCachePoint{Value: cachePoint()})
		default:
			return nil, badRequest(partPath(i, m.Parts, j) + ": a tool message holds only tool results, not " + p.Kind.String() + " parts")
		}
	}
	if len(out) == 0 {
		return nil, badRequest(fmt.Sprintf("messages[%d]: a tool message without a tool result", i))
	}
	return out, nil
}

// toolResultBlock converts a tool result: its text and image parts become the
// result's content, and IsError its status "error". A successful result sends
// no status, which some models refuse.
func toolResultBlock(path string, tr *chat.ToolResult) (types.ContentBlock, error) {
	if tr == nil {
		return nil, badRequest(path + ": a tool result part without a result")
	}
	content := []types.ToolResultContentBlock{}
	for k := range tr.Parts {
		switch q := &tr.Parts[k]; q.Kind {
		case chat.PartText:
			content = append(content, &types.ToolResultContentBlockMemberText{Value: q.Text})
		case chat.PartImage:
			img, err := imageBlock(fmt.Sprintf("%s.content[%d]", path, k), q.Image)
			if err != nil {
				return nil, err
			}
			content = append(content, &types.ToolResultContentBlockMemberImage{Value: img})
		default:
			return nil, badRequest(fmt.Sprintf("%s.content[%d]: a tool result holds only text and images, not %s parts", path, k, q.Kind))
		}
	}
	b := types.ToolResultBlock{ToolUseId: aws.String(tr.CallID), Content: content}
	if tr.IsError {
		b.Status = types.ToolResultStatusError
	}
	return &types.ContentBlockMemberToolResult{Value: b}, nil
}

// assistantBlocks returns the blocks of assistant message i: its reasoning
// first, then text, tool calls and cache points in their order.
func assistantBlocks(i int, m *chat.Message) ([]types.ContentBlock, error) {
	var reasoning, rest []types.ContentBlock
	calls := 0
	for j := range m.Parts {
		switch p := &m.Parts[j]; p.Kind {
		case chat.PartReasoning:
			if b := reasoningBlock(p); b != nil {
				reasoning = append(reasoning, b)
			}
		case chat.PartText:
			if p.Text != "" {
				rest = append(rest, &types.ContentBlockMemberText{Value: p.Text})
			}
		case chat.PartToolCall:
			b, err := toolUseBlock(i, calls, p.ToolCall)
			if err != nil {
				return nil, err
			}
			calls++
			rest = append(rest, b)
		case chat.PartCachePoint:
			rest = append(rest, &types.ContentBlockMemberCachePoint{Value: cachePoint()})
		default:
			return nil, badRequest(partPath(i, m.Parts, j) + ": an assistant message cannot hold " + p.Kind.String() + " parts")
		}
	}
	return append(reasoning, rest...), nil
}

// reasoningBlock returns the reasoningContent block of a reasoning part, or
// nil for an empty one.
func reasoningBlock(p *chat.Part) types.ContentBlock {
	var rc types.ReasoningContentBlock
	switch {
	case len(p.Redacted) > 0:
		rc = &types.ReasoningContentBlockMemberRedactedContent{Value: p.Redacted}
	case p.Text != "" || p.Signature != "":
		t := types.ReasoningTextBlock{Text: aws.String(p.Text)}
		if p.Signature != "" {
			t.Signature = aws.String(p.Signature)
		}
		rc = &types.ReasoningContentBlockMemberReasoningText{Value: t}
	default:
		return nil
	}
	return &types.ContentBlockMemberReasoningContent{Value: rc}
}

// toolUseBlock converts call k of message i. Its arguments must be a JSON
// object (empty arguments count as {}).
func toolUseBlock(i, k int, tc *chat.ToolCall) (types.ContentBlock, error) {
	if tc == nil {
		return nil, badRequest(fmt.Sprintf("messages[%d].tool_calls[%d] has no call", i, k))
	}
	args, ok := jsonObject([]byte(tc.Arguments))
	if !ok {
		return nil, badRequest(fmt.Sprintf("messages[%d].tool_calls[%d].function.arguments is not a JSON object", i, k))
	}
	return &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{
		ToolUseId: aws.String(tc.ID),
		Name:      aws.String(tc.Name),
		Input:     document.NewLazyDocument(args),
	}}, nil
}

// jsonObject parses b as a JSON object; empty (or blank) b is {}.
func jsonObject(b []byte) (map[string]any, bool) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return map[string]any{}, true
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil || v == nil {
		return nil, false
	}
	return v, true
}

// imageBlock converts an inline image; Bedrock does not fetch URLs.
func imageBlock(path string, img *chat.Image) (types.ImageBlock, error) {
	if img == nil {
		return types.ImageBlock{}, badRequest(path + ": an image part without an image")
	}
	if len(img.Data) == 0 {
		return types.ImageBlock{}, badRequest(path + ": " + msgImageURL)
	}
	format, ok := imageFormats[img.MediaType]
	if !ok {
		return types.ImageBlock{}, badRequest(path + ": " + imageTypeMessage(img.MediaType))
	}
	return types.ImageBlock{Format: format, Source: &types.ImageSourceMemberBytes{Value: img.Data}}, nil
}

// imageFormats are the media types Bedrock takes, with its names for them.
var imageFormats = map[string]types.ImageFormat{
	"image/png":  types.ImageFormatPng,
	"image/jpeg": types.ImageFormatJpeg,
	"image/gif":  types.ImageFormatGif,
	"image/webp": types.ImageFormatWebp,
}

func cachePoint() types.CachePointBlock {
	return types.CachePointBlock{Type: types.CachePointTypeDefault}
}

// setTools sets r's toolConfig and outputConfig from req's tools, tool choice
// and response format.
//
// Bedrock has no tool choice "none": such a request is sent without toolConfig,
// unless the conversation already holds tool calls or results, which Bedrock
// refuses without one; then the tools stay on offer with "auto" (Check reports
// it). A JSON Schema response format uses outputConfig on the models that have
// it (nativeSchema); elsewhere, and for a JSON object format, Tollgate offers a
// tool whose input schema is the answer's and forces it, and the answer is that
// tool's input.
func (r *request) setTools(req *chat.Request) error {
	var tools []types.Tool
	names := make(map[string]bool, len(req.Tools))
	for i := range req.Tools {
		t := &req.Tools[i]
		spec, err := toolSpec(t.Name, t.Description, t.Parameters, t.Strict)
		if err != nil {
			return badRequest(fmt.Sprintf("tools[%d].function.parameters is not a JSON object", i))
		}
		tools = append(tools, &types.ToolMemberToolSpec{Value: spec})
		if t.CachePoint {
			tools = append(tools, &types.ToolMemberCachePoint{Value: cachePoint()})
		}
		names[t.Name] = true
	}

	var choice types.ToolChoice
	switch req.ToolChoice.Mode {
	case chat.ToolChoiceAuto:
		choice = &types.ToolChoiceMemberAuto{}
	case chat.ToolChoiceRequired:
		choice = &types.ToolChoiceMemberAny{}
	case chat.ToolChoiceNamed:
		choice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(req.ToolChoice.Name)}}
	case chat.ToolChoiceNone:
		if hasToolBlocks(r.messages) {
			choice = &types.ToolChoiceMemberAuto{}
		} else {
			tools = nil
		}
	}

	rf := &req.ResponseFormat
	switch {
	case rf.Type == chat.FormatJSONSchema && nativeSchema(req.Model):
		if _, ok := jsonObject(rf.Schema); !ok || len(rf.Schema) == 0 {
			return badRequest("response_format.json_schema.schema is not a JSON object")
		}
		def := types.JsonSchemaDefinition{Schema: aws.String(string(rf.Schema))}
		if rf.Name != "" {
			def.Name = aws.String(rf.Name)
		}
		if rf.Description != "" {
			def.Description = aws.String(rf.Description)
		}
		r.output = &types.OutputConfig{TextFormat: &types.OutputFormat{
			Type:      types.OutputFormatTypeJsonSchema,
			Structure: &types.OutputFormatStructureMemberJsonSchema{Value: def},
		}}
	case rf.Type == chat.FormatJSONSchema || rf.Type == chat.FormatJSONObject:
		schema := []byte(`{"type":"object"}`)
		if rf.Type == chat.FormatJSONSchema {
			schema = rf.Schema
		}
		name := rf.Name
		if !toolName.MatchString(name) || names[name] {
			name = defaultAnswerTool
		}
		desc := cmp.Or(rf.Description, "Give your answer as the input of this tool: a JSON value that matches its schema.")
		spec, err := toolSpec(name, desc, schema, false)
		if err != nil {
			return badRequest("response_format.json_schema.schema is not a JSON object")
		}
		tools = append(tools, &types.ToolMemberToolSpec{Value: spec})
		choice = &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(name)}}
		r.answerTool = name
	}

	if len(tools) > 0 {
		r.tools = &types.ToolConfiguration{Tools: tools, ToolChoice: choice}
	}
	return nil
}

// toolSpec returns a tool's specification; nil parameters take none.
func toolSpec(name, desc string, params []byte, strict bool) (types.ToolSpecification, error) {
	schema := map[string]any{"type": "object", "properties": map[string]any{}}
	if len(params) > 0 {
		var ok bool
		if schema, ok = jsonObject(params); !ok {
			return types.ToolSpecification{}, fmt.Errorf("bedrock: tool %s: parameters are not a JSON object", name)
		}
	}
	spec := types.ToolSpecification{
		Name:        aws.String(name),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)},
	}
	if desc != "" {
		spec.Description = aws.String(desc)
	}
	if strict {
		spec.Strict = aws.Bool(true)
	}
	return spec, nil
}

// hasToolBlocks reports whether a conversation holds toolUse or toolResult
// blocks, which Bedrock refuses without a toolConfig.
func hasToolBlocks(msgs []types.Message) bool {
	for _, m := range msgs {
		for _, b := range m.Content {
			switch b.(type) {
			case *types.ContentBlockMemberToolUse, *types.ContentBlockMemberToolResult:
				return true
			}
		}
	}
	return false
}

// reasoningFields returns the additionalModelRequestFields that ask req's model
// to reason with req's effort, or nil: see thinking for the shapes. A budget
// Anthropic would refuse (max_tokens too small for the 1024-token minimum) is a
// bad request.
func reasoningFields(req *chat.Request) (document.Interface, error) {
	if !asksReasoning(req.ReasoningEffort) {
		return nil, nil
	}
	switch thinkingOf(req.Model) {
	case thinkBudget:
		budget, ok := thinkingBudget(req.ReasoningEffort, req.MaxTokens)
		if !ok {
			return nil, badRequest(msgThinkingMaxTokens)
		}
		return document.NewLazyDocument(map[string]any{
			"thinking": map[string]any{"type": "enabled", "budget_tokens": budget},
		}), nil
	case thinkAdaptive:
		return document.NewLazyDocument(map[string]any{
			"thinking":      map[string]any{"type": "adaptive"},
			"output_config": map[string]any{"effort": effortLevel(req.ReasoningEffort)},
		}), nil
	case thinkNova:
		return document.NewLazyDocument(map[string]any{
			"reasoningConfig": map[string]any{"type": "enabled", "maxReasoningEffort": effortLevel(req.ReasoningEffort)},
		}), nil
	}
	return nil, nil
}

// serviceTier maps OpenAI's service tier onto Bedrock's: "auto" (and any value
// Bedrock lacks, which Check reports) leaves it to Bedrock.
func serviceTier(tier string) *types.ServiceTier {
	switch t := types.ServiceTierType(tier); t {
	case types.ServiceTierTypeDefault, types.ServiceTierTypeFlex, types.ServiceTierTypePriority:
		return &types.ServiceTier{Type: t}
	}
	return nil
}

// inferenceConfig returns req's sampling settings, or nil when it sets none.
func inferenceConfig(req *chat.Request) *types.InferenceConfiguration {
	var cfg types.InferenceConfiguration
	set := false
	if req.MaxTokens > 0 {
		cfg.MaxTokens = aws.Int32(int32(min(req.MaxTokens, 1<<31-1)))
		set = true
	}
	if req.Temperature != nil {
		cfg.Temperature = aws.Float32(float32(*req.Temperature))
		set = true
	}
	if req.TopP != nil {
		cfg.TopP = aws.Float32(float32(*req.TopP))
		set = true
	}
	if len(req.Stop) > 0 {
		cfg.StopSequences = req.Stop
		set = true
	}
	if !set {
		return nil
	}
	return &cfg
}
