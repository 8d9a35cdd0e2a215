// Package tokens estimates token counts without a tokenizer.
//
// Two estimates with different promises:
//   - Bound never undercounts for the byte-level BPE tokenizers of the providers
//     Tollgate supports (OpenAI's, and Anthropic's, Meta's and Amazon's models on
//     Bedrock): every token covers at least one byte of UTF-8 text, so the byte count
//     is an upper bound. Budget reservations use it, so no admitted request can push
//     usage past a limit.
//   - Estimate is a realistic count (about four bytes a token) for charging text
//     that a provider streamed without reporting usage.
package tokens

import "github.com/tollgate/tollgate/shared/chat"

// Per-message framing the chat templates add (role markers, separators). OpenAI
// documents 3 per message plus 3 for the reply's priming; Bedrock's templates add
// fewer. These are upper bounds for both.
const (
	perMessage = 4
	perPrompt  = 3
)

// Bound returns an upper bound of the tokens of text.
func Bound(text string) int { return len(text) }

// PromptBound returns an upper bound of the input tokens of messages.
func PromptBound(msgs []chat.Message) int {
	n := perPrompt
	for _, m := range msgs {
		n += perMessage + Bound(m.Content)
	}
	return n
}

// Estimate returns a realistic estimate of the tokens of text: one per four bytes,
// rounded up, and at least one for non-empty text.
func Estimate(text string) int { return (len(text) + 3) / 4 }

// PromptEstimate is Estimate for a prompt, with the same framing as PromptBound.
func PromptEstimate(msgs []chat.Message) int {
	n := perPrompt
	for _, m := range msgs {
		n += perMessage + Estimate(m.Content)
	}
	return n
}
