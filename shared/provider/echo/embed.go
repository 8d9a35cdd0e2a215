package echo

import (
	"context"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"unicode"

	"github.com/tollgate/tollgate/shared/embedding"
	"github.com/tollgate/tollgate/shared/tokens"
)

// EmbeddingDimensions is the length of echo's vectors when a request asks for
// none.
const EmbeddingDimensions = 256

// Embed answers each input with a deterministic unit vector made from its words
// (letters and digits, lower-cased, common English stop words left out, a
// plural's s dropped; each word adds ±1 to a dimension its hash picks): the
// same text always gets the same vector, texts sharing words point in closer
// directions, and it is no model. Token arrays are embedded by their numbers. Usage counts the inputs
// with tokens.Estimate (a token array by its length).
func (*Client) Embed(ctx context.Context, req *embedding.Request) (embedding.Result, error) {
	if err := ctx.Err(); err != nil {
		return embedding.Result{}, err
	}
	dims := req.Dimensions
	if dims <= 0 {
		dims = EmbeddingDimensions
	}
	var res embedding.Result
	for _, in := range req.Inputs {
		res.Vectors = append(res.Vectors, vector(words(in), dims))
		res.InputTokens += tokens.Estimate(in)
	}
	for _, toks := range req.Tokens {
		words := make([]string, len(toks))
		for i, t := range toks {
			words[i] = strconv.Itoa(t)
		}
		res.Vectors = append(res.Vectors, vector(words, dims))
		res.InputTokens += len(toks)
	}
	return res, nil
}

// stopWords are left out of echo's vectors: they would make every text alike.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be by can do does for from has have how i if in is it its
		my of on or our the their this to was what when where which who why will with you your me we`) {
		stopWords[w] = true
	}
}

// words returns the words echo embeds.
func words(s string) []string {
	var out []string
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if stopWords[w] {
			continue
		}
		if len(w) > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") {
			w = w[:len(w)-1]
		}
		out = append(out, w)
	}
	return out
}

func vector(words []string, dims int) []float32 {
	v := make([]float64, dims)
	for _, w := range words {
		h := fnv.New64a()
		h.Write([]byte(w))
		x := h.Sum64()
		sign := 1.0
		if x>>63 == 1 {
			sign = -1
		}
		v[x%uint64(dims)] += sign
	}
	var norm float64
	for _, x := range v {
		norm += x * x
	}
	out := make([]float32, dims)
	if norm == 0 { // no words: a fixed unit vector
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range v {
		out[i] = float32(x / norm)
	}
	return out
}

// Dimensions is requested, or EmbeddingDimensions: echo makes vectors of any
// length.
func (*Client) Dimensions(_ string, requested int) (int, bool) {
	if requested > 0 {
		return requested, true
	}
	return EmbeddingDimensions, true
}
