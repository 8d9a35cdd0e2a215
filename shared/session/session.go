// Package session holds the pure parts of server-side conversations: session ids,
// turns, expiry and fitting a stored history into a prompt window. Storage is in
// package dynamo; the HTTP routes are in package sessionapi.
package session

import (
	"errors"
	"regexp"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/tokens"
)

var idPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// ValidID reports whether id is a valid session id: [A-Za-z0-9_-]{1,128}.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// Errors.
var (
	ErrNotFound = errors.New("session not found")
	// ErrConflict is returned when another request appended the turn number this one
	// tried to take; the caller appends again after the newer turns.
	ErrConflict = errors.New("session turn conflict")
)

// Message is one stored message: its text, and, for an assistant, its reasoning
// and tool calls; a tool message answers the call ToolCallID. Images are not
// stored (a turn is one item, at most 400 KB): an image part is kept as the text
// ImagePlaceholder.
type Message struct {
	Role       string      `json:"role"`
	Content    string      `json:"content"`
	ToolCalls  []ToolCall  `json:"toolCalls,omitempty"`
	ToolCallID string      `json:"toolCallId,omitempty"`
	IsError    bool        `json:"isError,omitempty"`
	Reasoning  []Reasoning `json:"reasoning,omitempty"`
	CreatedAt  time.Time   `json:"createdAt"`
}

// ToolCall is a stored tool call.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Reasoning is a stored reasoning block, with the signature that lets it be sent
// back to the provider.
type Reasoning struct {
	Text      string `json:"text,omitempty"`
	Signature string `json:"signature,omitempty"`
	Redacted  []byte `json:"redacted,omitempty"`
}

// ImagePlaceholder stands for an image in a stored message.
const ImagePlaceholder = "[image]"

// FromChat returns m as stored messages, created at: one per tool result of a
// tool message, else one.
func FromChat(m *chat.Message, at time.Time) []Message {
	if m.Role == chat.RoleTool {
		var out []Message
		for i := range m.Parts {
			if r := m.Parts[i].ToolResult; r != nil {
				out = append(out, Message{Role: chat.RoleTool, Content: textOf(r.Parts), ToolCallID: r.CallID, IsError: r.IsError, CreatedAt: at})
			}
		}
		return out
	}
	sm := Message{Role: m.Role, Content: textOf(m.Parts), CreatedAt: at}
	for i := range m.Parts {
		p := &m.Parts[i]
		switch p.Kind {
		case chat.PartToolCall:
			sm.ToolCalls = append(sm.ToolCalls, ToolCall{p.ToolCall.ID, p.ToolCall.Name, p.ToolCall.Arguments})
		case chat.PartReasoning:
			sm.Reasoning = append(sm.Reasoning, Reasoning{p.Text, p.Signature, p.Redacted})
		}
	}
	return []Message{sm}
}

// textOf joins text parts, with ImagePlaceholder for each image.
func textOf(parts []chat.Part) string {
	var b strings.Builder
	for i := range parts {
		switch parts[i].Kind {
		case chat.PartText:
			b.WriteString(parts[i].Text)
		case chat.PartImage:
			b.WriteString(ImagePlaceholder)
		}
	}
	return b.String()
}

// Chat returns m as a chat message.
func (m *Message) Chat() chat.Message {
	if m.Role == chat.RoleTool {
		return chat.Message{Role: chat.RoleTool, Parts: []chat.Part{{Kind: chat.PartToolResult,
			ToolResult: &chat.ToolResult{CallID: m.ToolCallID, Parts: []chat.Part{chat.TextPart(m.Content)}, IsError: m.IsError}}}}
	}
	if len(m.ToolCalls) == 0 && len(m.Reasoning) == 0 {
		return chat.TextMessage(m.Role, m.Content)
	}
	out := chat.Message{Role: m.Role}
	for _, r := range m.Reasoning {
		out.Parts = append(out.Parts, chat.Part{Kind: chat.PartReasoning, Text: r.Text, Signature: r.Signature, Redacted: r.Redacted})
	}
	if m.Content != "" || len(m.ToolCalls) == 0 {
		out.Parts = append(out.Parts, chat.TextPart(m.Content))
	}
	for _, c := range m.ToolCalls {
		out.Parts = append(out.Parts, chat.Part{Kind: chat.PartToolCall, ToolCall: &chat.ToolCall{ID: c.ID, Name: c.Name, Arguments: c.Arguments}})
	}
	return out
}

