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
