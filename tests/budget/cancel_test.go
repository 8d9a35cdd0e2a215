package budget_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

// TestCancelledAdmission: a client that hangs up while its admission write is
// in flight (the write lands, its answer is late) leaves no reservation behind
// and no store failure in the log, on every metered route: admission runs to
// its answer, and the reservation is released at once.
func TestCancelledAdmission(t *testing.T) {
	t.Parallel()
	f := dynamotest.Require(t, ddb).Faulty(t)
	g := gatewaytest.Start(t, f.Server, map[string]string{"MODELS": "echo/echo-1,echo/echo-embed-1"}, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
	if r := g.Do("POST", "/v1/chat/completions", key, ask("warm up", 4)); r.Status != 200 {
		t.Fatalf("warm-up: %d %s", r.Status, r.Body) // the key and configuration are cached now
	}
	used := monthUsage(t, g, "acme").Days["25"].Used
	for _, tc := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hello"}],"max_tokens":8}`},
		{"/v1/chat/completions", `{"messages":[{"role":"user","content":"hello"}],"max_tokens":8,"stream":true}`},
		{"/v1/responses", `{"input":"hello","max_output_tokens":8}`},
		{"/v1/embeddings", `{"model":"echo/echo-embed-1","input":"hello"}`},
	} {
		var once atomic.Bool
		f.Set(func(op string, _ []byte) dynamotest.Action {
			if op == "UpdateItem" && once.CompareAndSwap(false, true) {
				return dynamotest.HoldAnswer // the admission write
			}
			return dynamotest.Pass
		})
		isRequest := func(m map[string]any) bool { return m["msg"] == "request" }
		before := len(g.Logs.WaitLines(t, 0, time.Second, isRequest))
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", g.URL+tc.path, bytes.NewReader([]byte(tc.body)))
		req.Header.Set("Authorization", "Bearer "+key)
		done := make(chan error, 1)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err == nil {
				res.Body.Close()
			}
			done <- err
		}()
		<-f.Held // the reservation is written; its answer waits
		cancel() // the client hangs up
		if err := <-done; err == nil {
			t.Fatalf("%s: the client got an answer before its admission finished", tc.path)
		}
		// Loopback delivers the hang-up at once; leave the server a moment to
		// notice it (its request context ends) before the answer comes.
		time.Sleep(500 * time.Millisecond)
		f.Release()
		g.Logs.WaitLines(t, before+1, 30*time.Second, isRequest) // the request has ended
		mu := monthUsage(t, g, "acme")
		if len(mu.Reservations) != 0 || mu.Days["25"].Reserved != 0 || mu.Days["25"].Used != used {
			t.Errorf("%s %s: after the client left, reservations %v, day %+v (used before %d)", tc.path, tc.body, mu.Reservations, mu.Days["25"], used)
		}
	}
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if m["level"] == "ERROR" || m["status"] == float64(503) {
			t.Errorf("a client that left is logged as a failure: %s", line)
		}
	}
}

// TestAdmissionPastTheRequestTimeout: when REQUEST_TIMEOUT ends while the
// admission write is in flight, the client (still there) gets a 504 and the
// reservation that landed is released at once.
func TestAdmissionPastTheRequestTimeout(t *testing.T) {
	t.Parallel()
	f := dynamotest.Require(t, ddb).Faulty(t)
	g := gatewaytest.Start(t, f.Server, map[string]string{"MODELS": "echo/echo-1", "REQUEST_TIMEOUT": "1s"}, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
	if r := g.Do("POST", "/v1/chat/completions", key, ask("warm up", 4)); r.Status != 200 {
		t.Fatalf("warm-up: %d %s", r.Status, r.Body)
	}
	used := monthUsage(t, g, "acme").Days["25"].Used
	var once atomic.Bool
	f.Set(func(op string, _ []byte) dynamotest.Action {
		if op == "UpdateItem" && once.CompareAndSwap(false, true) {
			return dynamotest.HoldAnswer
		}
		return dynamotest.Pass
	})
	answer := make(chan gatewaytest.Response, 1)
	go func() { answer <- g.Do("POST", "/v1/chat/completions", key, ask("hello", 8)) }()
	<-f.Held
	time.Sleep(1500 * time.Millisecond) // past REQUEST_TIMEOUT: not an assertion, the condition under test
	f.Release()
	gatewaytest.WantError(t, <-answer, 504, "upstream_timeout", "")
	mu := monthUsage(t, g, "acme")
	if len(mu.Reservations) != 0 || mu.Days["25"].Reserved != 0 || mu.Days["25"].Used != used {
		t.Errorf("after the timeout, reservations %v, day %+v (used before %d)", mu.Reservations, mu.Days["25"], used)
	}
	if strings.Contains(g.Logs.String(), `"level":"ERROR"`) {
		t.Errorf("a timeout during admission is logged as an error:\n%s", g.Logs.String())
	}
}

// TestAdmissionRetriedAfterItLanded: when an admission write lands but its
// answer comes too late (past DYNAMODB_ATTEMPT_TIMEOUT), the SDK's retry meets
// the reservation the first attempt wrote. That reservation is the request's
// own: it is admitted on it (not refused as contended, which would leave it
// open), served, and settled once.
func TestAdmissionRetriedAfterItLanded(t *testing.T) {
	t.Parallel()
	f := dynamotest.Require(t, ddb).Faulty(t)
	g := gatewaytest.Start(t, f.Server, map[string]string{"DYNAMODB_ATTEMPT_TIMEOUT": "1s"}, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
	if r := g.Do("POST", "/v1/chat/completions", key, ask("warm up", 4)); r.Status != 200 {
		t.Fatalf("warm-up: %d %s", r.Status, r.Body)
	}
	before := monthUsage(t, g, "acme").Days["25"].Used
	var held atomic.Bool
	f.Set(func(op string, body []byte) dynamotest.Action {
		if op == "UpdateItem" && bytes.Contains(body, []byte("#res = :rec")) && held.CompareAndSwap(false, true) {
			return dynamotest.HoldAnswer // lands; its answer outlives the attempt
		}
		return dynamotest.Pass
	})
	t.Cleanup(func() { f.Set(nil); f.Release() })
	r := g.Do("POST", "/v1/chat/completions", key, ask("admit me once", 8))
	if r.Status != 200 || !held.Load() {
		t.Fatalf("chat: %d %s (held: %v)", r.Status, r.Body, held.Load())
	}
	total := int64(r.JSON(t)["usage"].(map[string]any)["total_tokens"].(float64))
	mu := monthUsage(t, g, "acme")
	if d, st := mu.Days["25"], dayStats(t, g, "acme"); d.Used-before != total || d.Reserved != 0 || len(mu.Reservations) != 0 || st.Requests != 2 {
		t.Errorf("day %+v, stats %+v, open %v; want %d more tokens, charged once", d, st, mu.Reservations, total)
	}
}