// estimate is the realistic token count of m in a prompt.
func (m *Message) estimate() int {
	n := tokens.Estimate(m.Content) + 4
	for _, c := range m.ToolCalls {
		n += tokens.Estimate(c.Name) + tokens.Estimate(c.Arguments) + 8
	}
	for _, r := range m.Reasoning {
		n += tokens.Estimate(r.Text) + 8
	}
	return n
}

// Turn is one successful exchange: the request's new messages and the answer.
// A turn is stored as one item, so concurrent appends can never interleave.
type Turn struct {
	Seq      int64 // 1, 2, ...
	Messages []Message
}

// Session is a session's metadata and, when loaded, its turns (oldest first).
type Session struct {
	TenantID  string
	ID        string
	Gen       int64 // generation: a session recreated after expiry starts a new one
	CreatedAt time.Time
	UpdatedAt time.Time
	Turns     []Turn
}

// Expiry says when sessions expire.
type Expiry struct {
	Idle   time.Duration // since the last update
	MaxAge time.Duration // since creation
}

// Alive reports whether s has not expired at now.
func (e Expiry) Alive(s Session, now time.Time) bool {
	return now.Before(s.UpdatedAt.Add(e.Idle)) && now.Before(s.CreatedAt.Add(e.MaxAge))
}

// ExpiresAt returns when s expires: the earlier of idle and maximum age.
func (e Expiry) ExpiresAt(s Session) time.Time {
	idle, old := s.UpdatedAt.Add(e.Idle), s.CreatedAt.Add(e.MaxAge)
	if idle.Before(old) {
		return idle
	}
	return old
}

// Prompt builds what the model is sent: every system message (stored ones, then the
// request's, without repeating an identical one), then as many of the newest stored
// turns as fit within window tokens (realistic estimate), then the request's other
// messages. The oldest turns are left out first; the system prompt is always kept.
// It returns the messages and how many stored turns were left out.
func Prompt(turns []Turn, req []chat.Message, window int) ([]chat.Message, int) {
	var system, rest []chat.Message
	seen := map[string]bool{}
	addSystem := func(m chat.Message) {
		if t := m.Text(); !seen[t] {
			seen[t] = true
			system = append(system, m)
		}
	}
	for _, t := range turns {
		for _, m := range t.Messages {
			if m.Role == chat.RoleSystem {
				addSystem(m.Chat())
			}
		}
	}
	for _, m := range req {
		if m.Role == chat.RoleSystem {
			addSystem(m)
		} else {
			rest = append(rest, m)
		}
	}
	used := tokens.PromptEstimate(system) + tokens.PromptEstimate(rest)
	first := len(turns) // index of the oldest turn that fits
	for i := len(turns) - 1; i >= 0; i-- {
		var n int
		for _, m := range turns[i].Messages {
			if m.Role != chat.RoleSystem {
				n += m.estimate()
			}
		}
		if used+n > window {
			break
		}
		used += n
		first = i
	}
	out := append([]chat.Message{}, system...)
	called := map[string]bool{} // tool calls kept, so no result outlives its call
	for _, t := range turns[first:] {
		for i := range t.Messages {
			m := &t.Messages[i]
			switch {
			case m.Role == chat.RoleSystem:
			case m.Role == chat.RoleTool && !called[m.ToolCallID]:
				// its call was in a turn left out
			default:
				for _, c := range m.ToolCalls {
					called[c.ID] = true
				}
				out = append(out, m.Chat())
			}
		}
	}
	return append(out, rest...), first
}
