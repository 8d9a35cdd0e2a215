package bedrocktest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/shared/schema"
)

// Reasoning is a scripted reasoning block: Text with the model's Signature,
// or Redacted reasoning (then Text and Signature are ignored). Text streams
// word by word, then the signature.
type Reasoning struct {
	Text      string
	Signature string
	Redacted  []byte
}

// ToolCall is a scripted tool call. Input is its JSON input ("" is {}); it
// streams in several contentBlockDelta.toolUse.input fragments.
type ToolCall struct {
	ID    string
	Name  string
	Input string
}

// AnswerBlock is one content block of a scripted answer. Set Reasoning or
// ToolCall for those blocks; otherwise it is a text block of the deltas Text.
type AnswerBlock struct {
	Text      []string
	Reasoning *Reasoning
	ToolCall  *ToolCall
}

// answer is what a request will be answered with.
type answer struct {
	blocks     []block
	stopReason string
	usage      *Usage // nil: no metadata
}

// deltas counts the contentBlockDelta events of a.
func (a *answer) deltas() int {
	n := 0
	for _, b := range a.blocks {
		n += len(b.deltas)
	}
	return n
}

// block is one content block of an answer, in both shapes Bedrock sends it.
type block struct {
	start  map[string]any   // contentBlockStart.start; nil for text and reasoning
	deltas []map[string]any // the contentBlockDelta.delta of each delta
	whole  map[string]any   // the block in a Converse answer
}

func textBlock(chunks []string) block {
	b := block{whole: map[string]any{"text": strings.Join(chunks, "")}}
	for _, c := range chunks {
		b.deltas = append(b.deltas, map[string]any{"text": c})
	}
	return b
}

func reasoningBlock(r Reasoning) block {
	if len(r.Redacted) > 0 {
		rc := map[string]any{"redactedContent": r.Redacted}
		return block{whole: map[string]any{"reasoningContent": rc}, deltas: []map[string]any{{"reasoningContent": rc}}}
	}
	text := map[string]any{"text": r.Text}
	if r.Signature != "" {
		text["signature"] = r.Signature
	}
	b := block{whole: map[string]any{"reasoningContent": map[string]any{"reasoningText": text}}}
	for _, w := range words(r.Text) {
		b.deltas = append(b.deltas, map[string]any{"reasoningContent": map[string]any{"text": w}})
	}
	if r.Signature != "" {
		b.deltas = append(b.deltas, map[string]any{"reasoningContent": map[string]any{"signature": r.Signature}})
	}
	return b
}

func toolBlock(tc ToolCall) (block, error) {
	input := cmp.Or(strings.TrimSpace(tc.Input), "{}")
	if !json.Valid([]byte(input)) {
		return block{}, fmt.Errorf("bedrocktest: scripted input of tool %s is not JSON", tc.Name)
	}
	b := block{
		start: map[string]any{"toolUse": map[string]any{"toolUseId": tc.ID, "name": tc.Name}},
		whole: map[string]any{"toolUse": map[string]any{"toolUseId": tc.ID, "name": tc.Name, "input": json.RawMessage(input)}},
	}
	for _, f := range fragments(input, 3) {
		b.deltas = append(b.deltas, map[string]any{"toolUse": map[string]any{"input": f}})
	}
	return b, nil
}

// fragments splits s into at most n pieces of about equal length, never inside
// a UTF-8 sequence.
func fragments(s string, n int) []string {
	r := []rune(s)
	size := max(1, (len(r)+n-1)/n)
	var out []string
	for len(r) > 0 {
		k := min(size, len(r))
		out = append(out, string(r[:k]))
		r = r[k:]
	}
	return out
}

