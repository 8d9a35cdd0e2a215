package chat_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
)

// TestLogValue: the provider's message is withheld wherever it appears in the
// error's text (a wrapped cause, as the AWS SDK's errors repeat it), and the
// rest stays for the operator.
func TestLogValue(t *testing.T) {
	msg := "Malformed input request: 'my secret prompt' is not valid"
	cause := fmt.Errorf("bedrock: converse: operation error: ValidationException: %s", msg)
	pe := &chat.ProviderError{Class: chat.ErrBadRequest, Status: 400, Message: msg, Err: cause}
	for _, err := range []error{pe, fmt.Errorf("attempt: %w", pe)} {
		got := chat.LogValue(err).String()
		if strings.Contains(got, "secret prompt") || !strings.Contains(got, "ValidationException") ||
			!strings.Contains(got, fmt.Sprintf("[provider message withheld, %d bytes]", len(msg))) || !strings.Contains(got, "status 400") {
			t.Errorf("LogValue(%v) = %q", err, got)
		}
	}
	if got := pe.LogValue().String(); strings.Contains(got, "secret prompt") {
		t.Errorf("ProviderError.LogValue = %q", got)
	}
	if got := chat.LogValue(errors.New("dial tcp: connection refused")).String(); got != "dial tcp: connection refused" {
		t.Errorf("a plain error: %q", got)
	}
}
