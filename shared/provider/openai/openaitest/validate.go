package openaitest

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// apiError is an error answer in OpenAI's shape.
type apiError struct {
	status int
	typ    string
	code   string // null when empty
	param  string // null when empty
	msg    string
}

func invalid(param, code, msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, code: code, msg: msg}
}

// toolName is the pattern OpenAI checks function names against (its message
// names the pattern without the length, which it checks on its own).
var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

const maxToolName = 64

// validate checks what OpenAI checks before answering, with OpenAI's messages,
// params and codes: tool names, tool_choice against tools, and that tool
// messages answer the tool calls of the assistant message before them (and
// that every call is answered).
func validate(req *Request) *apiError {
	if req.Model == "" {
		return invalid("", "", "you must provide a model parameter")
	}
	if len(req.Messages) == 0 {
		return invalid("", "", "[] is too short - 'messages'")
	}
	for i, t := range req.Tools {
		if t.Type == "custom" {
			continue // the fake neither checks nor calls custom tools
		}
		param := fmt.Sprintf("tools[%d].function.name", i)
		switch {
		case t.Type != "function":
			return invalid(fmt.Sprintf("tools[%d].type", i), "invalid_value",
				fmt.Sprintf("Invalid value: '%s'. Supported values are: 'function' and 'custom'.", t.Type))
		case t.Name == "":
			return invalid(param, "empty_string",
				fmt.Sprintf("Invalid '%s': empty string. Expected a string with minimum length 1, but got an empty string instead.", param))
		case len(t.Name) > maxToolName:
			return invalid(param, "string_above_max_length",
				fmt.Sprintf("Invalid '%s': string too long. Expected a string with maximum length %d, but got a string with length %d instead.", param, maxToolName, len(t.Name)))
		case !toolName.MatchString(t.Name):
			return invalid(param, "invalid_value",
				fmt.Sprintf("Invalid '%s': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", param))
		}
	}
	if tc := req.ToolChoice; tc != nil {
		switch {
		case len(req.Tools) == 0:
			return invalid("tool_choice", "", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
		case tc.Mode == "function" && req.tool(tc.Name) == nil:
			return invalid("tool_choice", "", fmt.Sprintf("Tool choice '%s' not found in 'tools' parameter.", tc.Name))
		case tc.Mode != "function" && tc.Mode != "auto" && tc.Mode != "none" && tc.Mode != "required":
			return invalid("tool_choice", "invalid_value",
				fmt.Sprintf("Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", tc.Mode))
		}
	}
	return validateToolMessages(req.Messages)
}

// validateToolMessages checks that each run of tool messages answers the tool
// calls of the assistant message just before it, every one of them.
func validateToolMessages(msgs []Message) *apiError {
	var calls []ToolCall // of the last assistant message, while tool messages follow it
	var callsAt int
	answered := map[string]bool{}
	unanswered := func(at int) *apiError {
		var ids []string
		for _, c := range calls {
			if !answered[c.ID] {
				ids = append(ids, c.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		return invalid(fmt.Sprintf("messages.[%d].role", at), "",
			"An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. "+
				"The following tool_call_ids did not have response messages: "+strings.Join(ids, ", "))
	}
	for i, m := range msgs {
		if m.Role == "tool" {
			if len(calls) == 0 {
				return invalid(fmt.Sprintf("messages.[%d].role", i), "",
					"Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.")
			}
			found := false
			for _, c := range calls {
				found = found || c.ID == m.ToolCallID
			}
			if !found {
				return invalid(fmt.Sprintf("messages.[%d].tool_call_id", i), "",
					fmt.Sprintf("Invalid parameter: 'tool_call_id' of '%s' not found in 'tool_calls' of previous message.", m.ToolCallID))
			}
			answered[m.ToolCallID] = true
			continue
		}
		if err := unanswered(i); err != nil {
			return err
		}
		calls, callsAt = nil, i
		clear(answered)
		if m.Role == "assistant" {
			calls = m.ToolCalls
		}
	}
	if len(calls) > 0 && callsAt < len(msgs)-1 {
		// A run of tool messages ends the conversation.
		return unanswered(len(msgs) - 1)
	}
	return nil
}

// tool returns the request's tool called name, or nil.
func (r *Request) tool(name string) *Tool {
	for i := range r.Tools {
		if r.Tools[i].Name == name {
			return &r.Tools[i]
		}
	}
	return nil
}
