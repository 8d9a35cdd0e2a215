package tokens_test

import (
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/tokens"
)

// Micro-benchmarks of token estimation, which every admitted request runs twice
// (PromptBound for the reservation, PromptEstimate for the token rate limit).

func benchPrompt(n, size int) []chat.Message {
	text := strings.Repeat("lorem ipsum ", size/12+1)[:size]
	msgs := make([]chat.Message, n)
	for i := range msgs {
		msgs[i] = chat.TextMessage(chat.RoleUser, text)
	}
	return msgs
}

func BenchmarkPromptBound(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n, size int
	}{{"2x80B", 2, 80}, {"20x400B", 20, 400}, {"200x4KiB", 200, 4096}} {
		msgs := benchPrompt(tc.n, tc.size)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tokens.PromptBound(msgs) == 0 {
					b.Fatal("zero")
				}
			}
		})
	}
}

func BenchmarkPromptEstimate(b *testing.B) {
	for _, tc := range []struct {
		name    string
		n, size int
	}{{"2x80B", 2, 80}, {"20x400B", 20, 400}, {"200x4KiB", 200, 4096}} {
		msgs := benchPrompt(tc.n, tc.size)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if tokens.PromptEstimate(msgs) == 0 {
					b.Fatal("zero")
				}
			}
		})
	}
}

func BenchmarkEstimate(b *testing.B) {
	text := strings.Repeat("x", 4096)
	b.ReportAllocs()
	for b.Loop() {
		if tokens.Estimate(text) == 0 {
			b.Fatal("zero")
		}
	}
}

// BenchmarkRequestBoundExact is the reservation's bound with o200k_base's
// exact count, which an OpenAI-only plan runs once per request: what exact
// counting costs in CPU against the byte bound (BenchmarkPromptBound).
func BenchmarkRequestBoundExact(b *testing.B) {
	c := tokens.CounterFor("openai", "gpt-4o-mini")
	for _, tc := range []struct {
		name    string
		n, size int
	}{{"2x80B", 2, 80}, {"20x400B", 20, 400}, {"4x4KiB", 4, 4096}} {
		req := &chat.Request{Messages: benchPrompt(tc.n, tc.size)}
		c.Count("warm") // the vocabulary loads once per process
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(tc.n * tc.size))
			for b.Loop() {
				if tokens.RequestBoundWith(req, c) == 0 {
					b.Fatal("zero")
				}
			}
		})
	}
}
