package lambdahttp_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/lambdahttp"
)

// testTimeout bounds waits that only a bug makes long.
const testTimeout = 30 * time.Second

const internalError = `{"error":{"message":"internal error","type":"server_error","code":null,"param":null}}`

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// readN reads exactly n bytes of r, failing the test if that takes testTimeout.
func readN(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("reading %d bytes of the body: %v", n, res.err)
		}
		return string(res.b)
	case <-time.After(testTimeout):
		t.Fatalf("reading %d bytes of the body: nothing after %v", n, testTimeout)
		return ""
	}
}

func TestStreamDeliversEachWriteAtOnce(t *testing.T) {
	t.Parallel()
	const first, second = "data: {\"i\":0}\n\n", "data: {\"i\":1}\n\n"
	proceed := make(chan struct{})
	finished := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, first)
		<-proceed // the test has read the first chunk
		io.WriteString(w, second)
	})
	resp, err := lambdahttp.Stream(h)(testContext(t), events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/v1/chat/completions"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readN(t, resp.Body, len(first)); got != first {
		t.Errorf("first chunk = %q, want %q", got, first)
	}
	close(proceed)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != second {
		t.Errorf("rest of the body = %q, %v, want %q, nil", rest, err, second)
	}
	select {
	case <-finished:
	default:
		t.Error("the body ended before the handler returned")
	}
}

func TestStreamURLDeliversEachWriteAtOnce(t *testing.T) {
	t.Parallel()
	proceed := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "one")
		<-proceed
		io.WriteString(w, "two")
	})
	resp, err := lambdahttp.StreamURL(h)(testContext(t), events.LambdaFunctionURLRequest{RawPath: "/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readN(t, resp.Body, 3); got != "one" {
		t.Errorf("first chunk = %q, want %q", got, "one")
	}
	close(proceed)
	if rest, err := io.ReadAll(resp.Body); err != nil || string(rest) != "two" {
		t.Errorf("rest of the body = %q, %v, want %q, nil", rest, err, "two")
	}
}

// response is what a test expects of Stream's result.
type response struct {
	Status  int
	Headers map[string][]string
	Cookies []string
	Body    string
}

func TestStreamResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    response
	}{
		{
			name: "status and headers",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.Header().Add("X-Multi", "a")
				w.Header().Add("X-Multi", "b")
				w.WriteHeader(http.StatusCreated)
				w.Header().Set("X-Too-Late", "ignored") // after the commit
				io.WriteString(w, "data: x\n\n")
			},
			want: response{
				Status:  201,
				Headers: map[string][]string{"Content-Type": {"text/event-stream"}, "X-Multi": {"a", "b"}},
				Body:    "data: x\n\n",
			},
		},
		{
			name:    "writes nothing",
			handler: func(w http.ResponseWriter, r *http.Request) {},
			want:    response{Status: 200},
		},
		{
			name: "headers only",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Only", "1")
			},
			want: response{Status: 200, Headers: map[string][]string{"X-Only": {"1"}}},
		},
		{
			name: "error status",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "nope", http.StatusTooManyRequests)
			},
			want: response{
				Status: 429,
				Headers: map[string][]string{
					"Content-Type":           {"text/plain; charset=utf-8"},
					"X-Content-Type-Options": {"nosniff"},
				},
				Body: "nope\n",
			},
		},
		{
			name: "flush commits",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				if err := http.NewResponseController(w).Flush(); err != nil {
					panic(err)
				}
				w.WriteHeader(http.StatusTeapot) // too late
			},
			want: response{Status: 200, Headers: map[string][]string{"Content-Type": {"text/event-stream"}}},
		},
		{
			name: "informational status is skipped",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(http.StatusEarlyHints)
				w.WriteHeader(http.StatusAccepted)
			},
			want: response{Status: 202},
		},
		{
			name: "content type sniffed like net/http",
			handler: func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "<!DOCTYPE html><p>hi</p>")
			},
			want: response{
				Status:  200,
				Headers: map[string][]string{"Content-Type": {"text/html; charset=utf-8"}},
				Body:    "<!DOCTYPE html><p>hi</p>",
			},
		},
		{
			name: "nil content type suppresses sniffing",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				io.WriteString(w, "<!DOCTYPE html>")
			},
			want: response{Status: 200, Body: "<!DOCTYPE html>"},
		},
		{
			name: "cookies",
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.SetCookie(w, &http.Cookie{Name: "a", Value: "1", HttpOnly: true})
				http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
				w.WriteHeader(http.StatusNoContent)
			},
			want: response{Status: 204, Cookies: []string{"a=1; HttpOnly", "b=2"}},
		},
		{
			name: "panic before commit",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream") // dropped
				panic("boom")
			},
			want: response{
				Status:  500,
				Headers: map[string][]string{"Content-Type": {"application/json"}},
				Body:    internalError,
			},
		},
		{
			name: "panic with ErrAbortHandler before commit",
			handler: func(w http.ResponseWriter, r *http.Request) {
				panic(http.ErrAbortHandler)
			},
			want: response{
				Status:  500,
				Headers: map[string][]string{"Content-Type": {"application/json"}},
				Body:    internalError,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, err := lambdahttp.Stream(tt.handler)(testContext(t), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("reading the body: %v", err)
			}
			got := response{Status: resp.StatusCode, Headers: resp.MultiValueHeaders, Cookies: resp.Cookies, Body: string(body)}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Stream(handler) mismatch (-want +got):\n%s", diff)
			}
			if resp.Headers != nil {
				t.Errorf("Headers = %v, want nil (multiValueHeaders only)", resp.Headers)
			}
		})
	}
}

