// Package chat_test drives the chat gateway end to end: the local handlers over
// real HTTP against dynalite, with the fake OpenAI-compatible and Bedrock
// providers (and, where ordering must be proven, a provider the test steers); the
// OpenAI Go SDK as a client; and the chat Lambda function through a fake Lambda
// Runtime API.
package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/provider/bedrock"
	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/shared/sse"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

const (
	adminKey = gatewaytest.AdminKey
	// upstreamKey is the gateway's own key for the OpenAI-compatible provider; it
	// must never reach a log line.
	upstreamKey = "sk-upstream-secret-do-not-log-0123456789"

	bedrockID    = "anthropic.claude-3-5-haiku-20241022-v1:0"
	bedrockModel = "bedrock/" + bedrockID

	// waitTimeout guards every wait on a signal: generous, never an assertion.
	waitTimeout = 20 * time.Second
)

// catalog is the MODELS of most gateways under test.
var catalog = strings.Join([]string{"echo/echo-1", "openai/gpt-a", "openai/gpt-b", "openai/gpt-c", bedrockModel}, ",")

// gw is one local server on a fresh table, with its own fake providers.
type gw struct {
	t       *testing.T
	URL     string
	App     *app.App
	Logs    *gatewaytest.SyncBuffer
	OpenAI  *openaitest.Server
	Bedrock *bedrocktest.Server
	keys    map[string]string // tenants' keys by fallback chain name
}

// newGateway starts the local handler set against a fresh dynalite table, with
// OPENAI_BASE_URL at a fresh openaitest server and the bedrock provider on a fresh
// bedrocktest server. env overrides configuration variables; edit, when given,
// changes the App (its Providers) before it serves.
func newGateway(t *testing.T, env map[string]string, edit ...func(*app.App)) *gw {
	t.Helper()
	dynamotest.Require(t, ddb)
	oa := openaitest.NewServer(t)
	br := bedrocktest.NewServer(t)
	vars := map[string]string{
		"MODELS":          catalog,
		"DEFAULT_MODEL":   "echo/echo-1",
		"OPENAI_BASE_URL": oa.URL, // openaitest's URL already ends in /v1
		"OPENAI_API_KEY":  upstreamKey,
	}
	for k, v := range env {
		vars[k] = v
	}
	g := gatewaytest.Start(t, ddb, vars, func(a *app.App) {
		a.Providers["bedrock"] = bedrock.New(br.Client())
		for _, f := range edit {
			f(a)
		}
	})
	return &gw{t: t, URL: g.URL, App: g.App, Logs: g.Logs, OpenAI: oa, Bedrock: br}
}

