package gateway

import (
	"strings"

	"github.com/tollgate/tollgate/shared/chat"
)

// assembler builds whole assistant messages from a stream's deltas: for a
// session's stored turn, and for a non-streaming answer of a provider that only
// streams.
type assembler struct {
	choices []choiceBuf
}

type choiceBuf struct {
	parts     []chat.Part // closed reasoning blocks, in order
	reasoning strings.Builder
	text      strings.Builder
	refusal   strings.Builder
	calls     []*chat.ToolCall // by dense index
	args      []strings.Builder
	finish    string
}

// add takes one chunk and returns how many bytes of answer it carried.
func (a *assembler) add(c *chat.Chunk) int {
	if c.Choice < 0 || c.Choice >= maxChoices {
		return 0
	}
	for len(a.choices) <= c.Choice {
		a.choices = append(a.choices, choiceBuf{})
	}
	b := &a.choices[c.Choice]
	n := len(c.Text) + len(c.Reasoning) + len(c.Refusal)
	b.text.WriteString(c.Text)
	b.refusal.WriteString(c.Refusal)
	b.reasoning.WriteString(c.Reasoning)
	if c.ReasoningSignature != "" || c.RedactedReasoning != "" {
		b.closeReasoning(c.ReasoningSignature, c.RedactedReasoning)
	}
	if d := c.ToolCall; d != nil && d.Index >= 0 && d.Index < maxTools*4 {
		for len(b.calls) <= d.Index {
			b.calls = append(b.calls, &chat.ToolCall{})
			b.args = append(b.args, strings.Builder{})
		}
		tc := b.calls[d.Index]
		if d.ID != "" {
			tc.ID = d.ID
		}
		if d.Name != "" {
			tc.Name = d.Name
		}
		b.args[d.Index].WriteString(d.Arguments)
		n += len(d.Name) + len(d.Arguments)
	}
	if c.FinishReason != "" {
		b.finish = c.FinishReason
	}
	return n
}

func (b *choiceBuf) closeReasoning(signature, redacted string) {
	p := chat.Part{Kind: chat.PartReasoning, Text: b.reasoning.String(), Signature: signature}
	if redacted != "" {
		p.Redacted = []byte(redacted)
	}
	b.parts = append(b.parts, p)
	b.reasoning.Reset()
}

// message returns choice i's assistant message: reasoning, text, tool calls.
func (a *assembler) message(i int) chat.Message {
	m := chat.Message{Role: chat.RoleAssistant}
	if i >= len(a.choices) {
		return m
	}
	b := &a.choices[i]
	m.Parts = append(m.Parts, b.parts...)
	if b.reasoning.Len() > 0 {
		m.Parts = append(m.Parts, chat.Part{Kind: chat.PartReasoning, Text: b.reasoning.String()})
	}
	if b.text.Len() > 0 || len(b.calls) == 0 {
		m.Parts = append(m.Parts, chat.TextPart(b.text.String()))
	}
	for j, tc := range b.calls {
		call := *tc
		call.Arguments = b.args[j].String()
		if call.Arguments == "" {
			call.Arguments = "{}"
		}
		m.Parts = append(m.Parts, chat.Part{Kind: chat.PartToolCall, ToolCall: &call})
	}
	return m
}

// completion returns every choice, at least n.
func (a *assembler) completion(n int, u *chat.Usage) chat.Completion {
	comp := chat.Completion{Usage: u, Choices: make([]chat.Choice, max(n, len(a.choices), 1))}
	for i := range comp.Choices {
		comp.Choices[i].Message = a.message(i)
		if i < len(a.choices) {
			comp.Choices[i].FinishReason = a.choices[i].finish
			comp.Choices[i].Refusal = a.choices[i].refusal.String()
		}
	}
	return comp
}
