// Package session holds the pure parts of server-side conversations: session ids,
// turns, expiry and fitting a stored history into a prompt window. Storage is in
// package dynamo; the HTTP routes are in package sessionapi.
package session

import (
	"errors"
	"regexp"
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

// Message is one stored message.
type Message struct {
	Role      string    `json:"role"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"createdAt"`
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
				addSystem(chat.TextMessage(m.Role, m.Content))
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
				n += tokens.Estimate(m.Content) + 4
			}
		}
		if used+n > window {
			break
		}
		used += n
		first = i
	}
	out := append([]chat.Message{}, system...)
	for _, t := range turns[first:] {
		for _, m := range t.Messages {
			if m.Role != chat.RoleSystem {
				out = append(out, chat.TextMessage(m.Role, m.Content))
			}
		}
	}
	return append(out, rest...), first
}