// tenant creates tenant id with the given models configuration through the admin
// API and returns a new API key for it.
func (g *gw) tenant(id string, models map[string]any) string {
	g.t.Helper()
	body := map[string]any{"name": id}
	if models != nil {
		body["models"] = models
	}
	if r := g.do("PUT", "/admin/tenants/"+id, adminKey, body); r.Status != http.StatusCreated {
		g.t.Fatalf("PUT tenant %s: %d %s", id, r.Status, r.Body)
	}
	r := g.do("POST", "/admin/tenants/"+id+"/keys", adminKey, map[string]string{"name": "test"})
	if r.Status != http.StatusCreated {
		g.t.Fatalf("POST key for %s: %d %s", id, r.Status, r.Body)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(r.Body, &k); err != nil || k.Key == "" {
		g.t.Fatalf("created key: %s (%v)", r.Body, err)
	}
	return k.Key
}

// storeTenant writes cfg straight to the store, bypassing the admin API's
// validation (as a catalog that shrank after the write would), and returns a new
// API key for it.
func (g *gw) storeTenant(cfg tenant.Config) string {
	g.t.Helper()
	ctx := context.Background()
	cfg, _, err := g.App.Store.PutTenant(ctx, cfg, nil, time.Now())
	if err != nil {
		g.t.Fatal(err)
	}
	k, secret := tenant.IssueKey(&cfg, "", time.Now())
	if err := g.App.Store.CreateKey(ctx, k, tenant.HashKey(secret)); err != nil {
		g.t.Fatal(err)
	}
	return secret
}

// response is a whole HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request and reads the whole response. body may be nil, a string,
// []byte or a value to marshal; headers are name, value pairs.
func (g *gw) do(method, path, key string, body any, headers ...string) response {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	res, err := http.DefaultClient.Do(g.request(ctx, method, path, key, body, headers...))
	if err != nil {
		g.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		g.t.Fatalf("%s %s: read body: %v (so far %q)", method, path, err, b)
	}
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

func (g *gw) request(ctx context.Context, method, path, key string, body any, headers ...string) *http.Request {
	g.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.URL+path, rd)
	if err != nil {
		g.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return req
}

// open sends a request and returns the response with its body unread; the body is
// closed when the test ends.
func (g *gw) open(ctx context.Context, method, path, key string, body any) *http.Response {
	g.t.Helper()
	res, err := http.DefaultClient.Do(g.request(ctx, method, path, key, body))
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { res.Body.Close() })
	return res
}

// sdk returns an OpenAI SDK client for the gateway, without retries.
func (g *gw) sdk(key string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(g.URL+"/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	)
}

// userMessage is a one-message conversation.
func userMessage(text string) []map[string]string {
	return []map[string]string{{"role": "user", "content": text}}
}

// wantError checks an OpenAI-shaped error response.
func wantError(t *testing.T, r response, status int, code, param string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if r.Header.Get("x-request-id") == "" {
		t.Error("error response has no x-request-id header")
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
	checkErrorBody(t, r.Body, code, param)
}

// checkErrorBody checks an OpenAI error body {"error":{message,type,param,code}}.
var checkErrorBody = gatewaytest.CheckErrorBody

// event is one Server-Sent Event as a client sees it.
type event struct {
	Name string // "" for OpenAI's unnamed events
	Data string
}

// parseEvents reads every event of a stream.
func parseEvents(t *testing.T, raw []byte) []event {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(raw), 0)
	var out []event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read events: %v\n%s", err, raw)
		}
		out = append(out, event{Name: ev.Name, Data: string(ev.Data)})
	}
}

// liveEvents reads events from a stream as they arrive.
type liveEvents struct {
	t *testing.T
	r *sse.Reader
}

func newLiveEvents(t *testing.T, r io.Reader) *liveEvents {
	return &liveEvents{t: t, r: sse.NewReader(r, 0)}
}

// next returns the next event; it fails the test at the end of the stream.
func (l *liveEvents) next() event {
	l.t.Helper()
	ev, err := l.r.Next()
	if err != nil {
		l.t.Fatalf("next event: %v", err)
	}
	return event{Name: ev.Name, Data: string(ev.Data)}
}

// openAIChunk is the part of a chat.completion.chunk the tests read.
type openAIChunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role    string  `json:"role"`
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int  `json:"prompt_tokens"`
		CompletionTokens int  `json:"completion_tokens"`
		TotalTokens      int  `json:"total_tokens"`
		Estimated        bool `json:"estimated"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func decodeChunk(t *testing.T, data string) openAIChunk {
	t.Helper()
	var c openAIChunk
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		t.Fatalf("chunk %q: %v", data, err)
	}
	return c
}

// chunkText returns a chunk's delta content, or "".
func (c openAIChunk) text() string {
	if len(c.Choices) == 0 || c.Choices[0].Delta.Content == nil {
		return ""
	}
	return *c.Choices[0].Delta.Content
}

// chatLine matches the request log lines of the chat routes.
func chatLine(m map[string]any) bool {
	route, _ := m["route"].(string)
	return m["msg"] == "request" && (route == "POST /v1/chat/completions" || route == "POST /chat")
}

// deadAddr returns a loopback URL where nothing listens: connections are refused.
func deadAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/v1"
}
