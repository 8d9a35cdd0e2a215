package gateway

import (
	"fmt"
	"strings"

	"github.com/tollgate/tollgate/shared/chat"
)

// paramNames are the names one API gives the parameters validate speaks of.
type paramNames struct {
	toolChoice, tools, maxTokens string
}

var (
	openAINames = paramNames{toolChoice: "tool_choice", tools: "tools", maxTokens: "max_tokens"}
	nativeNames = paramNames{toolChoice: "toolChoice", tools: "tools", maxTokens: "maxTokens"}
)

// validate checks the rules that span parameters, once, on the decoded request.
// Tool results are checked against the calls once the session (if any) is loaded:
// checkToolResults.
func validate(r *chat.Request, n paramNames) error {
	names := make(map[string]bool, len(r.Tools))
	for i, t := range r.Tools {
		if names[t.Name] {
			return invalid("invalid_value", fmt.Sprintf("%s[%d]", n.tools, i), "%s[%d]: the tool name %q is used twice", n.tools, i, t.Name)
		}
		names[t.Name] = true
	}
	switch tc := r.ToolChoice; tc.Mode {
	case chat.ToolChoiceNamed:
		if !names[tc.Name] {
			return invalid("invalid_value", n.toolChoice, "%s names the tool %q, which is not in %s", n.toolChoice, clip(tc.Name), n.tools)
		}
	case chat.ToolChoiceAuto, chat.ToolChoiceRequired:
		if len(r.Tools) == 0 {
			return invalid("invalid_value", n.toolChoice, "%s is only allowed when %s are given", n.toolChoice, n.tools)
		}
	}
	return nil
}

// checkToolResults checks that every tool result in msgs answers a call that an
// earlier assistant message (in prior, the session's history, or in msgs) made
// and no earlier result answered. param names msgs ("messages").
func checkToolResults(prior, msgs []chat.Message, param string) error {
	open := map[string]bool{}
	note := func(m *chat.Message) {
		for i := range m.Parts {
			p := &m.Parts[i]
			switch {
			case p.Kind == chat.PartToolCall && p.ToolCall != nil:
				open[p.ToolCall.ID] = true
			case p.Kind == chat.PartToolResult && p.ToolResult != nil:
				delete(open, p.ToolResult.CallID)
			}
		}
	}
	for i := range prior {
		note(&prior[i])
	}
	for i := range msgs {
		m := &msgs[i]
		for j := range m.Parts {
			p := &m.Parts[j]
			if p.Kind != chat.PartToolResult || p.ToolResult == nil {
				continue
			}
			id := p.ToolResult.CallID
			if !open[id] {
				if name, ok := strings.CutPrefix(id, legacyCallPrefix); ok {
					return invalid("invalid_value", fmt.Sprintf("%s[%d].name", param, i),
						"%s[%d]: no earlier assistant message called the function %q", param, i, clip(name))
				}
				return invalid("invalid_tool_call_id", fmt.Sprintf("%s[%d].tool_call_id", param, i),
					"%s[%d].tool_call_id %q answers no tool call of an earlier assistant message", param, i, clip(id))
			}
		}
		note(m)
	}
	return nil
}
