package lambdatest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/tests/lambdatest"
)

const (
	echofn   = "./tests/lambdatest/testdata/echofn"
	streamfn = "./tests/lambdatest/testdata/streamfn"
)

// testTimeout bounds each test's waits; generous, since failures show as errors
// long before it.
const testTimeout = 60 * time.Second

func TestBuild(t *testing.T) {
	t.Parallel()
	got := lambdatest.Build(t, echofn)
	if filepath.Base(got) != "bootstrap" {
		t.Errorf("Build(%q) = %q, want a file named bootstrap", echofn, got)
	}
	fi, err := os.Stat(got)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&0o111 == 0 {
		t.Errorf("Build(%q): %s is not executable (%v)", echofn, got, fi.Mode())
	}
	// The same package, spelled differently, is built once.
	for _, pkg := range []string{"tests/lambdatest/testdata/echofn", "./tests/lambdatest/testdata/echofn/", lambdatest.Module + "/tests/lambdatest/testdata/echofn"} {
		if again := lambdatest.Build(t, pkg); again != got {
			t.Errorf("Build(%q) = %q, want the cached %q", pkg, again, got)
		}
	}
}

func TestRIE(t *testing.T) {
	t.Parallel()
	rie := lambdatest.StartRIE(t, lambdatest.Build(t, echofn), map[string]string{"TOLLGATE_GREETING": "hi"})

	t.Run("InvokeAPI", func(t *testing.T) {
		got := rie.InvokeAPI(t, events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/echo", Body: "hello"})
		want := events.APIGatewayProxyResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "text/plain"}, Body: "hello"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("InvokeAPI(hello) mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("InvokeFile", func(t *testing.T) {
		got := lambdatest.DecodeAPIResponse(t, rie.InvokeFile(t, "testdata/events/echo.json"))
		if got.StatusCode != 200 || got.Body != "from a file" {
			t.Errorf("InvokeFile(echo.json) = %d %q, want 200 %q", got.StatusCode, got.Body, "from a file")
		}
	})

	t.Run("environment", func(t *testing.T) {
		for name, want := range map[string]string{
			"TOLLGATE_GREETING":        "hi", // from StartRIE's env
			"AWS_REGION":               "us-east-1",
			"AWS_ACCESS_KEY_ID":        "test",
			"AWS_LAMBDA_FUNCTION_NAME": "function",
		} {
			got := rie.InvokeAPI(t, events.APIGatewayProxyRequest{HTTPMethod: "POST", Body: "env:" + name})
			if got.Body != want {
				t.Errorf("function's %s = %q, want %q", name, got.Body, want)
			}
		}
	})

	t.Run("function error", func(t *testing.T) {
		payload := rie.Invoke(t, apiEvent(t, "error"))
		var got lambdatest.FunctionError
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Fatalf("Invoke(error) = %q: %v", payload, err)
		}
		want := lambdatest.FunctionError{Type: "errorString", Message: "echofn: asked to fail"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Invoke(error) mismatch (-want +got):\n%s", diff)
		}
	})

	if out := rie.Output(); !strings.Contains(out, "END RequestId") {
		t.Errorf("Output() lacks the emulator's END lines:\n%s", out)
	}
}

