package tokens_test

import (
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/tokens"
)

func TestEstimates(t *testing.T) {
	for text, want := range map[string]int{"": 0, "a": 1, "abcd": 1, "abcde": 2, "héllo wörld": 4} {
		if got := tokens.Estimate(text); got != want {
			t.Errorf("Estimate(%q) = %d, want %d", text, got, want)
		}
	}
	msgs := []chat.Message{chat.TextMessage("system", "be brief"), chat.TextMessage("user", "日本語のテキスト")}
	// The bound counts bytes: 8 + 24, plus 4 per message and 3 per prompt.
	if got := tokens.PromptBound(msgs); got != 3+4+8+4+24 {
		t.Errorf("PromptBound = %d, want %d", got, 3+4+8+4+24)
	}
	if b, e := tokens.PromptBound(msgs), tokens.PromptEstimate(msgs); b < e {
		t.Errorf("the bound %d is below the estimate %d", b, e)
	}
}
