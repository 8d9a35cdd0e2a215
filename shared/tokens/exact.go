package tokens

import (
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Counter counts tokens exactly with a public tokenizer: OpenAI's o200k_base or
// cl100k_base (tiktoken's encodings, embedded in the binary: no download). A
// nil *Counter counts bytes, the bound every supported tokenizer stays under.
type Counter struct {
	name  string
	once  sync.Once
	load  func() tokenizer.Codec
	codec tokenizer.Codec
}

var (
	o200k  = &Counter{name: "o200k_base", load: func() tokenizer.Codec { c, _ := tokenizer.Get(tokenizer.O200kBase); return c }}
	cl100k = &Counter{name: "cl100k_base", load: func() tokenizer.Codec { c, _ := tokenizer.Get(tokenizer.Cl100kBase); return c }}
)

// MaxExactBytes is the most text a request's exact count reads: beyond it the
// byte bound is used (the tokenizer runs at about 6 MB/s, so this caps its CPU
// at about 10 ms a request).
const MaxExactBytes = 64 << 10

// CounterFor returns the exact counter of an OpenAI model served by OpenAI
// (provider "openai"), by OpenAI's published model families, or nil: every
// other model (Bedrock's, or an OpenAI-compatible server's own models) is
// bounded by bytes.
func CounterFor(provider, model string) *Counter {
	if provider != "openai" {
		return nil
	}
	switch {
	case hasAnyPrefix(model, "gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4"):
		return o200k
	case hasAnyPrefix(model, "gpt-4", "gpt-3.5-turbo", "text-embedding-3-", "text-embedding-ada-002"):
		return cl100k
	}
	return nil
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Name returns the encoding's name ("o200k_base"), or "bytes" for nil.
func (c *Counter) Name() string {
	if c == nil {
		return "bytes"
	}
	return c.name
}

// Count returns the tokens of text: exact, or its byte count for a nil
// Counter (or text the tokenizer refuses). Text holding DEL (0x7f) is counted
// by bytes too: tiktoken-go/tokenizer v0.10.0 drops that byte (found by
// FuzzCount), which would undercount.
func (c *Counter) Count(text string) int {
	if c == nil || text == "" || strings.IndexByte(text, 0x7f) >= 0 {
		return len(text)
	}
	c.once.Do(func() { c.codec = c.load() })
	if c.codec == nil {
		return len(text)
	}
	n, err := c.codec.Count(text)
	if err != nil {
		return len(text)
	}
	return n
}

// Same returns the counter every one of counters is, or nil when they differ
// (or there are none): a request that may fall back to another model is
// counted by the bound that holds for all.
func Same(counters ...*Counter) *Counter {
	if len(counters) == 0 {
		return nil
	}
	for _, c := range counters[1:] {
		if c != counters[0] {
			return nil
		}
	}
	return counters[0]
}
