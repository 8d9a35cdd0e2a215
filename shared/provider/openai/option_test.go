package openai_test

import (
	"context"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// TestMaxCompletionTokens: with the option the output limit goes upstream as
// max_completion_tokens (OpenAI's reasoning models refuse max_tokens), and as
// max_tokens without it.
func TestMaxCompletionTokens(t *testing.T) {
	srv := openaitest.NewServer(t)
	req := &chat.Request{Model: "m", Messages: []chat.Message{chat.TextMessage("user", "one two three")}, MaxTokens: 2}
	for _, c := range []*openai.Client{
		openai.New(srv.Client(), srv.URL, "k"),
		openai.New(srv.Client(), srv.URL, "k", openai.MaxCompletionTokens()),
	} {
		comp, err := c.Complete(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if comp.Choices[0].FinishReason != "length" {
			t.Errorf("finish = %q, want length: the limit did not arrive", comp.Choices[0].FinishReason)
		}
	}
	got := srv.Requests()
	if b := got[0].Body; b.MaxTokens != 2 || b.MaxCompletionTokens != 0 {
		t.Errorf("default: max_tokens %d, max_completion_tokens %d", b.MaxTokens, b.MaxCompletionTokens)
	}
	if b := got[1].Body; b.MaxTokens != 0 || b.MaxCompletionTokens != 2 {
		t.Errorf("with the option: max_tokens %d, max_completion_tokens %d", b.MaxTokens, b.MaxCompletionTokens)
	}
}
