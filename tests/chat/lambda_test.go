package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

// sampleKey is the API key the events/chat-*.json samples carry.
const sampleKey = "tg_EXAMPLE_key_for_sample_events_only_00000000"

// apiRequestID is the API Gateway request id of the sample events.
const apiRequestID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"

// chunkReader reads a streamed Lambda response body as it arrives.
type chunkReader struct {
	ctx  context.Context
	resp *lambdatest.StreamedResponse
	buf  []byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		c, err := r.resp.Next(r.ctx)
		if err != nil {
			return 0, err
		}
		r.buf = c.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// preludeHeader returns a header of a streamed response's prelude.
func preludeHeader(p lambdatest.Prelude, name string) string {
	for k, v := range p.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(v) > 0 {
			return v[0]
		}
	}
	for k, v := range p.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// sampleTenant creates a table with the tenant "acme", whose key is the sample
// events' sampleKey, and returns the server and the table.
func sampleTenant(t *testing.T) (*dynamotest.Server, string) {
	t.Helper()
	srv := dynamotest.Require(t, ddb)
	table := srv.NewTable(t)
	store := dynamo.New(srv.Client(), table)
	ctx := t.Context()
	cfg, _, err := store.PutTenant(ctx, tenant.Config{ID: "acme", Name: "Acme",
		TokenBudget: tenant.Budget{Daily: 1_000_000, Monthly: 10_000_000}}, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k := tenant.Key{ID: "key_0123456789abcdef", TenantID: "acme", Hint: "0000", CreatedAt: time.Now().UTC(), Incarnation: cfg.Incarnation}
	if err := store.CreateKey(ctx, k, tenant.HashKey(sampleKey)); err != nil {
		t.Fatal(err)
	}
	return srv, table
}

// TestChatFunction runs the chat function's bootstrap against a fake Lambda
// Runtime API, which sees the streamed response as Lambda does, with the sample
// events.
func TestChatFunction(t *testing.T) {
	t.Parallel()
	srv, table := sampleTenant(t)
	up := newUpstream(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	rt := lambdatest.StartRuntime(t, lambdatest.Build(t, "chat"), map[string]string{
		"TABLE_NAME":                table,
		"AWS_ENDPOINT_URL_DYNAMODB": srv.URL,
		"MODELS":                    "openai/gpt-lambda,echo/echo-1",
		"DEFAULT_MODEL":             "openai/gpt-lambda",
		"OPENAI_BASE_URL":           up.URL,
		"OPENAI_API_KEY":            upstreamKey,
	})
	invoke := func(t *testing.T, name string) *lambdatest.StreamedResponse {
		t.Helper()
		ev, err := os.ReadFile("../../events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rt.Invoke(ctx, ev)
		if err != nil {
			t.Fatalf("invoke %s: %v", name, err)
		}
		if resp.ContentType != lambdatest.StreamingContentType {
			t.Errorf("Content-Type = %q, want %q", resp.ContentType, lambdatest.StreamingContentType)
		}
		if resp.Prelude.StatusCode != 200 {
			b, _ := resp.Body(ctx)
			t.Fatalf("%s: prelude %s, body %s", name, resp.PreludeBytes, b)
		}
		if got := preludeHeader(resp.Prelude, "x-request-id"); got != apiRequestID {
			t.Errorf("x-request-id = %q, want the event's %q", got, apiRequestID)
		}
		return resp
	}
	// ended checks the function ended the body normally: expected upstream
	// failures are in-band, never Lambda errors.
	ended := func(t *testing.T, resp *lambdatest.StreamedResponse) []byte {
		t.Helper()
		body, err := resp.Body(ctx)
		if err != nil {
			t.Fatalf("body ended with %v; body:\n%s", err, body)
		}
		if tr := resp.Trailer(); tr.Get(lambdatest.TrailerErrorType) != "" || tr.Get(lambdatest.TrailerErrorBody) != "" {
			t.Errorf("error trailers %v", tr)
		}
		return body
	}
	wantStreamPrelude := func(t *testing.T, resp *lambdatest.StreamedResponse) {
		t.Helper()
		for name, want := range map[string]string{
			"Content-Type": "text/event-stream", "x-tollgate-model": "openai/gpt-lambda",
			"x-tollgate-model-source": "default", "x-tollgate-attempts": "1",
		} {
			if got := preludeHeader(resp.Prelude, name); got != want {
				t.Errorf("prelude header %s = %q, want %q (prelude %s)", name, got, want, resp.PreludeBytes)
			}
		}
	}
	chunks := []string{"hello", " from", " lambda"}

	// Invocations follow each other on one warm process.
	t.Run("completions stream", func(t *testing.T) {
		up.set(upstreamScript{Chunks: chunks, Gated: true})
		resp := invoke(t, "chat-completions-stream.json")
		wantStreamPrelude(t, resp)
		evs := newLiveEvents(t, &chunkReader{ctx: ctx, resp: resp})
		for i := range chunks {
			var text string
			for text == "" {
				text = decodeChunk(t, evs.next().Data).text()
			}
			if text != chunks[i] {
				t.Fatalf("chunk %d = %q, want %q", i, text, chunks[i])
			}
			if i+1 < len(chunks) {
				up.release(t) // only now may the provider write chunk i+1
			}
		}
		body := ended(t, resp)
		all := parseEvents(t, body)
		if n := len(all); n < 3 || all[n-1].Data != "[DONE]" {
			t.Fatalf("body does not end with [DONE]:\n%s", body)
		}
		u := decodeChunk(t, all[len(all)-2].Data)
		if u.Usage == nil || u.Usage.PromptTokens != 5 || u.Usage.CompletionTokens != 3 || u.Usage.Estimated {
			t.Errorf("usage chunk = %s, want the provider's 5+3", all[len(all)-2].Data)
		}
	})

	t.Run("native stream", func(t *testing.T) {
		up.set(upstreamScript{Chunks: chunks, Gated: true})
		resp := invoke(t, "chat-native-stream.json")
		wantStreamPrelude(t, resp)
		evs := newLiveEvents(t, &chunkReader{ctx: ctx, resp: resp})
		for i := range chunks {
			ev := evs.next()
			if ev.Name != "delta" || nativeDelta(t, ev) != chunks[i] {
				t.Fatalf("event %d = %+v, want delta %q", i, ev, chunks[i])
			}
			if i+1 < len(chunks) {
				up.release(t)
			}
		}
		if ev := evs.next(); ev.Name != "usage" {
			t.Errorf("after the deltas: %+v, want usage", ev)
		}
		if ev := evs.next(); ev.Name != "done" || ev.Data != `{"finishReason":"stop"}` {
			t.Errorf("last event: %+v, want done", ev)
		}
		ended(t, resp)
	})

	t.Run("provider cut mid-stream", func(t *testing.T) {
		up.set(upstreamScript{Chunks: chunks, CutAfter: 2})
		resp := invoke(t, "chat-completions-stream.json")
		wantStreamPrelude(t, resp)
		body := ended(t, resp)
		all := parseEvents(t, body)
		if slices.Contains(all, event{Data: "[DONE]"}) {
			t.Errorf("a failed stream ends with [DONE]:\n%s", body)
		}
		checkErrorBody(t, []byte(all[len(all)-1].Data), "upstream_error", "")
		if u := decodeChunk(t, all[len(all)-2].Data); u.Usage == nil || !u.Usage.Estimated {
			t.Errorf("before the error: %s, want the estimated usage chunk", all[len(all)-2].Data)
		}
	})

	t.Run("completions", func(t *testing.T) {
		up.set(upstreamScript{Chunks: chunks})
		resp := invoke(t, "chat-completions.json")
		body := ended(t, resp)
		if ct := preludeHeader(resp.Prelude, "Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		for name, want := range map[string]string{"x-tollgate-model": "openai/gpt-lambda", "x-usage-input-tokens": "5",
			"x-usage-output-tokens": "3", "x-usage-total-tokens": "8"} {
			if got := preludeHeader(resp.Prelude, name); got != want {
				t.Errorf("%s = %q, want %q", name, got, want)
			}
		}
		var comp struct {
			Model   string `json:"model"`
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(body, &comp); err != nil || comp.Model != "openai/gpt-lambda" ||
			len(comp.Choices) != 1 || comp.Choices[0].Message.Content != "hello from lambda" {
			t.Errorf("body %s (%v)", body, err)
		}
		reqs := up.Requests()
		if last := reqs[len(reqs)-1]; last.Stream || last.Model != "gpt-lambda" || last.Auth != "Bearer "+upstreamKey {
			t.Errorf("upstream request %+v, want a non-streamed gpt-lambda request with the configured key", last)
		}
	})

	t.Run("models", func(t *testing.T) {
		resp := invoke(t, "chat-models.json")
		body := ended(t, resp)
		var list struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if err := json.Unmarshal(body, &list); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		var ids []string
		for _, d := range list.Data {
			ids = append(ids, d.ID)
		}
		if diff := cmp.Diff([]string{"openai/gpt-lambda", "echo/echo-1"}, ids); diff != "" {
			t.Errorf("models (-want +got):\n%s", diff)
		}
	})

	t.Run("log", func(t *testing.T) {
		out := rt.Output()
		var n int
		for _, line := range strings.Split(out, "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "request" || m["path"] == "/v1/models" {
				continue
			}
			n++
			trace, _ := m["traceId"].(string)
			if m["tenantId"] != "acme" || m["model"] != "openai/gpt-lambda" || m["function"] != "chat" ||
				!strings.HasPrefix(trace, "Root=1-6745a1b2") {
				t.Errorf("request line %v", m)
			}
		}
		if n != 4 {
			t.Errorf("%d chat request lines, want 4; output:\n%s", n, out)
		}
		for _, secret := range []string{sampleKey, upstreamKey, "hello from the lambda event", "You are terse"} {
			if strings.Contains(out, secret) {
				t.Errorf("the function's output contains %q", secret)
			}
		}
	})
}

// TestChatFunctionResponses runs the Responses API through the chat function's
// bootstrap under the fake Runtime API: the event stream arrives event by event
// as the provider writes (each delta before the provider may write the next),
// and the stored response is retrieved, listed and deleted through the other
// sample events.
func TestChatFunctionResponses(t *testing.T) {
	t.Parallel()
	srv, table := sampleTenant(t)
	up := newUpstream(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	defer cancel()
	rt := lambdatest.StartRuntime(t, lambdatest.Build(t, "chat"), map[string]string{
		"TABLE_NAME":                table,
		"AWS_ENDPOINT_URL_DYNAMODB": srv.URL,
		"MODELS":                    "openai/gpt-lambda",
		"OPENAI_BASE_URL":           up.URL,
		"OPENAI_API_KEY":            upstreamKey,
	})
	// invoke sends the sample event name, with the sample response id replaced
	// by id when id is set.
	const sampleID = "resp_0123456789abcdef0123456789abcdef"
	invoke := func(t *testing.T, name, id string) *lambdatest.StreamedResponse {
		t.Helper()
		ev, err := os.ReadFile("../../events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if id != "" {
			ev = bytes.ReplaceAll(ev, []byte(sampleID), []byte(id))
		}
		resp, err := rt.Invoke(ctx, ev)
		if err != nil {
			t.Fatalf("invoke %s: %v", name, err)
		}
		return resp
	}
	body := func(t *testing.T, resp *lambdatest.StreamedResponse) []byte {
		t.Helper()
		b, err := resp.Body(ctx)
		if err != nil {
			t.Fatalf("body ended with %v; body:\n%s", err, b)
		}
		return b
	}

	chunks := []string{"hello", " from", " lambda"}
	up.set(upstreamScript{Chunks: chunks, Gated: true})
	resp := invoke(t, "chat-responses-stream.json", "")
	if resp.Prelude.StatusCode != 200 || preludeHeader(resp.Prelude, "Content-Type") != "text/event-stream" {
		b, _ := resp.Body(ctx)
		t.Fatalf("prelude %s, body %s", resp.PreludeBytes, b)
	}
	evs := newLiveEvents(t, &chunkReader{ctx: ctx, resp: resp})
	for i := range chunks {
		var ev event
		for ev.Name != "response.output_text.delta" {
			ev = evs.next()
		}
		var d struct {
			Delta string `json:"delta"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &d); err != nil || d.Delta != chunks[i] {
			t.Fatalf("delta %d = %s, want %q", i, ev.Data, chunks[i])
		}
		if i+1 < len(chunks) {
			up.release(t) // only now may the provider write chunk i+1
		}
	}
	var done struct {
		Response struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Usage  struct {
				InputTokens  int `json:"input_tokens"`
				OutputTokens int `json:"output_tokens"`
			} `json:"usage"`
		} `json:"response"`
	}
	for {
		ev := evs.next()
		if ev.Name == "response.completed" {
			if err := json.Unmarshal([]byte(ev.Data), &done); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	body(t, resp)
	id := done.Response.ID
	if done.Response.Status != "completed" || done.Response.Usage.InputTokens != 5 || done.Response.Usage.OutputTokens != 3 {
		t.Errorf("completed %+v, want the provider's usage 5+3", done.Response)
	}

	got := invoke(t, "chat-responses-get.json", id)
	if b := body(t, got); got.Prelude.StatusCode != 200 || !strings.Contains(string(b), `"output_text","text":"hello from lambda"`) {
		t.Errorf("GET: %d %s", got.Prelude.StatusCode, b)
	}
	items := invoke(t, "chat-responses-input-items.json", id)
	if b := body(t, items); items.Prelude.StatusCode != 200 || !strings.Contains(string(b), "hello from the lambda event") {
		t.Errorf("input items: %d %s", items.Prelude.StatusCode, b)
	}
	del := invoke(t, "chat-responses-delete.json", id)
	if b := body(t, del); del.Prelude.StatusCode != 200 || !strings.Contains(string(b), `"deleted":true`) {
		t.Errorf("DELETE: %d %s", del.Prelude.StatusCode, b)
	}
	// The samples as they are name a response nobody has.
	for _, name := range []string{"chat-responses-get.json", "chat-responses-delete.json", "chat-responses-input-items.json"} {
		r := invoke(t, name, "")
		if b := body(t, r); r.Prelude.StatusCode != 404 {
			t.Errorf("%s: %d %s, want 404", name, r.Prelude.StatusCode, b)
		}
	}
	up.set(upstreamScript{Chunks: chunks})
	whole := invoke(t, "chat-responses.json", "")
	if b := body(t, whole); whole.Prelude.StatusCode != 200 || !strings.Contains(string(b), `"object":"response"`) {
		t.Errorf("whole: %d %s", whole.Prelude.StatusCode, b)
	}
}
