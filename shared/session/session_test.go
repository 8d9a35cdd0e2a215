package session_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/session"
)

func turn(seq int64, msgs ...string) session.Turn {
	t := session.Turn{Seq: seq}
	for i := 0; i+1 < len(msgs); i += 2 {
		t.Messages = append(t.Messages, session.Message{Role: msgs[i], Content: msgs[i+1]})
	}
	return t
}

func TestPromptKeepsSystemAndNewestTurns(t *testing.T) {
	turns := []session.Turn{
		turn(1, "system", "be brief", "user", strings.Repeat("old ", 100), "assistant", "a1"),
		turn(2, "user", "middle question", "assistant", "a2"),
		turn(3, "user", "recent question", "assistant", "a3"),
	}
	req := []chat.Message{chat.TextMessage("system", "be brief"), chat.TextMessage("user", "new question")}
	msgs, left := session.Prompt(turns, req, 60)
	var roles []string
	for _, m := range msgs {
		roles = append(roles, m.Role+":"+m.Text())
	}
	got := strings.Join(roles, "|")
	want := "system:be brief|user:middle question|assistant:a2|user:recent question|assistant:a3|user:new question"
	if got != want || left != 1 {
		t.Errorf("Prompt = %s (left out %d)\nwant %s (left out 1)", got, left, want)
	}
	all, left := session.Prompt(turns, req, 100000)
	if left != 0 || len(all) != 8 {
		t.Errorf("a large window left out %d turns, sent %d messages", left, len(all))
	}
}

func TestIDAndExpiry(t *testing.T) {
	for id, ok := range map[string]bool{"abc": true, "A-b_9": true, "": false, "a b": false, "ü": false, strings.Repeat("a", 129): false} {
		if session.ValidID(id) != ok {
			t.Errorf("ValidID(%q) = %v", id, !ok)
		}
	}
	e := session.Expiry{Idle: time.Hour, MaxAge: 24 * time.Hour}
	t0 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	s := session.Session{CreatedAt: t0, UpdatedAt: t0.Add(23 * time.Hour)}
	if !e.Alive(s, t0.Add(23*time.Hour+59*time.Minute)) || e.Alive(s, t0.Add(24*time.Hour)) || !e.ExpiresAt(s).Equal(t0.Add(24*time.Hour)) {
		t.Error("max age not applied")
	}
	if e.Alive(session.Session{CreatedAt: t0, UpdatedAt: t0}, t0.Add(time.Hour)) {
		t.Error("idle expiry not applied")
	}
}
