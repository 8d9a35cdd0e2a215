package chat_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

// lambdaTransport serves an HTTP client's requests by invoking the chat
// function, as API Gateway's REST API does with response streaming: each
// request becomes a proxy event (the sample event with the request's method,
// path, headers and body), and the streamed response (prelude, then body) is
// read back as it arrives.
type lambdaTransport struct {
	rt    *lambdatest.Runtime
	event map[string]any // the sample event
}

func (lt *lambdaTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	ev := map[string]any{}
	for k, v := range lt.event {
		ev[k] = v
	}
	headers, multi := map[string]string{}, map[string][]string{}
	for k, vs := range req.Header {
		headers[k], multi[k] = vs[0], vs
	}
	ev["httpMethod"], ev["path"], ev["resource"] = req.Method, req.URL.Path, req.URL.Path
	ev["headers"], ev["multiValueHeaders"], ev["body"], ev["isBase64Encoded"] = headers, multi, string(body), false
	raw, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	resp, err := lt.rt.Invoke(req.Context(), raw)
	if err != nil {
		return nil, err
	}
	if resp.ContentType != lambdatest.StreamingContentType {
		return nil, fmt.Errorf("the function answered %q, not a streamed response", resp.ContentType)
	}
	h := http.Header{}
	for k, v := range resp.Prelude.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.Prelude.MultiValueHeaders {
		h[http.CanonicalHeaderKey(k)] = vs
	}
	return &http.Response{
		StatusCode: resp.Prelude.StatusCode, Status: http.StatusText(resp.Prelude.StatusCode),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Body: &lambdaBody{chunkReader{ctx: req.Context(), resp: resp}}, Request: req,
	}, nil
}

// lambdaBody is a streamed response body; at its end, an error the function
// reported in the trailers (or a broken stream) is the read error.
type lambdaBody struct{ chunkReader }

func (b *lambdaBody) Read(p []byte) (int, error) {
	n, err := b.chunkReader.Read(p)
	if err == io.EOF {
		if werr := b.resp.Wait(b.ctx); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (b *lambdaBody) Close() error { return nil }

// TestChatFunctionSurface runs the agent, structured-output and image scenarios
// of the local tests through the chat function's bootstrap, against the
// OpenAI-compatible fake and the Bedrock fake, streamed and not, with the
// official Go SDK as the client.
func TestChatFunctionSurface(t *testing.T) {
	t.Parallel()
	srv, table := sampleTenant(t)
	oa := openaitest.NewServer(t, openaitest.Script{Auto: true})
	br := bedrocktest.NewServer(t)
	models := []string{"openai/gpt-lambda", bedrockModel}
	rt := lambdatest.StartRuntime(t, lambdatest.Build(t, "chat"), map[string]string{
		"TABLE_NAME":                       table,
		"AWS_ENDPOINT_URL_DYNAMODB":        srv.URL,
		"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": br.URL,
		"MODELS":                           strings.Join(models, ","),
		"OPENAI_BASE_URL":                  oa.URL,
		"OPENAI_API_KEY":                   upstreamKey,
	})
	raw, err := os.ReadFile("../../events/chat-completions.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample map[string]any
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	client := openai.NewClient(
		option.WithBaseURL("https://abc123.execute-api.us-east-1.amazonaws.com/v1/"),
		option.WithAPIKey(sampleKey),
		option.WithMaxRetries(0),
		option.WithHTTPClient(&http.Client{Transport: &lambdaTransport{rt: rt, event: sample}}),
	)

	// One warm process serves every invocation, one at a time.
	for _, m := range models {
		provider := strings.SplitN(m, "/", 2)[0]
		for _, stream := range []bool{false, true} {
			mode := map[bool]string{false: "whole", true: "stream"}[stream]
			t.Run(provider+"/tool loop/"+mode, func(t *testing.T) { toolLoop(t, client, m, stream) })
			t.Run(provider+"/structured output/"+mode, func(t *testing.T) { structuredOutput(t, client, m, stream) })
		}
		t.Run(provider+"/image", func(t *testing.T) { imagePrompt(t, client, m) })
	}
	// Per mode, the tool loop's two rounds and structured output's two
	// requests; then the streamed image prompt.
	streamed := 0
	for _, r := range br.Requests() {
		if r.Stream {
			streamed++
		}
	}
	if n := len(br.Requests()); n != 9 || streamed != 5 {
		t.Errorf("Bedrock saw %d requests, %d of them ConverseStream; want 9, 5", n, streamed)
	}
	streamed = 0
	for _, r := range oa.Requests() {
		if r.Body.Stream {
			streamed++
		}
	}
	if n := len(oa.Requests()); n != 9 || streamed != 5 {
		t.Errorf("the OpenAI-compatible fake saw %d requests, %d of them streamed; want 9, 5", n, streamed)
	}
}