// words splits text into words, spaces kept ("a b" → "a ", "b").
func words(text string) []string {
	var out []string
	for _, c := range strings.SplitAfter(text, " ") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// scripted reports whether s says what to answer, rather than leaving it to
// the echo or the Auto behaviour.
func (s *Script) scripted() bool {
	return s.Chunks != nil || s.Blocks != nil || s.ToolCalls != nil || s.Reasoning != nil
}

// plan works out the answer to in under s; id is the request's id, which
// automatic tool call ids are made from. The error is the message of a
// ValidationException.
func plan(s Script, in *requestBody, id string) (answer, error) {
	var (
		blocks []block
		chunks []string // the text of the simple path, cut at maxTokens
		simple bool
	)
	add := func(b block, err error) error {
		blocks = append(blocks, b)
		return err
	}
	switch {
	case s.Blocks != nil:
		for _, ab := range s.Blocks {
			var err error
			switch {
			case ab.ToolCall != nil:
				err = add(toolBlock(*ab.ToolCall))
			case ab.Reasoning != nil:
				blocks = append(blocks, reasoningBlock(*ab.Reasoning))
			default:
				blocks = append(blocks, textBlock(ab.Text))
			}
			if err != nil {
				return answer{}, err
			}
		}
	case s.scripted():
		if s.Reasoning != nil {
			blocks = append(blocks, reasoningBlock(*s.Reasoning))
		}
		chunks, simple = s.Chunks, s.Chunks != nil || len(s.ToolCalls) == 0
		if chunks == nil && simple {
			chunks = echo(in.Messages)
		}
		for _, tc := range s.ToolCalls {
			if err := add(toolBlock(tc)); err != nil {
				return answer{}, err
			}
		}
	default:
		if r := autoReasoning(in, id); r != nil {
			blocks = append(blocks, reasoningBlock(*r))
		}
		auto, text, ok, err := autoAnswer(in, id, s.Auto || in.ToolConfig != nil || in.OutputConfig != nil)
		if err != nil {
			return answer{}, err
		}
		switch {
		case !ok:
			chunks, simple = echo(in.Messages), true
		case auto != nil:
			blocks = append(blocks, auto...)
		default:
			chunks, simple = text, true
		}
	}

	stop := s.StopReason
	if simple {
		if c := in.InferenceConfig; c != nil && c.MaxTokens != nil && *c.MaxTokens > 0 && *c.MaxTokens < len(chunks) {
			chunks = chunks[:*c.MaxTokens]
			stop = "max_tokens"
		}
		// The text goes after any reasoning and before any tool calls.
		at := 0
		if len(blocks) > 0 && blocks[0].start == nil && blocks[0].whole["reasoningContent"] != nil {
			at = 1
		}
		blocks = slices.Insert(blocks, at, textBlock(chunks))
	}
	if stop == "" {
		stop = "end_turn"
		for _, b := range blocks {
			if b.start != nil {
				stop = "tool_use"
			}
		}
	}
	a := answer{blocks: blocks, stopReason: stop}
	switch {
	case s.OmitMetadata:
	case s.Usage != nil:
		u := *s.Usage
		a.usage = &u
	default:
		a.usage = &Usage{In: inputWords(in), Out: a.deltas()}
	}
	return a, nil
}

// autoAnswer is the Auto behaviour, for requests that offer tools or ask for
// structured output (ok is false for others, and when on is false):
//
//   - with a json_schema outputConfig, the text is schema.Example of the
//     schema and the last user text (in a few deltas);
//   - with a specific toolChoice, the model calls that tool;
//   - when the last user turn holds tool results, the text is "results: " and
//     the results' texts joined with "; ";
//   - otherwise the model calls the first two tools on offer (the first one if
//     there is only one), stop reason tool_use.
//
// Tool inputs are schema.Example of the tool's input schema and the last user
// text. It returns blocks of tool calls, or text deltas.
func autoAnswer(in *requestBody, id string, on bool) (blocks []block, text []string, ok bool, err error) {
	if !on {
		return nil, nil, false, nil
	}
	last := lastUser(in.Messages)
	userText := blocksText(last)
	if s := in.jsonSchema(); s != "" {
		ex, err := schema.Example([]byte(s), userText)
		if err != nil {
			return nil, nil, false, fmt.Errorf("bedrocktest: outputConfig schema: %w", err)
		}
		return nil, fragments(string(ex), 3), true, nil
	}
	specs := in.toolSpecs()
	if len(specs) == 0 {
		return nil, nil, false, nil
	}
	var call []ToolSpec
	if c := in.ToolConfig.ToolChoice; c != nil && c.Tool != nil {
		i := slices.IndexFunc(specs, func(t ToolSpec) bool { return t.Name == c.Tool.Name })
		call = specs[i : i+1] // validate checked that it is on offer
	} else if results := toolResultTexts(last); results != nil {
		return nil, words("results: " + strings.Join(results, "; ")), true, nil
	} else {
		call = specs[:min(2, len(specs))]
	}
	for i, t := range call {
		schemaJSON, err := json.Marshal(t.InputSchema.JSON)
		if err != nil {
			return nil, nil, false, err
		}
		input, err := schema.Example(schemaJSON, userText)
		if err != nil {
			return nil, nil, false, fmt.Errorf("bedrocktest: input schema of tool %s: %w", t.Name, err)
		}
		b, err := toolBlock(ToolCall{ID: fmt.Sprintf("tooluse_%s_%d", id, i), Name: t.Name, Input: string(input)})
		if err != nil {
			return nil, nil, false, err
		}
		blocks = append(blocks, b)
	}
	return blocks, nil, true, nil
}

// autoReasoning is the reasoning block of an unscripted answer to a request
// that asks for reasoning: Anthropic's thinking with a signature, or Nova 2's
// redacted reasoning text.
func autoReasoning(in *requestBody, id string) *Reasoning {
	switch in.thinking() {
	case "enabled", "adaptive":
		return &Reasoning{Text: "Thinking about: " + blocksText(lastUser(in.Messages)), Signature: "bedrocktest-signature-" + id}
	case "nova":
		return &Reasoning{Text: "[REDACTED]"}
	}
	return nil
}

// lastUser returns the content of the last user message.
func lastUser(msgs []Message) []Block {
	for _, m := range slices.Backward(msgs) {
		if m.Role == "user" {
			return m.Content
		}
	}
	return nil
}

// toolResultTexts returns the text of each tool result in bs, or nil when bs
// holds none.
func toolResultTexts(bs []Block) []string {
	var out []string
	for _, b := range bs {
		if b.ToolResult != nil {
			out = append(out, blocksText(b.ToolResult.Content))
		}
	}
	return out
}

// echo splits the text of the last user message into words, spaces kept.
func echo(msgs []Message) []string {
	return words(blocksText(lastUser(msgs)))
}

// inputWords counts the words of every message and system block.
func inputWords(in *requestBody) int {
	n := len(strings.Fields(blocksText(in.System)))
	for _, m := range in.Messages {
		n += len(strings.Fields(blocksText(m.Content)))
	}
	return n
}

// blocksText joins the text blocks of bs with spaces.
func blocksText(bs []Block) string {
	var sb strings.Builder
	for _, b := range bs {
		if !b.text() {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(b.Text)
	}
	return sb.String()
}
