package openai_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai"
)

// FuzzStream feeds arbitrary bodies to a stream: it must never panic, and must
// end either with the last chunk and io.EOF or with a *chat.ProviderError.
func FuzzStream(f *testing.F) {
	transcript, err := os.ReadFile("testdata/openai.sse")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(transcript)
	f.Add([]byte("data: [DONE]\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]"))
	f.Add([]byte("data: {\"error\":{\"message\":\"x\",\"code\":429}}\n\n"))
	f.Add([]byte("event: error\ndata: \"boom\"\n\n"))
	f.Add([]byte("data: {\"choices\":null,\"usage\":{\"prompt_tokens\":-1}}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {}\n\ndata: {} {}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			return &http.Response{
				StatusCode: http.StatusOK,
				Header:     http.Header{"Content-Type": {"text/event-stream"}},
				Body:       io.NopCloser(bytes.NewReader(body)),
				Request:    r,
			}, nil
		})}
		s, err := openai.New(hc, "http://upstream.invalid/v1", "").Stream(t.Context(), hello("m"))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		last := false
		for range len(body) + 2 {
			c, err := s.Next(t.Context())
			if err == io.EOF {
				if !last {
					t.Fatal("io.EOF without a last chunk")
				}
				return
			}
			if err != nil {
				var pe *chat.ProviderError
				if !errors.As(err, &pe) {
					t.Fatalf("error %v (%T), want a *chat.ProviderError", err, err)
				}
				return
			}
			if last {
				t.Fatalf("chunk %+v after the last one", c)
			}
			last = c.Text == ""
		}
		t.Fatal("stream did not end")
	})
}
