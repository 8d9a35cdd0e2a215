// Package local_test drives the local server (the real functions/local binary,
// on dynalite) over raw connections: what it does with requests whose bodies
// never finish, idle keep-alive connections and streams longer than its read
// deadline.
package local_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

// guard bounds every wait on the server; a server that never answers fails
// the test after it. It is not an assertion of speed.
const guard = 20 * time.Second

const adminKey = "test-admin-key"

// server is one local server process.
type server struct {
	addr string // host:port
	key  string // a tenant key
}

// start runs functions/local with READ_TIMEOUT and IDLE_TIMEOUT of 1s and a
// slow OpenAI-compatible model, and creates a tenant.
func start(t *testing.T) server {
	t.Helper()
	srv := dynamotest.Require(t, ddb)
	up := openaitest.NewServer(t)
	up.Set("slow", openaitest.Script{Chunks: []string{"one ", "two ", "three"}, Delay: 700 * time.Millisecond})
	table := srv.NewTable(t)
	// A free port may be taken before the server binds it (by any process's
	// outgoing connection): a server that exits at once is started again on
	// another.
	var s server
	for attempt := 1; ; attempt++ {
		port, err := dynamotest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(lambdatest.Build(t, "local"))
		cmd.Env = []string{
			"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
			"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
			"AWS_ENDPOINT_URL_DYNAMODB=" + srv.URL, "TABLE_NAME=" + table,
			"ADMIN_API_KEY=" + adminKey, "MODELS=echo/echo-1,openai/slow", "OPENAI_BASE_URL=" + up.URL,
			"LOG_LEVEL=error", fmt.Sprintf("PORT=%d", port), "READ_TIMEOUT=1s", "IDLE_TIMEOUT=1s",
		}
		out := &gatewaytest.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("server output:\n%s", out.String())
			}
		})
		s = server{addr: fmt.Sprintf("127.0.0.1:%d", port)}
		if healthy(t, "http://"+s.addr, exited) {
			break
		}
		if attempt == 5 {
			t.Fatalf("the server exited %d times before it became healthy:\n%s", attempt, out.String())
		}
	}
	base := "http://" + s.addr
	do := func(method, path string, body any) []byte {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+adminKey)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, out)
		}
		return out
	}
	do("PUT", "/admin/tenants/acme", map[string]any{"name": "Acme"})
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(do("POST", "/admin/tenants/acme/keys", map[string]any{}), &k); err != nil {
		t.Fatal(err)
	}
	s.key = k.Key
	return s
}

// dial opens a raw connection whose every read and write fails after guard.
func (s server) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(guard))
	return c
}

// healthy waits until the server at base answers /health with 200 (true), or
// exits (false); it fails the test after 60 s of neither.
func healthy(t *testing.T, base string, exited <-chan struct{}) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		res, err := http.Get(base + "/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return true
			}
		}
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			t.Fatalf("the server never became healthy: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// partial sends the head of a POST promising a body of 1000 bytes, and 10 of them.
func partial(t *testing.T, c net.Conn, auth string) {
	t.Helper()
	head := "POST /v1/chat/completions HTTP/1.1\r\nHost: local\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
	if auth != "" {
		head += "Authorization: Bearer " + auth + "\r\n"
	}
	if _, err := io.WriteString(c, head+"\r\n"+`{"message`); err != nil {
		t.Fatal(err)
	}
}

func TestServer(t *testing.T) {
	t.Parallel()
	s := start(t)

	// A request without a key is refused at once, however much body it promises.
	t.Run("unfinished body, no key", func(t *testing.T) {
		c := s.dial(t)
		partial(t, c, "")
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to an unauthenticated request with an unfinished body: %v", err)
		}
		if res.StatusCode != 401 {
			t.Errorf("status %d, want 401", res.StatusCode)
		}
	})

	// A tenant's body that never finishes is given up after READ_TIMEOUT.
	t.Run("unfinished body, with a key", func(t *testing.T) {
		c := s.dial(t)
		partial(t, c, s.key)
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer to a body that never finished: %v", err)
		}
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 400 || !strings.Contains(string(b), "body_timeout") {
			t.Errorf("%d %s, want 400 body_timeout", res.StatusCode, b)
		}
	})

	// An idle keep-alive connection is closed after IDLE_TIMEOUT.
	t.Run("idle connection", func(t *testing.T) {
		c := s.dial(t)
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: local\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		rd := bufio.NewReader(c)
		res, err := http.ReadResponse(rd, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		if _, err := rd.ReadByte(); err != io.EOF {
			t.Errorf("the idle connection: %v, want it closed by the server (EOF)", err)
		}
	})

	// A stream longer than READ_TIMEOUT runs to its end.
	t.Run("long stream", func(t *testing.T) {
		body := `{"model":"openai/slow","messages":[{"role":"user","content":"count"}],"stream":true}`
		req, _ := http.NewRequest("POST", "http://"+s.addr+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+s.key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || !strings.Contains(string(b), `"three"`) || !strings.HasSuffix(string(b), "data: [DONE]\n\n") {
			t.Errorf("the stream (%v):\n%s", err, b)
		}
	})
}
