// Package echo is Tollgate's built-in provider for local runs and tests: it answers
// with the last user message, streamed word by word. It is deterministic and clearly
// labelled: it is no language model.
package echo

import (
	"context"
	"io"
	"strings"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/tokens"
)

// Client is the echo provider.
type Client struct{}

// New returns the echo provider.
func New() *Client { return &Client{} }

// Stream answers with the last user message, one word (with its following spaces)
// per chunk, honouring MaxTokens (one word counts as one token) and Stop. Usage
// counts the prompt with tokens.PromptEstimate and one token per word.
func (*Client) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var last string
	for _, m := range req.Messages {
		if m.Role == chat.RoleUser {
			last = m.Text()
		}
	}
	for _, s := range req.Stop {
		if i := strings.Index(last, s); s != "" && i >= 0 {
			last = last[:i]
		}
	}
	s := &stream{words: split(last), finish: chat.FinishStop, input: tokens.PromptEstimate(req.Messages)}
	if req.MaxTokens > 0 && len(s.words) > req.MaxTokens {
		s.words, s.finish = s.words[:req.MaxTokens], chat.FinishLength
	}
	return s, nil
}

// split cuts text after each run of spaces, so the pieces concatenate to text.
func split(text string) []string {
	var out []string
	for len(text) > 0 {
		i := strings.IndexByte(text, ' ')
		if i < 0 {
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
	words  []string
	i      int
	finish string
	input  int
	done   bool
}

func (s *stream) Next(ctx context.Context) (chat.Chunk, error) {
	if err := ctx.Err(); err != nil {
		return chat.Chunk{}, err
	}
	if s.i < len(s.words) {
		s.i++
		return chat.Chunk{Text: s.words[s.i-1]}, nil
	}
	if s.done {
		return chat.Chunk{}, io.EOF
	}
	s.done = true
	return chat.Chunk{FinishReason: s.finish, Usage: &chat.Usage{InputTokens: s.input, OutputTokens: len(s.words)}}, nil
}

func (s *stream) Close() error { return nil }
