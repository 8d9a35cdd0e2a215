package tokens_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/tokens"
)

func TestCounterFor(t *testing.T) {
	for _, tc := range []struct{ provider, model, want string }{
		{"openai", "gpt-4o-mini", "o200k_base"},
		{"openai", "gpt-4o", "o200k_base"},
		{"openai", "gpt-4.1-nano", "o200k_base"},
		{"openai", "gpt-5-mini", "o200k_base"},
		{"openai", "o3-mini", "o200k_base"},
		{"openai", "gpt-4-turbo", "cl100k_base"},
		{"openai", "gpt-3.5-turbo", "cl100k_base"},
		{"openai", "text-embedding-3-small", "cl100k_base"},
		{"openai", "llama3.1:8b", "bytes"}, // an OpenAI-compatible server's own model
		{"bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0", "bytes"},
		{"echo", "echo-1", "bytes"},
	} {
		if got := tokens.CounterFor(tc.provider, tc.model).Name(); got != tc.want {
			t.Errorf("CounterFor(%s/%s) = %s, want %s", tc.provider, tc.model, got, tc.want)
		}
	}
}

// TestCountMatchesTiktoken: the counts of OpenAI's tiktoken (its cookbook's
// example, and tiktoken's own output for the others).
func TestCountMatchesTiktoken(t *testing.T) {
	o200k, cl100k := tokens.CounterFor("openai", "gpt-4o"), tokens.CounterFor("openai", "gpt-4")
	for _, tc := range []struct {
		text          string
		o200k, cl100k int
	}{
		{"tiktoken is great!", 6, 6},
		{"hello world", 2, 2},
		{"Hola, ¿cómo estás? 你好世界", 9, 14},
		{"", 0, 0},
	} {
		if got := o200k.Count(tc.text); got != tc.o200k {
			t.Errorf("o200k_base %q = %d, want %d", tc.text, got, tc.o200k)
		}
		if got := cl100k.Count(tc.text); got != tc.cl100k {
			t.Errorf("cl100k_base %q = %d, want %d", tc.text, got, tc.cl100k)
		}
	}
	var bytes *tokens.Counter
	if got := bytes.Count("hello world"); got != 11 {
		t.Errorf("nil counter = %d, want the 11 bytes", got)
	}
}

// TestRequestBoundWithCounter: with a counter the messages' text is counted
// exactly (framing as before), tool definitions keep their byte bound, and a
// request past MaxExactBytes of text falls back to bytes.
func TestRequestBoundWithCounter(t *testing.T) {
	c := tokens.CounterFor("openai", "gpt-4o-mini")
	req := &chat.Request{Messages: []chat.Message{
		chat.TextMessage("system", "be brief"),
		chat.TextMessage("user", "tiktoken is great!"),
	}}
	// o200k: "be brief" is 2 tokens, the question 6; 3 per prompt, 4 per message.
	if got, want := tokens.RequestBoundWith(req, c), 3+4+2+4+6; got != want {
		t.Errorf("exact bound = %d, want %d", got, want)
	}
	if got, want := tokens.RequestBoundWith(req, nil), tokens.RequestBound(req); got != want || got != 3+4+8+4+18 {
		t.Errorf("byte bound = %d (RequestBound %d), want %d", got, want, 3+4+8+4+18)
	}
	if got := tokens.RequestEstimateWith(req, c); got != 3+4+2+4+6 {
		t.Errorf("estimate with a counter = %d, want the exact count", got)
	}
	req.Tools = []chat.Tool{{Name: "get_weather", Parameters: []byte(`{"type":"object"}`)}}
	if got, want := tokens.RequestBoundWith(req, c), 3+4+2+4+6+16+11+17; got != want {
		t.Errorf("with a tool = %d, want %d (its definition by bytes)", got, want)
	}
	two := &chat.Request{Messages: []chat.Message{{Role: "user", Parts: []chat.Part{
		{Kind: chat.PartText, Text: "hello world"}, {Kind: chat.PartText, Text: "hello world"}}}}}
	if got, want := tokens.RequestBoundWith(two, c), 3+4+2+8+2; got != want {
		t.Errorf("two text parts = %d, want %d (8 more for the second part's boundary)", got, want)
	}
	big := &chat.Request{Messages: []chat.Message{chat.TextMessage("user", strings.Repeat("word ", tokens.MaxExactBytes/5+1))}}
	if got, want := tokens.RequestBoundWith(big, c), tokens.RequestBound(big); got != want {
		t.Errorf("past MaxExactBytes = %d, want the byte bound %d", got, want)
	}
}

// FuzzCount: no text makes the tokenizer fail or count more tokens than the
// text has bytes (the property the byte bound rests on, so an exact count is
// never above it), and the tokens it counts are the text's: decoding them
// gives the text back (nothing dropped, so nothing undercounted).
func FuzzCount(f *testing.F) {
	for _, s := range []string{"", "tiktoken is great!", "Hola, ¿cómo estás? 你好世界", "   \n\n\t x", "'s'll'VE", "1234567890", "\xff\xfe", "🙂🙂 emoji"} {
		f.Add(s)
	}
	counters := []*tokens.Counter{tokens.CounterFor("openai", "gpt-4o"), tokens.CounterFor("openai", "gpt-4")}
	codecs := []tokenizer.Codec{}
	for _, e := range []tokenizer.Encoding{tokenizer.O200kBase, tokenizer.Cl100kBase} {
		c, err := tokenizer.Get(e)
		if err != nil {
			f.Fatal(err)
		}
		codecs = append(codecs, c)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0x7f) {
			for i, c := range codecs {
				ids, _, err := c.Encode(s)
				back, derr := c.Decode(ids)
				if err != nil || derr != nil || back != s || len(ids) != counters[i].Count(s) {
					t.Fatalf("%s: %q encodes to %v (%v), decodes to %q (%v); Count %d", c.GetName(), s, ids, err, back, derr, counters[i].Count(s))
				}
			}
		}
		for _, c := range counters {
			n := c.Count(s)
			if n > len(s) || (s != "" && n == 0) {
				t.Fatalf("%s: %q counts %d tokens for %d bytes (valid UTF-8: %v)", c.Name(), s, n, len(s), utf8.ValidString(s))
			}
		}
	})
}
