package lambdahttp_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/lambdahttp"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

// childEnv makes the test binary a Lambda function: "rest" serves childHandler
// with Stream, "url" with StreamURL, through the real lambda.Start.
const childEnv = "LAMBDAHTTP_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "rest":
		lambda.Start(lambdahttp.Stream(childHandler())) // never returns
	case "url":
		lambda.Start(lambdahttp.StreamURL(childHandler()))
	}
	os.Exit(m.Run())
}

// childHandler serves, by path:
//
//	/sse          3 SSE events then [DONE]; before events 1 and 2 it GETs
//	              gate/1 and gate/2, gate being the request body
//	/panic        one event, then a panic
//	/panic-early  a panic before writing anything
//	/cookies      201, a header and two cookies
func childHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/sse", func(w http.ResponseWriter, r *http.Request) {
		gate, err := io.ReadAll(r.Body)
		if err != nil {
			panic(err)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			if i > 0 {
				wait(r.Context(), fmt.Sprintf("%s/%d", gate, i))
			}
			fmt.Fprintf(w, "data: {\"i\":%d}\n\n", i)
		}
		io.WriteString(w, "data: [DONE]\n\n")
	})
	mux.HandleFunc("/panic", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"i\":0}\n\n")
		panic("boom mid-stream")
	})
	mux.HandleFunc("/panic-early", func(w http.ResponseWriter, r *http.Request) {
		panic("boom before commit")
	})
	mux.HandleFunc("/cookies", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Tollgate", "yes")
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "ok")
	})
	return mux
}

