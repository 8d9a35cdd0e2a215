package money

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strings"
)

// Entry is a model's price and where it comes from.
type Entry struct {
	Model string `json:"model"` // provider/model
	Price
	// Source is "default" (shipped with Tollgate), "deployment" (the
	// MODEL_PRICES setting) or "admin" (set through the admin API).
	Source string `json:"source"`
	// Reference says where a shipped default was read and when.
	Reference string `json:"reference,omitempty"`
}

// Sources of an Entry, weakest first: each overrides the one before.
const (
	SourceDefault    = "default"
	SourceDeployment = "deployment"
	SourceAdmin      = "admin"
)

// Table is a price list by provider/model.
type Table map[string]Entry

const (
	bedrockRef = "aws.amazon.com/bedrock/pricing, on-demand, us-east-1, as published in 2025"
	openAIRef  = "openai.com/api/pricing, standard tier, as published in 2025"
)

func d(in, out, cached, embed string, ref string) Entry {
	p := Price{Input: must(in), Output: must(out), CachedInput: must(cached), Embedding: must(embed)}
	return Entry{Price: p, Source: SourceDefault, Reference: ref}
}

func must(s string) Micros {
	if s == "" {
		return 0
	}
	m, err := Parse(s)
	if err != nil {
		panic(s)
	}
	return m
}

// defaults are the shipped prices (USD per million tokens). They could not be
// re-checked from where they were written (no internet): an operator checks
// them against the providers' pages and overrides what differs.
var defaults = map[string]Entry{
	"bedrock/anthropic.claude-3-haiku-20240307-v1:0":    d("0.25", "1.25", "0.03", "", bedrockRef),
	"bedrock/anthropic.claude-3-5-haiku-20241022-v1:0":  d("0.80", "4.00", "0.08", "", bedrockRef),
	"bedrock/anthropic.claude-haiku-4-5-20251001-v1:0":  d("1.00", "5.00", "0.10", "", bedrockRef),
	"bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0": d("3.00", "15.00", "0.30", "", bedrockRef),
	"bedrock/anthropic.claude-3-5-sonnet-20241022-v2:0": d("3.00", "15.00", "0.30", "", bedrockRef),
	"bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0": d("3.00", "15.00", "0.30", "", bedrockRef),
	"bedrock/anthropic.claude-sonnet-4-20250514-v1:0":   d("3.00", "15.00", "0.30", "", bedrockRef),
	"bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0": d("3.00", "15.00", "0.30", "", bedrockRef),
	"bedrock/anthropic.claude-opus-4-1-20250805-v1:0":   d("15.00", "75.00", "1.50", "", bedrockRef),
	"bedrock/amazon.nova-micro-v1:0":                    d("0.035", "0.14", "0.00875", "", bedrockRef),
	"bedrock/amazon.nova-lite-v1:0":                     d("0.06", "0.24", "0.015", "", bedrockRef),
	"bedrock/amazon.nova-pro-v1:0":                      d("0.80", "3.20", "0.20", "", bedrockRef),
	"bedrock/meta.llama3-1-8b-instruct-v1:0":            d("0.22", "0.22", "", "", bedrockRef),
	"bedrock/meta.llama3-1-70b-instruct-v1:0":           d("0.72", "0.72", "", "", bedrockRef),
	"bedrock/amazon.titan-embed-text-v2:0":              d("0.02", "0", "", "0.02", bedrockRef),
	"bedrock/cohere.embed-english-v3":                   d("0.10", "0", "", "0.10", bedrockRef),
	"bedrock/cohere.embed-multilingual-v3":              d("0.10", "0", "", "0.10", bedrockRef),
	"openai/gpt-4o":                                     d("2.50", "10.00", "1.25", "", openAIRef),
	"openai/gpt-4o-mini":                                d("0.15", "0.60", "0.075", "", openAIRef),
	"openai/gpt-4.1":                                    d("2.00", "8.00", "0.50", "", openAIRef),
	"openai/gpt-4.1-mini":                               d("0.40", "1.60", "0.10", "", openAIRef),
	"openai/gpt-4.1-nano":                               d("0.10", "0.40", "0.025", "", openAIRef),
	"openai/text-embedding-3-small":                     d("0.02", "0", "", "0.02", openAIRef),
	"openai/text-embedding-3-large":                     d("0.13", "0", "", "0.13", openAIRef),
}

// Defaults returns the shipped prices.
func Defaults() Table {
	t := make(Table, len(defaults))
	for m, e := range defaults {
		e.Model = m
		t[m] = e
	}
	return t
}

// ParseTable reads the MODEL_PRICES setting: a JSON object of provider/model
// to {"input", "output", "cachedInput", "embedding"} in USD per million tokens.
// Unknown fields and bad amounts are errors.
func ParseTable(s string) (Table, error) {
	t := Table{}
	if strings.TrimSpace(s) == "" {
		return t, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("not a JSON object of model prices: %w", err)
	}
	for m, v := range raw {
		p, err := ParsePrice(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m, err)
		}
		t[m] = Entry{Model: m, Price: p, Source: SourceDeployment}
	}
	return t, nil
}

// ParsePrice reads one price object strictly.
func ParsePrice(b []byte) (Price, error) {
	var p Price
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Price{}, fmt.Errorf("a price is {\"input\", \"output\", \"cachedInput\", \"embedding\"} in USD per million tokens: %w", err)
	}
	if dec.More() {
		return Price{}, fmt.Errorf("a price is one JSON object")
	}
	return p, nil
}

// Merge returns base with each of over's entries replacing base's.
func Merge(base Table, over ...Table) Table {
	out := maps.Clone(base)
	if out == nil {
		out = Table{}
	}
	for _, t := range over {
		maps.Copy(out, t)
	}
	return out
}

// Lookup returns the price of model (provider/model). A Bedrock
// cross-region inference profile ("bedrock/us.anthropic...") costs what its
// model costs when it has no price of its own.
func (t Table) Lookup(model string) (Price, bool) {
	if e, ok := t[model]; ok {
		return e.Price, true
	}
	if rest, ok := strings.CutPrefix(model, "bedrock/"); ok {
		if _, id, ok := strings.Cut(rest, "."); ok && isRegionPrefix(rest[:strings.IndexByte(rest, '.')]) {
			if e, ok := t["bedrock/"+id]; ok {
				return e.Price, true
			}
		}
	}
	return Price{}, false
}

func isRegionPrefix(p string) bool {
	switch p {
	case "us", "eu", "apac", "jp", "au", "ca", "us-gov", "global":
		return true
	}
	return false
}

// Sorted returns the entries by model name.
func (t Table) Sorted() []Entry {
	out := make([]Entry, 0, len(t))
	for m, e := range t {
		e.Model = m
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Model < out[j].Model })
	return out
}
