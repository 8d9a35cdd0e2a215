package apierr_test

import (
	"errors"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestGolden pins the exact bytes of each Kind's response: the table is an API
// contract (docs/api.md).
func TestGolden(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"invalid", apierr.InvalidParam("invalid_json", "messages", "messages must be an array"), 400},
		{"unauthenticated", apierr.New(apierr.Unauthenticated, "invalid_api_key", "bad key"), 401},
		{"forbidden", apierr.New(apierr.Forbidden, "model_not_allowed", "not allowed"), 403},
		{"not_found", apierr.New(apierr.NotFound, "model_not_found", "no such model"), 404},
		{"method_not_allowed", apierr.New(apierr.MethodNotAllowed, "method_not_allowed", "no"), 405},
		{"conflict", apierr.New(apierr.Conflict, "version_conflict", "stale"), 409},
		{"too_large", apierr.New(apierr.TooLarge, "request_too_large", "too big"), 413},
		{"rate_limited", &apierr.Error{Kind: apierr.RateLimited, Code: "rate_limit_exceeded", Message: "slow down", RetryAfter: 1500 * time.Millisecond}, 429},
		{"budget_exceeded", &apierr.Error{Kind: apierr.BudgetExceeded, Code: "budget_exceeded", Message: "daily budget", RetryAfter: time.Hour}, 429},
		{"bad_gateway", apierr.New(apierr.BadGateway, "upstream_error", "provider failed"), 502},
		{"unavailable", apierr.New(apierr.Unavailable, "upstream_unavailable", "try later"), 503},
		{"timeout", apierr.New(apierr.Timeout, "upstream_timeout", "too slow"), 504},
		{"internal", &apierr.Error{Kind: apierr.Internal, Message: "secret detail", Err: errors.New("boom")}, 500},
		{"plain_error", errors.New("dynamo: table xyz is gone"), 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			apierr.Write(w, tt.err)
			if w.Code != tt.status {
				t.Errorf("status = %d, want %d", w.Code, tt.status)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			got := w.Header().Get("Retry-After") + "\n" + w.Body.String()
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if got != string(want) {
				t.Errorf("response =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestFromWrapped(t *testing.T) {
	inner := apierr.New(apierr.NotFound, "x", "y")
	wrapped := errors.Join(errors.New("ctx"), inner)
	if got := apierr.From(wrapped).Kind.Status(); got != 404 {
		t.Errorf("Status(wrapped 404) = %d", got)
	}
}
