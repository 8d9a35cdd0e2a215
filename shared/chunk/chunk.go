// Package chunk splits text into overlapping pieces of a bounded number of
// tokens, as OpenAI's static chunking strategy does for the files of a vector
// store: the text is tokenized with o200k_base and a window of MaxTokens
// tokens slides over it by MaxTokens-OverlapTokens.
package chunk

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// Strategy is OpenAI's static chunking strategy
// (chunking_strategy.static of a vector store file).
type Strategy struct {
	MaxTokens     int // max_chunk_size_tokens: 100 to 4096
	OverlapTokens int // chunk_overlap_tokens: 0 to MaxTokens/2
}

// Default is the strategy OpenAI calls auto: 800 tokens, 400 of them shared
// with the next piece.
var Default = Strategy{MaxTokens: 800, OverlapTokens: 400}

// The bounds of OpenAI's API reference for vector store files.
const (
	minMaxTokens = 100
	maxMaxTokens = 4096
)

// Validate applies OpenAI's rules: max_chunk_size_tokens from 100 to 4096,
// chunk_overlap_tokens not negative and at most half of it. The message
// names the offending parameters (chunking_strategy.static.…), every one,
// and is meant for the API client: it has no package prefix.
func (s Strategy) Validate() error {
	var problems []string
	if s.MaxTokens < minMaxTokens || s.MaxTokens > maxMaxTokens {
		problems = append(problems, fmt.Sprintf(
			"chunking_strategy.static.max_chunk_size_tokens must be from %d to %d, not %d",
			minMaxTokens, maxMaxTokens, s.MaxTokens))
	}
	switch {
	case s.OverlapTokens < 0:
		problems = append(problems, fmt.Sprintf(
			"chunking_strategy.static.chunk_overlap_tokens must not be negative, not %d", s.OverlapTokens))
	case 2*s.OverlapTokens > s.MaxTokens:
		problems = append(problems, fmt.Sprintf(
			"chunking_strategy.static.chunk_overlap_tokens must not exceed half of max_chunk_size_tokens (%d), not %d",
			s.MaxTokens, s.OverlapTokens))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}

// clamp returns s made valid: Default for the zero Strategy, else each field
// brought into range.
func (s Strategy) clamp() Strategy {
	if s == (Strategy{}) {
		return Default
	}
	s.MaxTokens = min(max(s.MaxTokens, minMaxTokens), maxMaxTokens)
	s.OverlapTokens = min(max(s.OverlapTokens, 0), s.MaxTokens/2)
	return s
}

// Piece is one chunk of a text.
type Piece struct {
	Text   string
	Tokens int // the o200k_base tokens of the window Text comes from
}

// Split returns the pieces of text: windows of s.MaxTokens o200k_base tokens,
// the first at token 0 and each next one s.MaxTokens-s.OverlapTokens tokens
// further, until one reaches the end; the last may be shorter. So each piece
// shares its last s.OverlapTokens tokens with the next one. Split uses
// Default for the zero Strategy and brings another invalid one into range;
// callers validate a client's with Validate first. It returns nil for blank
// text.
//
// A window's edge may fall inside a character (o200k_base has tokens of
// single bytes of rarer characters and emoji, and a token may span two
// characters): its text then ends, and the next begins, at the start of that
// character, so every piece is valid UTF-8 and no text is lost or repeated
// beyond the overlap, which may so shift by a few bytes. Text that is not
// valid UTF-8 is first made so, each bad sequence replaced by U+FFFD.
//
// tiktoken-go/tokenizer v0.10.0 drops the DEL byte (0x7f) when it encodes
// (found by fuzzing shared/tokens), so DEL is tokenized as a space, which it then counts
// as; the pieces keep the DEL bytes of the text.
//
// Split reads about 5 MB of text a second, nearly all of it the tokenizer's
// (BenchmarkSplit, BenchmarkCount).
func Split(text string, s Strategy) []Piece {
	text = strings.ToValidUTF8(text, "\uFFFD")
	s = s.clamp()
	ws := windows(text, s.MaxTokens, s.OverlapTokens)
	if len(ws) == 0 {
		return nil
	}
	out := make([]Piece, len(ws))
	for i, w := range ws {
		out[i] = Piece{Text: text[w.Lo:w.Hi], Tokens: w.End - w.Start}
	}
	return out
}

// Count returns the o200k_base tokens of text, as Split counts them (invalid
// UTF-8 replaced, DEL counted as a space).
func Count(text string) int {
	if text == "" {
		return 0
	}
	c := codec()
	if c == nil {
		return utf8.RuneCountInString(text)
	}
	n, err := c.Count(prepare(strings.ToValidUTF8(text, "\uFFFD")))
	if err != nil {
		return utf8.RuneCountInString(text)
	}
	return n
}

// window is one piece: its tokens [Start, End) and its bytes [Lo, Hi).
type window struct{ Start, End, Lo, Hi int }

// windows returns the windows of size tokens (at least 1), each overlap
// tokens (fewer than size) into the one before, of text (valid UTF-8). Split
// calls it with a valid Strategy; tests (through export_test.go) with sizes
// out of OpenAI's range too.
func windows(text string, size, overlap int) []window {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	starts := tokenize(text)
	n := len(starts)
	// at returns where the character holding the first byte of token i
	// starts: the bytes of a window begin there (and those of the window
	// before it end there). Token 0 begins the text and token n ends it.
	at := func(i int) int {
		switch {
		case i <= 0:
			return 0
		case i >= n:
			return len(text)
		}
		o := starts[i]
		for o > 0 && !utf8.RuneStart(text[o]) {
			o--
		}
		return o
	}
	step := size - overlap
	var out []window
	for start := 0; ; start += step {
		end := min(start+size, n)
		if lo, hi := at(start), at(end); hi > lo {
			out = append(out, window{Start: start, End: end, Lo: lo, Hi: hi})
		}
		if end >= n {
			return out
		}
	}
}

// codec returns the o200k_base codec (its vocabulary is embedded in the
// binary), or nil if it cannot be had.
var codec = sync.OnceValue(func() tokenizer.Codec {
	c, err := tokenizer.Get(tokenizer.O200kBase)
	if err != nil {
		return nil
	}
	return c
})

// prepare returns text as the tokenizer gets it: each DEL a space, which
// keeps every byte offset.
func prepare(text string) string {
	return strings.ReplaceAll(text, "\x7f", " ")
}

// tokenize returns the byte offset at which each o200k_base token of text
// (valid UTF-8) starts. Should the tokenizer skip bytes (as it does DEL,
// hence prepare), they go with the token before them; should it fail, each
// character counts as a token, more than any tokenizer makes of it.
func tokenize(text string) []int {
	if c := codec(); c != nil {
		if starts, ok := offsets(c, prepare(text)); ok {
			return starts
		}
	}
	starts := make([]int, 0, len(text))
	for i := range text {
		starts = append(starts, i)
	}
	return starts
}

func offsets(c tokenizer.Codec, text string) ([]int, bool) {
	_, tokens, err := c.Encode(text)
	if err != nil {
		return nil, false
	}
	starts := make([]int, len(tokens))
	pos := 0
	for i, t := range tokens {
		if !strings.HasPrefix(text[pos:], t) {
			j := strings.Index(text[pos:], t)
			if j < 0 {
				return nil, false // not pieces of the text: count characters
			}
			pos += j
		}
		starts[i] = pos
		pos += len(t)
	}
	return starts, true
}
