package bedrock_test

import (
	"context"
	"io"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/bedrock"
	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

// TestForwardsTraceID: the request's X-Ray trace header reaches Bedrock on both
// calls, and a request without one sends none.
func TestForwardsTraceID(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := bedrock.New(srv.Client())
	req := &chat.Request{Model: "m", Messages: []chat.Message{chat.TextMessage("user", "hi")}}
	const trace = "Root=1-6745a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
	ctx := chat.WithTraceID(context.Background(), trace)
	if _, err := c.Complete(ctx, req); err != nil {
		t.Fatal(err)
	}
	s, err := c.Stream(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := s.Next(ctx); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if _, err := c.Complete(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()
	if got[0].TraceID != trace || got[1].TraceID != trace || got[2].TraceID != "" {
		t.Errorf("trace headers = %q, %q, %q", got[0].TraceID, got[1].TraceID, got[2].TraceID)
	}
}
