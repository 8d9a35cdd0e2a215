package chunk_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate/tollgate/shared/chunk"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		s    chunk.Strategy
		want string // "" for valid
	}{
		{chunk.Default, ""},
		{chunk.Strategy{MaxTokens: 100, OverlapTokens: 0}, ""},
		{chunk.Strategy{MaxTokens: 4096, OverlapTokens: 2048}, ""},
		{chunk.Strategy{MaxTokens: 101, OverlapTokens: 50}, ""},
		{chunk.Strategy{MaxTokens: 99, OverlapTokens: 0},
			"chunking_strategy.static.max_chunk_size_tokens must be from 100 to 4096, not 99"},
		{chunk.Strategy{MaxTokens: 4097, OverlapTokens: 400},
			"chunking_strategy.static.max_chunk_size_tokens must be from 100 to 4096, not 4097"},
		{chunk.Strategy{MaxTokens: 101, OverlapTokens: 51},
			"chunking_strategy.static.chunk_overlap_tokens must not exceed half of max_chunk_size_tokens (101), not 51"},
		{chunk.Strategy{MaxTokens: 800, OverlapTokens: -1},
			"chunking_strategy.static.chunk_overlap_tokens must not be negative, not -1"},
		{chunk.Strategy{MaxTokens: 50, OverlapTokens: 30},
			"chunking_strategy.static.max_chunk_size_tokens must be from 100 to 4096, not 50; " +
				"chunking_strategy.static.chunk_overlap_tokens must not exceed half of max_chunk_size_tokens (50), not 30"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%+v.Validate() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestSplitSmall(t *testing.T) {
	text := "The keeper lights the lamp at dusk."
	got := chunk.Split(text, chunk.Default)
	want := []chunk.Piece{{Text: text, Tokens: chunk.Count(text)}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Split(%q) mismatch (-want +got):\n%s", text, diff)
	}
	if want[0].Tokens != 8 {
		t.Errorf("Count(%q) = %d, want 8", text, want[0].Tokens)
	}
	for _, blank := range []string{"", " \n\t "} {
		if got := chunk.Split(blank, chunk.Default); got != nil {
			t.Errorf("Split(%q) = %v, want nil", blank, got)
		}
	}
}

// words are one o200k_base token each, and stay so in a row:
// TestSplitWindows checks.
var words = []string{" the", " of", " and", " to", " in", " is", " that"}

// wordText returns the text of tokens [start, end) of the endless text the
// words make in turn: a text whose every window is known.
func wordText(start, end int) string {
	var b strings.Builder
	for i := start; i < end; i++ {
		b.WriteString(words[i%len(words)])
	}
	return b.String()
}

func TestSplitWindows(t *testing.T) {
	tests := []struct {
		tokens int
		s      chunk.Strategy
		want   [][2]int // the token windows
	}{
		{250, chunk.Strategy{MaxTokens: 100, OverlapTokens: 50}, [][2]int{{0, 100}, {50, 150}, {100, 200}, {150, 250}}},
		{100, chunk.Strategy{MaxTokens: 100, OverlapTokens: 50}, [][2]int{{0, 100}}},
		{800, chunk.Default, [][2]int{{0, 800}}},
		{801, chunk.Default, [][2]int{{0, 800}, {400, 801}}},
		{2000, chunk.Default, [][2]int{{0, 800}, {400, 1200}, {800, 1600}, {1200, 2000}}},
		{2100, chunk.Default, [][2]int{{0, 800}, {400, 1200}, {800, 1600}, {1200, 2000}, {1600, 2100}}},
		{1000, chunk.Strategy{MaxTokens: 300, OverlapTokens: 0}, [][2]int{{0, 300}, {300, 600}, {600, 900}, {900, 1000}}},
		{1000, chunk.Strategy{MaxTokens: 301, OverlapTokens: 150}, [][2]int{{0, 301}, {151, 452}, {302, 603}, {453, 754}, {604, 905}, {755, 1000}}},
		{700, chunk.Strategy{}, [][2]int{{0, 700}}}, // the zero Strategy is Default
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d tokens by %d-%d", tt.tokens, tt.s.MaxTokens, tt.s.OverlapTokens), func(t *testing.T) {
			text := wordText(0, tt.tokens)
			if n := chunk.Count(text); n != tt.tokens {
				t.Fatalf("Count(text of %d words) = %d: a word is not one token", tt.tokens, n)
			}
			var want []chunk.Piece
			for _, w := range tt.want {
				want = append(want, chunk.Piece{Text: wordText(w[0], w[1]), Tokens: w[1] - w[0]})
			}
			if diff := cmp.Diff(want, chunk.Split(text, tt.s)); diff != "" {
				t.Errorf("Split mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// prose returns n bytes or so of English-like text, the same for a seed.
func prose(seed uint64, n int) string {
	vocab := strings.Fields(`the keeper lights lamp at dusk and trims wick every four hours
		each night records weather passing ships oil used in logbook kept on lower landing
		fog signal sounds twice a minute whenever visibility falls below two nautical miles
		spare mantles are stored brass cabinet beside stairs harbour crews deliver fresh water
		Tuesday rain or shine maintenance schedule inspection lens rotation clockwork weight`)
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	for b.Len() < n {
		for range 5 + rng.IntN(15) {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(vocab[rng.IntN(len(vocab))])
		}
		b.WriteString([]string{".", ",", ";", ".\n\n", "!"}[rng.IntN(5)])
	}
	return b.String()
}

// unicodeText mixes emoji (with joiners and flags), rare CJK and other
// scripts whose characters o200k_base splits into byte tokens, with ASCII
// that shifts where windows fall.
func unicodeText(seed uint64, n int) string {
	parts := []string{"👩‍👩‍👧", "🇫🇷", "🎉", "𝄞", "齉", "龘", "靐", "ꙮ", "𓀀", "é", "日本語のテキスト",
		"नमस्ते", "Ж", "🤷🏽‍♀️", " a", " bc", ",", "\n", " 123"}
	rng := rand.New(rand.NewPCG(seed, 2))
	var b strings.Builder
	for b.Len() < n {
		b.WriteString(parts[rng.IntN(len(parts))])
	}
	return b.String()
}

func TestOverlap(t *testing.T) {
	text := prose(1, 20000)
	const size, overlap = 100, 40
	ws := chunk.Windows(text, size, overlap)
	pieces := chunk.Split(text, chunk.Strategy{MaxTokens: size, OverlapTokens: overlap})
	if len(pieces) != len(ws) || len(ws) < 10 {
		t.Fatalf("Split made %d pieces and Windows %d windows, want the same, ≥ 10", len(pieces), len(ws))
	}
	for k := 1; k < len(ws); k++ {
		prev, w := ws[k-1], ws[k]
		if got := prev.End - w.Start; got != overlap {
			t.Errorf("windows %d and %d share %d tokens, want %d", k-1, k, got, overlap)
		}
		shared := text[w.Lo:prev.Hi]
		if !strings.HasSuffix(pieces[k-1].Text, shared) || !strings.HasPrefix(pieces[k].Text, shared) {
			t.Errorf("pieces %d and %d do not share %q", k-1, k, shared)
		}
	}
}

func TestSplitUTF8(t *testing.T) {
	text := unicodeText(1, 30000)
	starts := chunk.Tokenize(text)
	inside := 0 // tokens that start inside a character
	for _, o := range starts {
		if !utf8.RuneStart(text[o]) {
			inside++
		}
	}
	if inside < 100 {
		t.Fatalf("only %d of %d tokens start inside a character: the text does not test the case", inside, len(starts))
	}
	for _, s := range []chunk.Strategy{{MaxTokens: 100, OverlapTokens: 50}, {MaxTokens: 137, OverlapTokens: 0}, chunk.Default} {
		for i, p := range chunk.Split(text, s) {
			if !utf8.ValidString(p.Text) {
				t.Errorf("Split(%+v) piece %d is not valid UTF-8: %q", s, i, p.Text)
			}
			if p.Tokens > s.MaxTokens || p.Tokens < 1 {
				t.Errorf("Split(%+v) piece %d has %d tokens", s, i, p.Tokens)
			}
		}
	}
}

// checkCover checks that the windows of text tile its tokens as the
// arithmetic says, that Split's pieces are their text, valid UTF-8, and that
// the pieces less their overlaps make the text again.
func checkCover(t *testing.T, text string, size, overlap int) {
	t.Helper()
	clean := strings.ToValidUTF8(text, "\uFFFD")
	ws := chunk.Windows(text, size, overlap)
	if strings.TrimSpace(text) == "" {
		if len(ws) != 0 {
			t.Fatalf("Windows(%q) = %v for blank text", text, ws)
		}
		return
	}
	n := len(chunk.Tokenize(text))
	var rebuilt strings.Builder
	hi, tokens := 0, 0
	for k, w := range ws {
		if w.Start%(size-overlap) != 0 || w.End != min(w.Start+size, n) {
			t.Fatalf("window %d is tokens [%d, %d) of %d, not one of the grid of %d by %d", k, w.Start, w.End, n, size, overlap)
		}
		if w.Lo > hi || w.Hi < hi || w.Hi == w.Lo || k == 0 && w.Lo != 0 {
			t.Fatalf("window %d is bytes [%d, %d) after one ending at %d: text lost or out of order", k, w.Lo, w.Hi, hi)
		}
		piece := clean[w.Lo:w.Hi]
		if !utf8.ValidString(piece) {
			t.Fatalf("window %d is not valid UTF-8: %q", k, piece)
		}
		rebuilt.WriteString(clean[hi:w.Hi])
		if k > 0 {
			tokens -= ws[k-1].End - w.Start
		}
		tokens += w.End - w.Start
		hi = w.Hi
	}
	if last := ws[len(ws)-1]; last.End != n {
		t.Fatalf("the last window ends at token %d of %d", last.End, n)
	}
	if got := rebuilt.String(); got != clean {
		t.Fatalf("the windows less their overlaps make\n%q\nnot\n%q", got, clean)
	}
	if c := chunk.Count(text); tokens != c {
		t.Fatalf("the windows less their overlaps have %d tokens, Count says %d", tokens, c)
	}
}

func TestSplitCoversText(t *testing.T) {
	texts := map[string]string{
		"prose":       prose(2, 12000),
		"unicode":     unicodeText(2, 8000),
		"DEL":         strings.ReplaceAll(prose(3, 4000), "e", "\x7f"),
		"invalid":     "caf\xe9 " + prose(4, 3000) + "\xff\xfe end",
		"spaces":      strings.Repeat(" ", 5000) + "x" + strings.Repeat("\n", 3000),
		"one word":    strings.Repeat("a", 20000),
		"byte tokens": strings.Repeat("齉", 3000),
	}
	for name, text := range texts {
		for _, so := range [][2]int{{5, 2}, {7, 0}, {100, 50}, {160, 13}, {800, 400}} {
			t.Run(fmt.Sprintf("%s/%d-%d", name, so[0], so[1]), func(t *testing.T) {
				checkCover(t, text, so[0], so[1])
			})
		}
	}
}

func TestDEL(t *testing.T) {
	if a, b := chunk.Count("x\x7fy and\x7f"), chunk.Count("x y and "); a != b {
		t.Errorf("Count with DEL = %d, with spaces %d: want the same", a, b)
	}
	text := "before\x7fafter"
	if got := chunk.Split(text, chunk.Default); len(got) != 1 || got[0].Text != text {
		t.Errorf("Split(%q) = %+v, want the text whole, DEL kept", text, got)
	}
}

// FuzzSplit checks that no text makes Split panic, that every piece is valid
// UTF-8 and within its window's size, and that the pieces less their
// overlaps make the text (small windows too, to have many).
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"", "hello world", prose(5, 600), unicodeText(5, 300), "a\x7fb\x7f", "\xff\xe9\xbd", "齉齉齉齉齉齉",
		"\x99\xaea0", // Count once counted the invalid bytes Split replaces
	} {
		f.Add(s, uint16(7), uint16(3))
	}
	f.Fuzz(func(t *testing.T, text string, size, overlap uint16) {
		sz := 5 + int(size%60)
		ov := int(overlap) % sz
		checkCover(t, text, sz, ov)
		s := chunk.Strategy{MaxTokens: 100 + int(size)%400, OverlapTokens: int(overlap) % 250}
		if s.Validate() != nil {
			s.OverlapTokens = s.MaxTokens / 2
		}
		for i, p := range chunk.Split(text, s) {
			if !utf8.ValidString(p.Text) || p.Tokens > s.MaxTokens || p.Tokens < 1 || p.Text == "" {
				t.Fatalf("Split(%q, %+v) piece %d = %q of %d tokens", text, s, i, p.Text, p.Tokens)
			}
		}
	})
}

// BenchmarkSplit splits 1 MB of English-like prose by Default.
func BenchmarkSplit(b *testing.B) {
	text := prose(6, 1<<20)
	chunk.Count("warm up") // load the vocabulary outside the timing
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		chunk.Split(text, chunk.Default)
	}
}

// BenchmarkCount counts the same text: the tokenizer's own cost, for
// comparison with BenchmarkSplit.
func BenchmarkCount(b *testing.B) {
	text := prose(6, 1<<20)
	chunk.Count("warm up")
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		chunk.Count(text)
	}
}
