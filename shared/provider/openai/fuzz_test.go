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
// end either with the last chunks and io.EOF or with a *chat.ProviderError. The
// last chunks (no delta) come one per choice, in order of choice from 0, with
// usage on the last one only; tool-call indexes are dense per choice.
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
	f.Add([]byte(`data: {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"f","arguments":""}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\""}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"g","arguments":":1}"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}` + "\n\n" +
		`data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":1}}}` + "\n\n" +
		"data: [DONE]\n\n"))
	f.Add([]byte(`data: {"choices":[{"delta":{"tool_calls":[{"index":3,"id":"x","function":{"name":"f"}},{"id":"y","function":{"arguments":"{}"}},{"function":{"arguments":"]"}}]}}]}` + "\n\n" +
		`data: {"choices":[{"delta":{"tool_calls":[{"index":null,"function":{"arguments":"{"}}]},"finish_reason":"function_call"}]}` + "\n\ndata: [DONE]\n\n"))
	f.Add([]byte(`data: {"choices":[{"index":1,"delta":{"content":"B","reasoning_content":"r"},"logprobs":{"content":[]}},{"index":0,"delta":{"refusal":"no","reasoning":"s"}}]}` + "\n\n" +
		`data: {"choices":[{"index":1,"delta":{},"finish_reason":"stop"},{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]},"finish_reason":"length"}]}` + "\n\n" +
		`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}` + "\n\ndata: [DONE]\n\n"))
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
		lasts := 0                    // last chunks seen
		calls := map[int]int{}        // choice -> tool calls seen
		named := map[[2]int][2]bool{} // (choice, call) -> ID, Name given
		usage := (*chat.Usage)(nil)   // on the previous last chunk
		for range 2*len(body) + 2 {
			c, err := s.Next(t.Context())
			if err == io.EOF {
				if lasts == 0 {
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
			delta := c.Text != "" || c.Reasoning != "" || c.Refusal != "" || c.ToolCall != nil || c.Logprobs != ""
			if delta {
				if lasts > 0 {
					t.Fatalf("delta %+v after the last chunks", c)
				}
				if tc := c.ToolCall; tc != nil {
					if tc.Index == calls[c.Choice] {
						calls[c.Choice]++
					} else if tc.Index < 0 || tc.Index > calls[c.Choice] {
						t.Fatalf("tool call index %d of choice %d after %d calls: not dense", tc.Index, c.Choice, calls[c.Choice])
					}
					k, had := [2]int{c.Choice, tc.Index}, named[[2]int{c.Choice, tc.Index}]
					if had[0] && tc.ID != "" || had[1] && tc.Name != "" {
						t.Fatalf("fragment %+v gives its call's ID or Name again", *tc)
					}
					named[k] = [2]bool{had[0] || tc.ID != "", had[1] || tc.Name != ""}
				}
				continue
			}
			if c.Choice != lasts {
				t.Fatalf("last chunk %d is for choice %d", lasts, c.Choice)
			}
			if usage != nil {
				t.Fatalf("usage on last chunk %d, which is not the last", lasts-1)
			}
			usage = c.Usage
			lasts++
		}
		t.Fatal("stream did not end")
	})
}