func TestStreamURLResponse(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("Content-Type", "text/event-stream")
		http.SetCookie(w, &http.Cookie{Name: "a", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "b", Value: "2"})
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "x")
	})
	resp, err := lambdahttp.StreamURL(h)(testContext(t), events.LambdaFunctionURLRequest{RawPath: "/"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := events.LambdaFunctionURLStreamingResponse{
		StatusCode: 202,
		Headers:    map[string]string{"X-Multi": "a,b", "Content-Type": "text/event-stream"},
		Cookies:    []string{"a=1", "b=2"},
	}
	got := events.LambdaFunctionURLStreamingResponse{StatusCode: resp.StatusCode, Headers: resp.Headers, Cookies: resp.Cookies}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(events.LambdaFunctionURLStreamingResponse{})); diff != "" {
		t.Errorf("StreamURL(handler) mismatch (-want +got):\n%s", diff)
	}
	if string(body) != "x" {
		t.Errorf("body = %q, want %q", body, "x")
	}
}

func TestStreamURLPanicBeforeCommit(t *testing.T) {
	t.Parallel()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") })
	resp, err := lambdahttp.StreamURL(h)(testContext(t), events.LambdaFunctionURLRequest{RawPath: "/"})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 500 || resp.Headers["Content-Type"] != "application/json" || string(body) != internalError {
		t.Errorf("StreamURL(panicking handler) = %d %v %q, want 500 application/json %q", resp.StatusCode, resp.Headers, body, internalError)
	}
}

func TestPanicAfterCommitEndsBodyWithError(t *testing.T) {
	t.Parallel()
	for name, adapt := range adapters() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "data: 1\n\n")
				panic("boom")
			})
			status, body := adapt(t, h)
			if status != 200 {
				t.Errorf("status = %d, want 200 (committed before the panic)", status)
			}
			got, err := io.ReadAll(body)
			if string(got) != "data: 1\n\n" {
				t.Errorf("body = %q, want %q", got, "data: 1\n\n")
			}
			var pe *lambdahttp.PanicError
			if !errors.As(err, &pe) || pe.Value != "boom" {
				t.Fatalf("reading the body: %v, want a *PanicError with value boom", err)
			}
			if want := "lambdahttp: handler panic: boom"; pe.Error() != want {
				t.Errorf("PanicError.Error() = %q, want %q", pe.Error(), want)
			}
		})
	}
}

// adapters calls each adapter on an empty event and returns status and body.
func adapters() map[string]func(*testing.T, http.Handler) (int, io.Reader) {
	return map[string]func(*testing.T, http.Handler) (int, io.Reader){
		"Stream": func(t *testing.T, h http.Handler) (int, io.Reader) {
			resp, err := lambdahttp.Stream(h)(testContext(t), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, resp.Body
		},
		"StreamURL": func(t *testing.T, h http.Handler) (int, io.Reader) {
			resp, err := lambdahttp.StreamURL(h)(testContext(t), events.LambdaFunctionURLRequest{RawPath: "/"})
			if err != nil {
				t.Fatal(err)
			}
			return resp.StatusCode, resp.Body
		},
	}
}

// seen is what a handler saw of its request.
type seen struct {
	Method, URL, Host, RequestURI, RemoteAddr string
	Header                                    http.Header
	Body                                      string
	RequestID                                 string
	ContextValue                              any
}

func record(into chan<- seen) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		into <- seen{
			Method: r.Method, URL: r.URL.String(), Host: r.Host, RequestURI: r.RequestURI, RemoteAddr: r.RemoteAddr,
			Header: r.Header, Body: string(b), RequestID: lambdahttp.RequestID(r.Context()),
			ContextValue: r.Context().Value(ctxKey{}),
		}
	}
}

type ctxKey struct{}

