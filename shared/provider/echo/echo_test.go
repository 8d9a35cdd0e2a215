package echo_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/echo"
)

func collect(t *testing.T, req *chat.Request) ([]string, chat.Chunk) {
	t.Helper()
	s, err := echo.New().Stream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var texts []string
	var last chat.Chunk
	for {
		c, err := s.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return texts, last
		}
		if err != nil {
			t.Fatal(err)
		}
		if c.Text != "" {
			texts = append(texts, c.Text)
		}
		last = c
	}
}

func TestEcho(t *testing.T) {
	msgs := []chat.Message{chat.TextMessage("system", "be brief"), chat.TextMessage("user", "first"), chat.TextMessage("assistant", "x"), chat.TextMessage("user", "hello  big world")}
	texts, last := collect(t, &chat.Request{Messages: msgs})
	if got := strings.Join(texts, "|"); got != "hello  |big |world" {
		t.Errorf("chunks = %q", got)
	}
	if last.FinishReason != "stop" || last.Usage == nil || last.Usage.OutputTokens != 3 || last.Usage.InputTokens == 0 {
		t.Errorf("final chunk = %+v %+v", last, last.Usage)
	}
	texts, last = collect(t, &chat.Request{Messages: msgs, MaxTokens: 2})
	if len(texts) != 2 || last.FinishReason != "length" {
		t.Errorf("MaxTokens 2: %q, %q", texts, last.FinishReason)
	}
	texts, _ = collect(t, &chat.Request{Messages: msgs, Stop: []string{"big"}})
	if strings.Join(texts, "") != "hello  " {
		t.Errorf("stop: %q", texts)
	}
}