func TestRuntimeStreaming(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	rt := lambdatest.StartRuntime(t, lambdatest.Build(t, streamfn), nil)
	gate := lambdatest.NewGate(t)

	// Invocations follow each other on one process; each checks the one before
	// left it serving.
	t.Run("incremental", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, apiEvent(t, fmt.Sprintf(`{"events":3,"gate":%q}`, gate.URL)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.ContentType != lambdatest.StreamingContentType {
			t.Errorf("Content-Type = %q, want %q", resp.ContentType, lambdatest.StreamingContentType)
		}
		wantPrelude := `{"statusCode":200,"multiValueHeaders":{"Cache-Control":["no-cache"],"Content-Type":["text/event-stream"]}}` + strings.Repeat("\x00", 8)
		if got := string(resp.PreludeBytes); got != wantPrelude {
			t.Errorf("prelude = %q, want %q", got, wantPrelude)
		}
		expect(ctx, t, resp, "data: {\"i\":0}\n\n")
		gate.Open("1") // only now may the function write event 1
		expect(ctx, t, resp, "data: {\"i\":1}\n\n")
		gate.Open("2")
		expect(ctx, t, resp, "data: {\"i\":2}\n\ndata: [DONE]\n\n") // no gate between them
		if err := resp.Wait(ctx); err != nil {
			t.Errorf("Wait() = %v, want nil", err)
		}
		if tr := resp.Trailer(); tr.Get(lambdatest.TrailerErrorType) != "" || tr.Get(lambdatest.TrailerErrorBody) != "" {
			t.Errorf("Trailer() = %v, want empty error trailers", tr)
		}
	})

	t.Run("panic after commit", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, apiEvent(t, `{"events":1,"panic":true}`))
		if err != nil {
			t.Fatal(err)
		}
		expect(ctx, t, resp, "data: {\"i\":0}\n\n")
		err = resp.Wait(ctx)
		var fe *lambdatest.FunctionError
		if !errors.As(err, &fe) || fe.Type != "PanicError" || !strings.Contains(fe.Message, "streamfn: asked to panic") {
			t.Errorf("Wait() = %v, want a PanicError from the trailers", err)
		}
	})

	t.Run("function error", func(t *testing.T) {
		ev, err := json.Marshal(events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/", Body: "not base64!", IsBase64Encoded: true})
		if err != nil {
			t.Fatal(err)
		}
		_, err = rt.Invoke(ctx, ev)
		var fe *lambdatest.FunctionError
		if !errors.As(err, &fe) || !strings.Contains(fe.Message, "decode request body") {
			t.Errorf("Invoke(bad base64) = %v, want a *FunctionError about the body", err)
		}
	})

	t.Run("still serving", func(t *testing.T) {
		resp, err := rt.Invoke(ctx, apiEvent(t, `{"events":1}`))
		if err != nil {
			t.Fatal(err)
		}
		body, err := resp.Body(ctx)
		if want := "data: {\"i\":0}\n\ndata: [DONE]\n\n"; string(body) != want || err != nil {
			t.Errorf("Body() = %q, %v, want %q, nil", body, err, want)
		}
	})
}

func TestRuntimeBuffered(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	rt := lambdatest.StartRuntime(t, lambdatest.Build(t, echofn), nil)

	resp, err := rt.Invoke(ctx, apiEvent(t, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := resp.Body(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.PreludeBytes) != 0 || resp.ContentType == lambdatest.StreamingContentType {
		t.Errorf("buffered response has Content-Type %q and prelude %q", resp.ContentType, resp.PreludeBytes)
	}
	if got := lambdatest.DecodeAPIResponse(t, body); got.StatusCode != 200 || got.Body != "hello" {
		t.Errorf("Invoke(hello) = %d %q, want 200 %q", got.StatusCode, got.Body, "hello")
	}

	_, err = rt.Invoke(ctx, apiEvent(t, "error"))
	var fe *lambdatest.FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("Invoke(error) = %v, want a *FunctionError", err)
	}
	want := lambdatest.FunctionError{Type: "errorString", Message: "echofn: asked to fail"}
	if diff := cmp.Diff(want, *fe); diff != "" {
		t.Errorf("Invoke(error) mismatch (-want +got):\n%s", diff)
	}

	_, err = rt.Invoke(ctx, apiEvent(t, "exit"))
	if !errors.Is(err, lambdatest.ErrExited) {
		t.Errorf("Invoke(exit) = %v, want ErrExited", err)
	}
}

func TestGate(t *testing.T) {
	t.Parallel()
	gate := lambdatest.NewGate(t)
	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(gate.Step("a"))
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	gate.Open("a")
	gate.Open("a") // idempotent
	if code := <-got; code != http.StatusNoContent {
		t.Errorf("GET Step(a) after Open(a) = %d, want 204", code)
	}
}

// apiEvent returns a POST / API Gateway proxy event with the given body.
func apiEvent(t *testing.T, body string) []byte {
	t.Helper()
	b, err := json.Marshal(events.APIGatewayProxyRequest{
		HTTPMethod:     "POST",
		Path:           "/",
		Body:           body,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "api-req-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expect reads chunks until it has len(want) bytes, which must be want.
func expect(ctx context.Context, t *testing.T, resp *lambdatest.StreamedResponse, want string) {
	t.Helper()
	var got []byte
	for len(got) < len(want) {
		c, err := resp.Next(ctx)
		if err != nil {
			t.Fatalf("Next() after %q: %v, want %q", got, err, want)
		}
		got = append(got, c.Data...)
	}
	if string(got) != want {
		t.Fatalf("body chunk = %q, want %q", got, want)
	}
}
