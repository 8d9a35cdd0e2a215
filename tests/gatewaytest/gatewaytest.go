// Package gatewaytest runs Tollgate's local handler set over real HTTP against a
// fresh dynalite table, for integration tests: one App per test, a settable clock,
// captured logs, and helpers for requests and OpenAI-shaped errors.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
)

// AdminKey is the admin API key of every test gateway.
const AdminKey = "test-admin-key"

// Clock is a settable clock for the App.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Gateway is one local server on a fresh table.
type Gateway struct {
	*testing.T
	URL   string
	App   *app.App
	Clock *Clock
	Logs  *SyncBuffer

	mu      sync.Mutex
	secrets map[string]bool // keys and message contents no log line may contain
}

// SyncBuffer collects log output, safe for concurrent writers, and signals every
// write so tests can wait for a line without polling.
type SyncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
	return s.b.Write(p)
}

// String returns everything written.
func (s *SyncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// Lines returns the log lines, decoded from JSON.
func (s *SyncBuffer) Lines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		out = append(out, m)
	}
	return out
}

// WaitLines waits (at most timeout) until the log holds n lines for which match is
// true, and returns them.
func (s *SyncBuffer) WaitLines(t testing.TB, n int, timeout time.Duration, match func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		changed := s.changed
		s.mu.Unlock()
		var got []map[string]any
		for _, m := range s.Lines(t) {
			if match(m) {
				got = append(got, m)
			}
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("the log has %d matching lines, want %d; log:\n%s", len(got), n, s.String())
		}
	}
}

// Start starts the local handler set against a fresh table on srv (skipping the
// test when srv is nil). env overrides configuration variables. setup, when not
// nil, may change the App (providers, say) before it serves.
func Start(t *testing.T, srv *dynamotest.Server, env map[string]string, setup func(*app.App)) *Gateway {
	t.Helper()
	srv = dynamotest.Require(t, srv)
	vars := map[string]string{
		"TABLE_NAME":     srv.NewTable(t),
		"ADMIN_API_KEY":  AdminKey,
		"LOCAL_DATA_DIR": t.TempDir(), // uploaded files and the embedded vector database
		"MODELS":         "echo/echo-1,echo/echo-2,openai/gpt-4o-mini,bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &SyncBuffer{}
	log := app.NewLogger(logs, slog.LevelDebug)
	awsCfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	a := app.NewWithAWS(cfg, log, awsCfg)
	if a.Metrics != nil {
		a.Metrics.Out = logs // the same output as in production: stdout, line by line
	}
	clk := &Clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	a.Now = clk.Now
	if setup != nil {
		setup(a)
	}
	hs := httptest.NewServer(a.Local())
	g := &Gateway{T: t, URL: hs.URL, App: a, Clock: clk, Logs: logs, secrets: map[string]bool{}}
	for _, s := range []string{AdminKey, vars["OPENAI_API_KEY"]} {
		g.secret(s)
	}
	ingest, stop := context.WithCancel(context.Background())
	if err := a.RunIngestion(ingest, 2); err != nil {
		t.Logf("resume ingestion: %v", err) // a test of a missing table sees this
	}
	t.Cleanup(func() {
		hs.Close()
		stop()
		a.WaitIngestion()
		g.checkLogs()
	})
	return g
}

// secret records s as something no log line may contain.
func (g *Gateway) secret(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(s) >= 6 {
		g.secrets[s] = true
	}
}

// checkLogs fails the test when any log line holds a key or a message content
// the test sent: logs must carry neither secrets nor conversations.
func (g *Gateway) checkLogs() {
	logs := g.Logs.String()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, line := range strings.Split(logs, "\n") {
		for s := range g.secrets {
			if strings.Contains(line, s) {
				g.Errorf("a log line contains a secret or a message content (%q):\n%s", s, line)
			}
		}
	}
}

// Response is a read HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r Response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// Do sends a request. body may be nil, a string, or a value to marshal; headers
// are name, value pairs.
func (g *Gateway) Do(method, path, bearer string, body any, headers ...string) Response {
	g.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		g.noteContents([]byte(b))
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.Fatal(err)
		}
		rd = bytes.NewReader(j)
		g.noteContents(j)
	}
	g.secret(bearer)
	req, err := http.NewRequestWithContext(context.Background(), method, g.URL+path, rd)
	if err != nil {
		g.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		g.Fatal(err)
	}
	return Response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// noteContents records the message contents of a chat body as secrets.
func (g *Gateway) noteContents(body []byte) {
	var req struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &req) != nil {
		return
	}
	for _, m := range req.Messages {
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			g.secret(s)
		}
	}
}

// Admin sends a request with the admin key.
func (g *Gateway) Admin(method, path string, body any, headers ...string) Response {
	g.Helper()
	return g.Do(method, path, AdminKey, body, headers...)
}

// NewTenant creates tenant id with cfg through the admin API and returns a new key.
func (g *Gateway) NewTenant(id string, cfg any) string {
	g.Helper()
	if r := g.Admin("PUT", "/admin/tenants/"+id, cfg); r.Status != 201 && r.Status != 200 {
		g.Fatalf("create tenant %s: %d %s", id, r.Status, r.Body)
	}
	r := g.Admin("POST", "/admin/tenants/"+id+"/keys", nil)
	if r.Status != 201 {
		g.Fatalf("create key for %s: %d %s", id, r.Status, r.Body)
	}
	key := r.JSON(g.T)["key"].(string)
	g.secret(key)
	return key
}

// WantError checks an OpenAI-shaped error response.
func WantError(t *testing.T, r Response, status int, code, param string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
	if r.Header.Get("x-request-id") == "" {
		t.Error("error response has no x-request-id header")
	}
	CheckErrorBody(t, r.Body, code, param)
}

// CheckErrorBody checks an OpenAI error body {"error":{message,type,param,code}}:
// its code and param, and that the message names the param.
func CheckErrorBody(t *testing.T, body []byte, code, param string) {
	t.Helper()
	var p struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Error.Message == "" || p.Error.Type == "" {
		t.Fatalf("body is not an OpenAI error: %s", body)
	}
	if got := deref(p.Error.Code); got != code {
		t.Errorf("error.code = %q, want %q; body %s", got, code, body)
	}
	if got := deref(p.Error.Param); got != param {
		t.Errorf("error.param = %q, want %q; body %s", got, param, body)
	}
	if param != "" && !strings.Contains(p.Error.Message, param) {
		t.Errorf("error.message %q does not name %q", p.Error.Message, param)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