func TestStreamRequest(t *testing.T) {
	t.Parallel()
	ev := events.APIGatewayProxyRequest{
		HTTPMethod:                      "POST",
		Path:                            "/v1/chat/completions",
		MultiValueHeaders:               map[string][]string{"Content-Type": {"application/json"}, "Authorization": {"Bearer k"}},
		MultiValueQueryStringParameters: map[string][]string{"stream": {"true"}},
		Body:                            base64.StdEncoding.EncodeToString([]byte(`{"model":"m"}`)),
		IsBase64Encoded:                 true,
		RequestContext: events.APIGatewayProxyRequestContext{
			RequestID:  "api-req-1",
			DomainName: "api.example.com",
			Stage:      "prod",
			Identity:   events.APIGatewayRequestIdentity{SourceIP: "203.0.113.7"},
		},
	}
	ctx := context.WithValue(testContext(t), ctxKey{}, "invocation")
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: "lambda-req-1"})
	got := make(chan seen, 1)
	var gatewayCtx events.APIGatewayProxyRequestContext
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gatewayCtx, _ = core.GetAPIGatewayContextFromContext(r.Context())
		if lc, ok := core.GetRuntimeContextFromContext(r.Context()); !ok || lc.AwsRequestID != "lambda-req-1" {
			t.Errorf("core.GetRuntimeContextFromContext = %v, %v, want the invocation's", lc, ok)
		}
		record(got)(w, r)
	})
	resp, err := lambdahttp.Stream(h)(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	want := seen{
		Method: "POST", URL: "https://api.example.com/v1/chat/completions?stream=true", Host: "api.example.com",
		RequestURI: "/v1/chat/completions?stream=true", RemoteAddr: "203.0.113.7",
		Header:    http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer k"}},
		Body:      `{"model":"m"}`,
		RequestID: "api-req-1", ContextValue: "invocation",
	}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("request mismatch (-want +got):\n%s", diff)
	}
	if gatewayCtx.Stage != "prod" {
		t.Errorf("core.GetAPIGatewayContextFromContext stage = %q, want prod", gatewayCtx.Stage)
	}
}

func TestStreamURLRequest(t *testing.T) {
	t.Parallel()
	ev := events.LambdaFunctionURLRequest{
		RawPath:         "/v1/chat%2Fcompletions",
		RawQueryString:  "a=1&b=%20x",
		Cookies:         []string{"s=1", "t=2"},
		Headers:         map[string]string{"content-type": "application/json", "host": "abc.lambda-url.us-east-1.on.aws", "x-forwarded-for": "203.0.113.7"},
		Body:            base64.StdEncoding.EncodeToString([]byte("\x00binary")),
		IsBase64Encoded: true,
		RequestContext: events.LambdaFunctionURLRequestContext{
			RequestID:  "url-req-1",
			DomainName: "abc.lambda-url.us-east-1.on.aws",
			HTTP:       events.LambdaFunctionURLRequestContextHTTPDescription{Method: "PUT", SourceIP: "203.0.113.7"},
		},
	}
	got := make(chan seen, 1)
	var fromCtx *events.LambdaFunctionURLRequest
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fromCtx, _ = lambdahttp.URLRequestFromContext(r.Context())
		record(got)(w, r)
	})
	ctx := context.WithValue(testContext(t), ctxKey{}, "invocation")
	resp, err := lambdahttp.StreamURL(h)(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	want := seen{
		Method: "PUT", URL: "https://abc.lambda-url.us-east-1.on.aws/v1/chat%2Fcompletions?a=1&b=%20x",
		Host: "abc.lambda-url.us-east-1.on.aws", RequestURI: "/v1/chat%2Fcompletions?a=1&b=%20x", RemoteAddr: "203.0.113.7",
		Header: http.Header{
			"Content-Type":    {"application/json"},
			"X-Forwarded-For": {"203.0.113.7"},
			"Cookie":          {"s=1; t=2"},
		},
		Body:      "\x00binary",
		RequestID: "url-req-1", ContextValue: "invocation",
	}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("request mismatch (-want +got):\n%s", diff)
	}
	if fromCtx == nil || fromCtx.RequestContext.RequestID != "url-req-1" {
		t.Errorf("URLRequestFromContext = %v, want the event", fromCtx)
	}
}

func TestBadBase64Body(t *testing.T) {
	t.Parallel()
	called := false
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })
	_, err := lambdahttp.Stream(h)(testContext(t), events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/", Body: "!!", IsBase64Encoded: true})
	if err == nil || !strings.Contains(err.Error(), "decode request body") {
		t.Errorf("Stream(bad base64) error = %v, want one about decoding the body", err)
	}
	_, err = lambdahttp.StreamURL(h)(testContext(t), events.LambdaFunctionURLRequest{RawPath: "/", Body: "!!", IsBase64Encoded: true})
	if err == nil || !strings.Contains(err.Error(), "decode request body") {
		t.Errorf("StreamURL(bad base64) error = %v, want one about decoding the body", err)
	}
	if called {
		t.Error("the handler ran for an undecodable event")
	}
}

func TestContextEndsBeforeCommit(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(testContext(t))
	returned := make(chan struct{})
	writeErr := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // the request's context is the invocation's
		<-returned
		_, err := io.WriteString(w, "late")
		writeErr <- err
	})
	go cancel()
	_, err := lambdahttp.Stream(h)(ctx, events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/"})
	close(returned)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Stream() error = %v, want context.Canceled", err)
	}
	if err := <-writeErr; err == nil {
		t.Error("a write after the invocation gave up succeeded, want an error")
	}
}

func TestRequestIDOutsideLambda(t *testing.T) {
	t.Parallel()
	if got := lambdahttp.RequestID(context.Background()); got != "" {
		t.Errorf("RequestID(Background) = %q, want empty", got)
	}
}