// wait blocks until the test opens the gate step at url.
func wait(ctx context.Context, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		panic(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
}

// startChild runs this test binary as a function behind a fake Runtime API.
func startChild(t *testing.T, mode string) *lambdatest.Runtime {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return lambdatest.StartRuntime(t, exe, map[string]string{childEnv: mode})
}

func restEvent(t *testing.T, path, body string) []byte {
	t.Helper()
	b, err := json.Marshal(events.APIGatewayProxyRequest{
		HTTPMethod:     "POST",
		Path:           path,
		Body:           body,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "api-req-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func urlEvent(t *testing.T, path, body string) []byte {
	t.Helper()
	b, err := json.Marshal(events.LambdaFunctionURLRequest{
		RawPath: path,
		Body:    body,
		RequestContext: events.LambdaFunctionURLRequestContext{
			RequestID: "url-req-1",
			HTTP:      events.LambdaFunctionURLRequestContextHTTPDescription{Method: "POST"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRuntimeStream drives Stream through the real lambda.Start and runtime
// client. The invocations share one process, in order, as on a warm sandbox.
func TestRuntimeStream(t *testing.T) {
	t.Parallel()
	rt := startChild(t, "rest")
	ctx := testContext(t)

	t.Run("streams chunk by chunk", func(t *testing.T) {
		gate := lambdatest.NewGate(t)
		resp, err := rt.Invoke(ctx, restEvent(t, "/sse", gate.URL))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentType != "application/vnd.awslambda.http-integration-response" {
			t.Errorf("Content-Type = %q, want application/vnd.awslambda.http-integration-response", resp.ContentType)
		}
		wantPrelude := `{"statusCode":200,"multiValueHeaders":{"Content-Type":["text/event-stream"]}}` + "\x00\x00\x00\x00\x00\x00\x00\x00"
		if got := string(resp.PreludeBytes); got != wantPrelude {
			t.Errorf("prelude = %q, want %q", got, wantPrelude)
		}
		expect(t, resp, "data: {\"i\":0}\n\n") // exactly 8 NULs: the body starts right after them
		gate.Open("1")                         // only now can the handler write event 1
		expect(t, resp, "data: {\"i\":1}\n\n")
		gate.Open("2")
		expect(t, resp, "data: {\"i\":2}\n\ndata: [DONE]\n\n")
		if err := resp.Wait(ctx); err != nil {
			t.Errorf("Wait() = %v, want nil", err)
		}
		if tr := resp.Trailer(); tr.Get(lambdatest.TrailerErrorType) != "" || tr.Get(lambdatest.TrailerErrorBody) != "" {
			t.Errorf("trailers = %v, want no error", tr)
		}
	})

	t.Run("panic mid-stream sets error trailers", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, restEvent(t, "/panic", ""))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Prelude.StatusCode != 200 {
			t.Errorf("status = %d, want 200 (committed before the panic)", resp.Prelude.StatusCode)
		}
		expect(t, resp, "data: {\"i\":0}\n\n")
		if err := resp.Wait(ctx); err == nil {
			t.Error("Wait() = nil, want the panic")
		}
		tr := resp.Trailer()
		if got := tr.Get(lambdatest.TrailerErrorType); got != "PanicError" {
			t.Errorf("%s = %q, want PanicError", lambdatest.TrailerErrorType, got)
		}
		body, err := base64.StdEncoding.DecodeString(tr.Get(lambdatest.TrailerErrorBody))
		if err != nil {
			t.Fatalf("%s: %v", lambdatest.TrailerErrorBody, err)
		}
		var got lambdatest.FunctionError
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s = %q: %v", lambdatest.TrailerErrorBody, body, err)
		}
		want := lambdatest.FunctionError{Type: "PanicError", Message: "lambdahttp: handler panic: boom mid-stream"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s mismatch (-want +got):\n%s", lambdatest.TrailerErrorBody, diff)
		}
	})

	t.Run("panic before commit is a 500", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, restEvent(t, "/panic-early", ""))
		if err != nil {
			t.Fatal(err)
		}
		want := lambdatest.Prelude{StatusCode: 500, MultiValueHeaders: map[string][]string{"Content-Type": {"application/json"}}}
		if diff := cmp.Diff(want, resp.Prelude); diff != "" {
			t.Errorf("prelude mismatch (-want +got):\n%s", diff)
		}
		body, err := resp.Body(ctx)
		if string(body) != internalError || err != nil {
			t.Errorf("Body() = %q, %v, want %q, nil", body, err, internalError)
		}
	})

	t.Run("cookies", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, restEvent(t, "/cookies", ""))
		if err != nil {
			t.Fatal(err)
		}
		want := lambdatest.Prelude{
			StatusCode:        201,
			MultiValueHeaders: map[string][]string{"X-Tollgate": {"yes"}}, // WriteHeader committed: no sniffing
			Cookies:           []string{"a=1", "b=2"},
		}
		if diff := cmp.Diff(want, resp.Prelude); diff != "" {
			t.Errorf("prelude mismatch (-want +got):\n%s", diff)
		}
		if body, err := resp.Body(ctx); string(body) != "ok" || err != nil {
			t.Errorf("Body() = %q, %v, want %q, nil", body, err, "ok")
		}
	})
}

// TestRuntimeStreamURL drives StreamURL through the real lambda.Start.
func TestRuntimeStreamURL(t *testing.T) {
	t.Parallel()
	rt := startChild(t, "url")
	ctx := testContext(t)

	t.Run("streams chunk by chunk", func(t *testing.T) {
		gate := lambdatest.NewGate(t)
		resp, err := rt.Invoke(ctx, urlEvent(t, "/sse", gate.URL))
		if err != nil {
			t.Fatal(err)
		}
		wantPrelude := `{"statusCode":200,"headers":{"Content-Type":"text/event-stream"}}` + "\x00\x00\x00\x00\x00\x00\x00\x00"
		if got := string(resp.PreludeBytes); got != wantPrelude {
			t.Errorf("prelude = %q, want %q", got, wantPrelude)
		}
		expect(t, resp, "data: {\"i\":0}\n\n")
		gate.Open("1")
		expect(t, resp, "data: {\"i\":1}\n\n")
		gate.Open("2")
		expect(t, resp, "data: {\"i\":2}\n\ndata: [DONE]\n\n")
		if err := resp.Wait(ctx); err != nil {
			t.Errorf("Wait() = %v, want nil", err)
		}
	})

	t.Run("panic mid-stream", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, urlEvent(t, "/panic", ""))
		if err != nil {
			t.Fatal(err)
		}
		expect(t, resp, "data: {\"i\":0}\n\n")
		var fe *lambdatest.FunctionError
		if err := resp.Wait(ctx); !errors.As(err, &fe) || fe.Type != "PanicError" {
			t.Errorf("Wait() = %v, want a PanicError from the trailers", err)
		}
	})

	t.Run("cookies", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, urlEvent(t, "/cookies", ""))
		if err != nil {
			t.Fatal(err)
		}
		want := lambdatest.Prelude{
			StatusCode: 201,
			Headers:    map[string]string{"X-Tollgate": "yes"},
			Cookies:    []string{"a=1", "b=2"},
		}
		if diff := cmp.Diff(want, resp.Prelude); diff != "" {
			t.Errorf("prelude mismatch (-want +got):\n%s", diff)
		}
	})
}

// expect reads chunks until it has len(want) bytes, which must be want.
func expect(t *testing.T, resp *lambdatest.StreamedResponse, want string) {
	t.Helper()
	var got []byte
	for len(got) < len(want) {
		c, err := resp.Next(testContext(t))
		if err != nil {
			t.Fatalf("Next() after %q: %v, want %q", got, err, want)
		}
		got = append(got, c.Data...)
	}
	if string(got) != want {
		t.Fatalf("body = %q, want %q", got, want)
	}
}
