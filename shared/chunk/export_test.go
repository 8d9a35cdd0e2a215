package chunk

import "strings"

// Window is a piece's tokens [Start, End) and bytes [Lo, Hi) in its text.
type Window = window

// Windows returns the windows Split makes of text with a window of size
// tokens and overlap, which may be out of OpenAI's range (size ≥ 1).
func Windows(text string, size, overlap int) []Window {
	return windows(strings.ToValidUTF8(text, "\uFFFD"), size, overlap)
}

// Tokenize returns the byte offset at which each token of text starts.
func Tokenize(text string) []int { return tokenize(strings.ToValidUTF8(text, "\uFFFD")) }
