package bedrocktest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/schemas"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

const model = "amazon.nova-micro-v1:0"

func text(s string) []types.ContentBlock {
	return []types.ContentBlock{&types.ContentBlockMemberText{Value: s}}
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		msgs []types.Message
	}{
		{"no messages", nil},
		{"assistant first", []types.Message{{Role: types.ConversationRoleAssistant, Content: text("hello")}}},
		{"not alternating", []types.Message{
			{Role: types.ConversationRoleUser, Content: text("a")},
			{Role: types.ConversationRoleUser, Content: text("b")},
		}},
		{"blank text", []types.Message{{Role: types.ConversationRoleUser, Content: text("  ")}}},
	}
	srv := bedrocktest.NewServer(t)
	c := srv.Client()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Converse(t.Context(), &bedrockruntime.ConverseInput{ModelId: aws.String(model), Messages: tt.msgs})
			var ve *types.ValidationException
			if !errors.As(err, &ve) {
				t.Errorf("Converse() error = %v, want a ValidationException", err)
			}
			_, err = c.ConverseStream(t.Context(), &bedrockruntime.ConverseStreamInput{ModelId: aws.String(model), Messages: tt.msgs})
			if !errors.As(err, &ve) {
				t.Errorf("ConverseStream() error = %v, want a ValidationException", err)
			}
		})
	}
}

// TestFrames reads the event stream without the SDK, frame by frame.
func TestFrames(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	srv.Set("m:1", bedrocktest.Script{Chunks: []string{"Hi", " there"}, Usage: &bedrocktest.Usage{In: 3, Out: 2}})

	body := `{"messages":[{"role":"user","content":[{"text":"hello"}]}]}`
	resp, err := http.Post(srv.URL+"/model/m%3A1/converse-stream", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("POST error = %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("answer = %d %q, want 200 application/vnd.amazon.eventstream", resp.StatusCode, ct)
	}

	type frame struct {
		MessageType, EventType, ContentType, Payload string
	}
	var got []frame
	dec := eventstream.NewDecoder()
	for {
		m, err := dec.Decode(resp.Body, nil)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Decode() error = %v", err)
		}
		var payload map[string]any
		if err := json.Unmarshal(m.Payload, &payload); err != nil {
			t.Fatalf("payload %q: %v", m.Payload, err)
		}
		delete(payload, "metrics") // latency varies
		p, _ := json.Marshal(payload)
		got = append(got, frame{
			m.Headers.Get(":message-type").String(),
			m.Headers.Get(":event-type").String(),
			m.Headers.Get(":content-type").String(),
			string(p),
		})
	}
	const ct = "application/json"
	want := []frame{
		{"event", "messageStart", ct, `{"role":"assistant"}`},
		{"event", "contentBlockDelta", ct, `{"contentBlockIndex":0,"delta":{"text":"Hi"}}`},
		{"event", "contentBlockDelta", ct, `{"contentBlockIndex":0,"delta":{"text":" there"}}`},
		{"event", "contentBlockStop", ct, `{"contentBlockIndex":0}`},
		{"event", "messageStop", ct, `{"stopReason":"end_turn"}`},
		{"event", "metadata", ct, `{"usage":{"inputTokens":3,"outputTokens":2,"totalTokens":5}}`},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames mismatch (-want +got):\n%s", diff)
	}
	if n := srv.Calls("m:1"); n != 1 {
		t.Errorf("Calls(%q) = %d, want 1", "m:1", n)
	}
}

