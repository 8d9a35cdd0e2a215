package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/session"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Sessions stores server-side conversations. *dynamo.Store implements it.
type Sessions interface {
	LoadSession(ctx context.Context, tenantID, id string, now time.Time, exp session.Expiry) (session.Session, error)
	AppendTurn(ctx context.Context, tenantID, id string, known *session.Session, msgs []session.Message, now time.Time, exp session.Expiry) error
}

// sessionState is a request's session: what it sent, and what it loaded.
type sessionState struct {
	tenantID string
	known    *session.Session // as loaded; nil when there was none
	sent     []chat.Message   // the request's own messages, stored as the turn
	left     int              // stored turns left out of the prompt
}

// loadSession prepends the session's history to the request's messages, leaving
// out the oldest turns past the window; the budget then reserves what is really
// sent. An absent or expired session starts empty. It returns the history that
// went into the prompt.
func (x *exchange) loadSession(ctx context.Context, cfg *tenant.Config) ([]chat.Message, error) {
	if x.h.Sessions == nil {
		return nil, apierr.InvalidParam("sessions_unsupported", "sessionId", "sessionId: this deployment does not store sessions")
	}
	if x.c.req.Choices() > 1 {
		return nil, apierr.InvalidParam("invalid_value", "n", "a session stores one answer a turn: n must be 1 with sessionId")
	}
	sess, err := x.h.Sessions.LoadSession(ctx, cfg.Scope(), x.c.sessionID, x.start, x.h.SessionExpiry)
	if err != nil && !errors.Is(err, session.ErrNotFound) {
		return nil, apierr.StoreUnavailable("read the session", err)
	}
	x.session = &sessionState{tenantID: cfg.Scope(), sent: x.c.req.Messages}
	x.asm = &assembler{}
	if err == nil {
		x.session.known = &sess
	}
	x.c.req.Messages, x.session.left = session.Prompt(sess.Turns, x.c.req.Messages, x.h.SessionWindow)
	rest := 0
	for i := range x.session.sent {
		if x.session.sent[i].Role != chat.RoleSystem {
			rest++
		}
	}
	return x.c.req.Messages[:len(x.c.req.Messages)-rest], nil
}

// requestMessages returns the messages the request itself sent.
func (x *exchange) requestMessages() []chat.Message {
	if x.session != nil {
		return x.session.sent
	}
	return x.c.req.Messages
}

// saveTimeout bounds the session write, which runs after the client may be gone.
const saveTimeout = 5 * time.Second

// saveTurn appends the request's messages and the answer as one turn, before the
// client is told the answer is complete, so the next request sees it. A request
// without a session saves nothing.
func (x *exchange) saveTurn(ctx context.Context) error {
	if x.session == nil {
		return nil
	}
	answer := x.asm.message(0)
	return x.saveTurnMessage(ctx, &answer)
}

// saveTurnMessage stores the request's messages and answer as one turn.
func (x *exchange) saveTurnMessage(ctx context.Context, answer *chat.Message) error {
	now := x.h.Now()
	msgs := make([]session.Message, 0, len(x.session.sent)+1)
	for i := range x.session.sent {
		msgs = append(msgs, session.FromChat(&x.session.sent[i], x.start)...)
	}
	msgs = append(msgs, session.FromChat(answer, now)...)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	if err := x.h.Sessions.AppendTurn(sctx, x.session.tenantID, x.c.sessionID, x.session.known, msgs, now, x.h.SessionExpiry); err != nil {
		x.h.Log.ErrorContext(sctx, "save session turn", "requestId", x.reqID, "err", err)
		return &apierr.Error{Kind: apierr.Unavailable, Code: "session_write_failed",
			Message: "the answer could not be saved to the session; the session does not contain this turn", Err: err}
	}
	return nil
}
