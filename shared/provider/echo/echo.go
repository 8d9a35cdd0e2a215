// Package echo is Tollgate's built-in provider for local runs and tests: it answers
// with the last user message, streamed word by word. It is deterministic and clearly
// labelled: it is no language model.
//
// It also plays the parts an agent or a structured-output client needs, so that
// `make run` shows them without a real model:
//   - offered tools (and no tool choice of "none"), it calls one: the named tool,
//     or the first, with arguments made from the tool's JSON Schema (the last user
//     message fills the first string), and finishes with tool_calls;
//   - when the conversation ends with tool results, it answers
//     "results: " + their texts joined with "; ";
//   - with a json_schema response format it answers a JSON value valid for the
//     schema (schema.Example); with json_object, {"answer": <last user message>};
//   - with a reasoning effort, it streams one reasoning delta before the answer;
//   - with n > 1, every choice gets the same answer;
//   - given retrieved sources (file_search), it answers "According to [1]: "
//     and the first 40 words of the best source, citing it.
package echo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/schema"
	"github.com/tollgate/tollgate/shared/tokens"
)

// Client is the echo provider.
type Client struct{}

// New returns the echo provider.
func New() *Client { return &Client{} }

// Check reports what echo cannot do: log probabilities, logit bias, predicted
// outputs and service tiers mean nothing without a model. Sampling settings,
// seeds and penalties are accepted: echo is deterministic anyway.
func (*Client) Check(req *chat.Request) []chat.Issue {
	var out []chat.Issue
	add := func(param string, set bool) {
		if set {
			out = append(out, chat.Issue{Param: param, Message: "the echo provider has no " + strings.ReplaceAll(param, "_", " "), Droppable: true})
		}
	}
	add("logprobs", req.Logprobs)
	add("logit_bias", req.LogitBias != nil)
	add("prediction", req.Prediction != "")
	add("service_tier", req.ServiceTier != "" && req.ServiceTier != "auto" && req.ServiceTier != "default")
	return out
}

// Stream answers as the package documents, honouring MaxTokens (one word or
// fragment counts as one token) and Stop. Usage counts the prompt with
// tokens.RequestEstimate and one token per word or fragment.
func (*Client) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var last string
	for i := range req.Messages {
		if req.Messages[i].Role == chat.RoleUser {
			last = req.Messages[i].Text()
		}
	}
	a := answer(req, last)
	for _, s := range req.Stop {
		if i := strings.Index(a.text, s); s != "" && i >= 0 && a.call == nil {
			a.text = a.text[:i]
		}
	}
	s := &stream{input: tokens.RequestEstimate(req), choices: req.Choices(), finish: chat.FinishStop}
	if a.reasoning != "" {
		s.pieces = append(s.pieces, chat.Chunk{Reasoning: a.reasoning})
	}
	if a.call != nil {
		s.finish = chat.FinishToolCalls
		args := a.call.Arguments
		half := len(args) / 2
		s.pieces = append(s.pieces,
			chat.Chunk{ToolCall: &chat.ToolCallDelta{ID: a.call.ID, Name: a.call.Name}},
			chat.Chunk{ToolCall: &chat.ToolCallDelta{Arguments: args[:half]}},
			chat.Chunk{ToolCall: &chat.ToolCallDelta{Arguments: args[half:]}})
	} else {
		for _, w := range split(a.text) {
			s.pieces = append(s.pieces, chat.Chunk{Text: w})
		}
	}
	if req.MaxTokens > 0 {
		s.limit(req.MaxTokens)
	}
	return s, nil
}

// limit cuts the answer after max output tokens (pieces with text, reasoning
// or argument text), finishing with length.
func (s *stream) limit(max int) {
	n := 0
	for i, p := range s.pieces {
		if outputPiece(p) {
			n++
		}
		if n > max {
			s.pieces, s.finish = s.pieces[:i], chat.FinishLength
			return
		}
	}
}

// outputPiece reports whether a piece counts as an output token.
func outputPiece(p chat.Chunk) bool {
	return p.Text != "" || p.Reasoning != "" || p.ToolCall != nil && p.ToolCall.Arguments != ""
}

// reply is what echo answers: reasoning, then text or one tool call.
type reply struct {
	reasoning string
	text      string
	call      *chat.ToolCall
}

