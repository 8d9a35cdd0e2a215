// Package embedding is the vocabulary of embedding requests between the gateway
// and the providers, as shared/chat is for chat: no JSON tags, each front end
// and provider owns its wire structs. Providers report failures as
// *chat.ProviderError, like chat providers.
package embedding

import "context"

// Request asks for one vector per input.
type Request struct {
	Model string // the provider's model id
	// Inputs are the texts to embed, in order; Tokens, when set instead, are
	// token arrays (only some providers take them).
	Inputs []string
	Tokens [][]int
	// Dimensions is the length of the vectors asked for; 0 for the model's own.
	Dimensions int
	User       string
	// InputType says what the texts are for, for models that embed documents
	// and queries differently (Cohere's input_type): one of InputTypes; ""
	// means "search_document".
	InputType string
}

// InputTypes are the input types a request may give.
var InputTypes = []string{"search_document", "search_query", "classification", "clustering"}

// Len is the number of inputs.
func (r *Request) Len() int { return len(r.Inputs) + len(r.Tokens) }

// Result is the vectors, in the order of the inputs, and the input tokens the
// provider counted (InputTokens 0 with Estimated when it reported none).
type Result struct {
	Vectors     [][]float32
	InputTokens int
	Estimated   bool
}

// Provider embeds texts.
type Provider interface {
	Embed(ctx context.Context, req *Request) (Result, error)
	// Dimensions is the length of model's vectors for a request that asks for
	// requested (0: the model's own); ok is false when the provider does not
	// know (then no fallback can stand in for the model, or it for another).
	Dimensions(model string, requested int) (n int, ok bool)
}
