// Package api_test drives the local server's handlers over real HTTP against
// dynalite: the admin API, tenant authentication and health.
package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
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

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

const adminKey = "test-admin-key"

// clock is a settable clock for the App.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// gateway is one local server on a fresh table.
type gateway struct {
	*testing.T
	URL   string
	App   *app.App
	Clock *clock
	Logs  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// newGateway starts the local handler set against a fresh dynalite table.
// env overrides configuration variables.
func newGateway(t *testing.T, env map[string]string) *gateway {
	t.Helper()
	srv := dynamotest.Require(t, ddb)
	vars := map[string]string{
		"TABLE_NAME":    srv.NewTable(t),
		"ADMIN_API_KEY": adminKey,
		"MODELS":        "echo/echo-1,echo/echo-2,openai/gpt-4o-mini,bedrock/anthropic.claude-3-5-haiku-20241022-v1:0",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	awsCfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
	a := app.NewWithAWS(cfg, log, awsCfg)
	clk := &clock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)}
	a.Now = clk.Now
	hs := httptest.NewServer(a.Local())
	t.Cleanup(hs.Close)
	return &gateway{T: t, URL: hs.URL, App: a, Clock: clk, Logs: logs}
}

// response is a decoded HTTP response.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r response) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v\n%s", err, r.Body)
	}
	return m
}

// do sends a request. body may be nil, a string, or a value to marshal.
func (g *gateway) do(method, path, bearer string, body any, headers ...string) response {
	g.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			g.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
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
	return response{Status: res.StatusCode, Header: res.Header, Body: b}
}

func (g *gateway) admin(method, path string, body any, headers ...string) response {
	g.Helper()
	return g.do(method, path, adminKey, body, headers...)
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
	var p struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Error.Message == "" || p.Error.Type == "" {
		t.Fatalf("body is not an OpenAI error: %s", r.Body)
	}
	if got := deref(p.Error.Code); got != code {
		t.Errorf("error.code = %q, want %q; body %s", got, code, r.Body)
	}
	if got := deref(p.Error.Param); got != param {
		t.Errorf("error.param = %q, want %q; body %s", got, param, r.Body)
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