func answer(req *chat.Request, last string) reply {
	var a reply
	if req.ReasoningEffort != "" && req.ReasoningEffort != "none" {
		a.reasoning = fmt.Sprintf("The echo provider repeats the last user message (%d words).", len(strings.Fields(last)))
	}
	msgs := req.Messages
	if n := len(msgs); n > 0 && msgs[n-1].Role == chat.RoleTool {
		var results []string
		for i := n - 1; i >= 0 && msgs[i].Role == chat.RoleTool; i-- {
			for _, p := range msgs[i].Parts {
				if p.ToolResult != nil {
					results = append([]string{chat.JoinText(p.ToolResult.Parts)}, results...)
				}
			}
		}
		a.text = "results: " + strings.Join(results, "; ")
		return a
	}
	if t := pickTool(req); t != nil {
		args, err := schema.Example(t.Parameters, last)
		if err != nil {
			args = []byte("{}")
		}
		a.call = &chat.ToolCall{ID: fmt.Sprintf("call_echo_%d", len(msgs)), Name: t.Name, Arguments: string(args)}
		return a
	}
	switch f := req.ResponseFormat; f.Type {
	case chat.FormatJSONSchema:
		if v, err := schema.Example(f.Schema, last); err == nil {
			a.text = string(v)
			return a
		}
	case chat.FormatJSONObject:
		v, _ := json.Marshal(map[string]string{"answer": last})
		a.text = string(v)
		return a
	}
	if len(req.Sources) > 0 {
		a.text = "According to [1]: " + firstWords(req.Sources[0].Text, 40)
		return a
	}
	a.text = last
	return a
}

// firstWords returns the first n words of s.
func firstWords(s string, n int) string {
	w := strings.Fields(s)
	if len(w) > n {
		w = append(w[:n], "…")
	}
	return strings.Join(w, " ")
}

// pickTool returns the tool echo calls, or nil.
func pickTool(req *chat.Request) *chat.Tool {
	if len(req.Tools) == 0 || req.ToolChoice.Mode == chat.ToolChoiceNone {
		return nil
	}
	if req.ToolChoice.Mode == chat.ToolChoiceNamed {
		for i := range req.Tools {
			if req.Tools[i].Name == req.ToolChoice.Name {
				return &req.Tools[i]
			}
		}
	}
	return &req.Tools[0]
}

// split cuts text after each run of spaces, so the pieces concatenate to text.
// JSON text (structured output) has no spaces: it is cut every 16 bytes.
func split(text string) []string {
	var out []string
	for len(text) > 0 {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
			if len(text) > 16 && (text[0] == '{' || text[0] == '[') {
				out = append(out, text[:16])
				text = text[16:]
				continue
			}
			out = append(out, text)
			break
		}
		j := i
		for j < len(text) && text[j] == ' ' {
			j++
		}
		out = append(out, text[:j])
		text = text[j:]
	}
	return out
}

type stream struct {
	pieces  []chat.Chunk // one choice's answer
	choices int
	choice  int // the choice being sent
	i       int
	finish  string
	input   int
}

func (s *stream) Next(ctx context.Context) (chat.Chunk, error) {
	if err := ctx.Err(); err != nil {
		return chat.Chunk{}, err
	}
	if s.choice >= s.choices {
		return chat.Chunk{}, io.EOF
	}
	if s.i < len(s.pieces) {
		c := s.pieces[s.i]
		c.Choice = s.choice
		if c.ToolCall != nil {
			d := *c.ToolCall
			c.ToolCall = &d
		}
		s.i++
		return c, nil
	}
	// The choice's finish; the last one carries the usage of all.
	c := chat.Chunk{Choice: s.choice, FinishReason: s.finish}
	s.choice++
	s.i = 0
	if s.choice < s.choices {
		return c, nil
	}
	out := 0
	for _, p := range s.pieces {
		if outputPiece(p) {
			out++
		}
	}
	c.Usage = &chat.Usage{InputTokens: s.input, OutputTokens: out * s.choices}
	if s.pieces != nil && s.pieces[0].Reasoning != "" {
		c.Usage.ReasoningTokens = s.choices
	}
	return c, nil
}

func (s *stream) Close() error { return nil }