func TestErrorAnswer(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	srv.Set(model, bedrocktest.Script{ErrorType: "ThrottlingException", Message: "slow down"})

	resp, err := http.Post(srv.URL+"/model/"+model+"/converse", "application/json",
		strings.NewReader(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`))
	if err != nil {
		t.Fatalf("POST error = %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	got := fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"), bytes.TrimSpace(b))
	if want := `429 ThrottlingException {"message":"slow down"}`; got != want {
		t.Errorf("answer = %s, want %s", got, want)
	}
}

func TestRoutes(t *testing.T) {
	tests := []struct {
		method, path string
		want         int
	}{
		{"POST", "/model/x/invoke", http.StatusBadRequest}, // InvokeModel of a model the fake does not embed with
		{"POST", "/other", http.StatusNotFound},
		{"POST", "/model/converse", http.StatusNotFound},
		{"GET", "/model/x/converse", http.StatusMethodNotAllowed},
		{"POST", "/model/x/converse", http.StatusBadRequest}, // body is not JSON
	}
	srv := bedrocktest.NewServer(t)
	for _, tt := range tests {
		req, err := http.NewRequestWithContext(t.Context(), tt.method, srv.URL+tt.path, strings.NewReader("{"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
}

func TestRequests(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := srv.Client()
	in := &bedrockruntime.ConverseInput{
		ModelId:  aws.String(model),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: text("hi")}},
		System:   []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: "sys"}},
	}
	if _, err := c.Converse(t.Context(), in); err != nil {
		t.Fatalf("Converse() error = %v", err)
	}
	out, err := c.ConverseStream(t.Context(), &bedrockruntime.ConverseStreamInput{ModelId: in.ModelId, Messages: in.Messages})
	if err != nil {
		t.Fatalf("ConverseStream() error = %v", err)
	}
	for range out.GetStream().Events() {
	}
	out.GetStream().Close()

	reqs := srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("len(Requests()) = %d, want 2", len(reqs))
	}
	if reqs[0].Stream || !reqs[1].Stream {
		t.Errorf("Stream = %v, %v; want false, true", reqs[0].Stream, reqs[1].Stream)
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].Body, &body); err != nil || body["system"] == nil {
		t.Errorf("Body = %s, want the JSON with a system field", reqs[0].Body)
	}
	if diff := cmp.Diff([]bedrocktest.Block{{Text: "sys"}}, reqs[0].System); diff != "" {
		t.Errorf("System mismatch (-want +got):\n%s", diff)
	}
	if n := srv.Calls(model); n != 2 {
		t.Errorf("Calls() = %d, want 2", n)
	}
}

func TestLatency(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	srv.SetLatency(100 * time.Millisecond)
	start := time.Now()
	_, err := srv.Client().Converse(t.Context(), &bedrockruntime.ConverseInput{
		ModelId:  aws.String(model),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: text("hi")}},
	})
	if err != nil {
		t.Fatalf("Converse() error = %v", err)
	}
	if took := time.Since(start); took < 100*time.Millisecond {
		t.Errorf("Converse() took %v, want at least the 100ms latency", took)
	}
}

// TestCloseReleasesHang checks that a hanging request does not block the
// server's shutdown.
func TestCloseReleasesHang(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	srv.SetDefault(bedrocktest.Script{Hang: true})
	out, err := srv.Client().ConverseStream(t.Context(), &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String(model),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: text("hi")}},
	})
	if err != nil {
		t.Fatalf("ConverseStream() error = %v", err)
	}
	defer out.GetStream().Close()

	start := time.Now()
	srv.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close() took %v with a hanging request", took)
	}
}

// TestConcurrent runs many streams at once; under -race it guards against the
// flakiness of too-fast fakes. Each call brings its own protocol: the client's
// shared event-stream codec is racy (aws/smithy-go#714).
func TestConcurrent(t *testing.T) {
	srv := bedrocktest.NewServer(t)
	c := srv.Client()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range cap(errs) {
		wg.Go(func() {
			errs <- streamOnce(t.Context(), c, fmt.Sprintf("message number %d", i))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := len(srv.Requests()); n != cap(errs) {
		t.Errorf("len(Requests()) = %d, want %d", n, cap(errs))
	}
}

func streamOnce(ctx context.Context, c *bedrockruntime.Client, msg string) error {
	out, err := c.ConverseStream(ctx, &bedrockruntime.ConverseStreamInput{
		ModelId:  aws.String(model),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: text(msg)}},
	}, func(o *bedrockruntime.Options) {
		o.Protocol = restjson1.New(schemas.AmazonBedrockFrontendService)
	})
	if err != nil {
		return err
	}
	es := out.GetStream()
	defer es.Close()
	var sb strings.Builder
	for ev := range es.Events() {
		if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
			if t, ok := d.Value.Delta.(*types.ContentBlockDeltaMemberText); ok {
				sb.WriteString(t.Value)
			}
		}
	}
	if err := es.Err(); err != nil {
		return err
	}
	if sb.String() != msg {
		return fmt.Errorf("echo = %q, want %q", sb.String(), msg)
	}
	return nil
}

// ExampleNewHandler serves the fake without a testing.TB, as a benchmark
// command would.
func ExampleNewHandler() {
	h := bedrocktest.NewHandler()
	h.Set("amazon.nova-micro-v1:0", bedrocktest.Script{Chunks: []string{"Hello", ", world"}})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()

	out, err := bedrocktest.NewClient(srv.URL).Converse(context.Background(), &bedrockruntime.ConverseInput{
		ModelId:  aws.String("amazon.nova-micro-v1:0"),
		Messages: []types.Message{{Role: types.ConversationRoleUser, Content: text("hi")}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := out.Output.(*types.ConverseOutputMemberMessage).Value
	fmt.Println(msg.Content[0].(*types.ContentBlockMemberText).Value, out.StopReason)
	// Output: Hello, world end_turn
}
