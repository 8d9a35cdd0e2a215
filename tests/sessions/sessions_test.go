// Package sessions_test proves server-side sessions against dynalite and a fake
// OpenAI-compatible provider: isolation between tenants, history reaching the
// model, truncation, concurrent appends and failures that store nothing.
package sessions_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

type env struct {
	*gatewaytest.Gateway
	fake *openaitest.Server
	a, b string // keys of tenants a and b
}

func start(t *testing.T, vars map[string]string) *env {
	t.Helper()
	fake := openaitest.NewServer(t)
	cfg := map[string]string{"MODELS": "openai/gpt-test,openai/broken", "OPENAI_BASE_URL": fake.URL, "OPENAI_API_KEY": "sk-test"}
	for k, v := range vars {
		cfg[k] = v
	}
	g := gatewaytest.Start(t, ddb, cfg, nil)
	fake.Set("broken", openaitest.Script{Status: 500, ErrorMessage: "boom"})
	return &env{Gateway: g, fake: fake,
		a: g.NewTenant("tenant-a", map[string]any{}), b: g.NewTenant("tenant-b", map[string]any{})}
}

func (e *env) chat(key, sessionID string, stream bool, msgs ...string) gatewaytest.Response {
	e.Helper()
	var m []map[string]string
	for i := 0; i+1 < len(msgs); i += 2 {
		m = append(m, map[string]string{"role": msgs[i], "content": msgs[i+1]})
	}
	body := map[string]any{"messages": m, "stream": stream}
	if sessionID != "" {
		body["sessionId"] = sessionID
	}
	return e.Do("POST", "/chat", key, body)
}

// sent returns the messages the provider received in its last request, as role:content.
func (e *env) sent() string {
	reqs := e.fake.Requests()
	var out []string
	for _, m := range reqs[len(reqs)-1].Body.Messages {
		out = append(out, m.Role+":"+m.Content)
	}
	return strings.Join(out, "|")
}

func TestHistoryReachesTheModel(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	if r := e.chat(e.a, "s1", false, "system", "be brief", "user", "my name is Ada"); r.Status != 200 {
		t.Fatalf("first turn: %d %s", r.Status, r.Body)
	}
	if r := e.chat(e.a, "s1", true, "user", "what is my name"); r.Status != 200 || !strings.Contains(string(r.Body), "event: done") {
		t.Fatalf("second turn (streamed): %d %s", r.Status, r.Body)
	}
	want := "system:be brief|user:my name is Ada|assistant:my name is Ada|user:what is my name"
	if got := e.sent(); got != want {
		t.Errorf("provider received %s\nwant %s", got, want)
	}
	r := e.Do("GET", "/sessions/s1", e.a, nil)
	if r.Status != 200 {
		t.Fatalf("GET session: %d %s", r.Status, r.Body)
	}
	var roles []string
	for _, m := range r.JSON(t)["messages"].([]any) {
		mm := m.(map[string]any)
		roles = append(roles, mm["role"].(string)+":"+mm["content"].(string))
		if mm["createdAt"] == nil {
			t.Error("message without createdAt")
		}
	}
	if got := strings.Join(roles, "|"); got != "system:be brief|user:my name is Ada|assistant:my name is Ada|user:what is my name|assistant:what is my name" {
		t.Errorf("stored messages %s", got)
	}
	// Paginated, oldest first.
	p := e.Do("GET", "/sessions/s1?limit=2", e.a, nil).JSON(t)
	if len(p["messages"].([]any)) != 2 || p["nextCursor"] != "2" {
		t.Errorf("page 1: %v", p)
	}
	p = e.Do("GET", "/sessions/s1?limit=2&cursor=4", e.a, nil).JSON(t)
	if len(p["messages"].([]any)) != 1 || p["nextCursor"] != nil {
		t.Errorf("last page: %v", p)
	}
	// Without a sessionId nothing is stored.
	e.chat(e.a, "", false, "user", "not stored")
	if r := e.Do("GET", "/sessions", e.a, nil).JSON(t); len(r["data"].([]any)) != 1 {
		t.Errorf("sessions after a sessionless request: %v", r)
	}
}

func TestTenantsAreIsolated(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.chat(e.a, "shared-id", false, "user", "secret of tenant a")
	// Tenant b's same id is another session: it starts empty.
	e.chat(e.b, "shared-id", false, "user", "hello from b")
	if got := e.sent(); got != "user:hello from b" {
		t.Errorf("tenant b's model saw %s", got)
	}
	for _, key := range []string{e.a, e.b} {
		r := e.Do("GET", "/sessions/shared-id", key, nil)
		msgs := r.JSON(t)["messages"].([]any)
		if len(msgs) != 2 {
			t.Errorf("session has %d messages, want its own 2", len(msgs))
		}
		if key == e.b && strings.Contains(string(r.Body), "secret") {
			t.Error("tenant b reads tenant a's message")
		}
	}
	e.Clock.Add(time.Second)
	e.chat(e.a, "only-a", false, "user", "x")
	// b's key gets 404 on a's session, in every route, and changes nothing.
	gatewaytest.WantError(t, e.Do("GET", "/sessions/only-a", e.b, nil), 404, "session_not_found", "")
	gatewaytest.WantError(t, e.Do("DELETE", "/sessions/only-a", e.b, nil), 404, "session_not_found", "")
	if r := e.Do("GET", "/sessions/only-a", e.a, nil); r.Status != 200 {
		t.Errorf("a's session after b's delete: %d", r.Status)
	}
	ids := func(key string) string {
		var out []string
		for _, d := range e.Do("GET", "/sessions", key, nil).JSON(t)["data"].([]any) {
			out = append(out, d.(map[string]any)["sessionId"].(string))
		}
		return strings.Join(out, ",")
	}
	if got := ids(e.a); got != "only-a,shared-id" {
		t.Errorf("a lists %s, want newest first only-a,shared-id", got)
	}
	if got := ids(e.b); got != "shared-id" {
		t.Errorf("b lists %s", got)
	}
	if r := e.Do("DELETE", "/sessions/shared-id", e.a, nil); r.Status != 204 {
		t.Fatalf("delete: %d", r.Status)
	}
	gatewaytest.WantError(t, e.Do("GET", "/sessions/shared-id", e.a, nil), 404, "session_not_found", "")
	if r := e.Do("GET", "/sessions/shared-id", e.b, nil); r.Status != 200 {
		t.Errorf("b's session after a deleted its own: %d", r.Status)
	}
}

func TestTruncationKeepsSystemPromptAndNewestTurns(t *testing.T) {
	t.Parallel()
	e := start(t, map[string]string{"SESSION_HISTORY_TOKENS": "60"})
	e.chat(e.a, "s", false, "system", "you are terse", "user", strings.Repeat("long ", 40))
	e.chat(e.a, "s", false, "user", "second turn")
	e.chat(e.a, "s", false, "user", "third turn")
	got := e.sent()
	if !strings.HasPrefix(got, "system:you are terse|") || strings.Contains(got, "long") ||
		!strings.HasSuffix(got, "user:second turn|assistant:second turn|user:third turn") {
		t.Errorf("provider received %s", got)
	}
}

func TestConcurrentAppendsLoseNothing(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := e.chat(e.a, "busy", i%2 == 0, "user", fmt.Sprintf("message %d", i)); r.Status != 200 {
				t.Errorf("request %d: %d %s", i, r.Status, r.Body)
			}
		}()
	}
	wg.Wait()
	msgs := e.Do("GET", "/sessions/busy?limit=1000", e.a, nil).JSON(t)["messages"].([]any)
	if len(msgs) != 2*n {
		t.Fatalf("stored %d messages, want %d", len(msgs), 2*n)
	}
	seen := map[string]bool{}
	for i := 0; i < len(msgs); i += 2 {
		u, a := msgs[i].(map[string]any), msgs[i+1].(map[string]any)
		if u["role"] != "user" || a["role"] != "assistant" || a["content"] != u["content"] {
			t.Fatalf("turn %d interleaved: %v / %v", i/2, u, a)
		}
		seen[u["content"].(string)] = true
	}
	if len(seen) != n {
		t.Errorf("%d distinct turns, want %d", len(seen), n)
	}
}

func TestFailureStoresNothing(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	e.chat(e.a, "s", false, "user", "kept")
	body := map[string]any{"messages": []map[string]string{{"role": "user", "content": "lost"}}, "sessionId": "s", "modelId": "openai/broken"}
	if r := e.Do("POST", "/chat", e.a, body); r.Status != 502 {
		t.Fatalf("failing provider: %d %s", r.Status, r.Body)
	}
	for _, id := range []string{"bad id!", ""} { // an empty id is no way to say "no session"
		gatewaytest.WantError(t, e.Do("POST", "/chat", e.a, map[string]any{"messages": []map[string]string{{"role": "user", "content": "x"}},
			"sessionId": id}), 400, "invalid_session_id", "sessionId")
	}
	msgs := e.Do("GET", "/sessions/s", e.a, nil).JSON(t)["messages"].([]any)
	if len(msgs) != 2 || strings.Contains(fmt.Sprint(msgs), "lost") {
		t.Errorf("session after a failure: %v", msgs)
	}
	gatewaytest.WantError(t, e.Do("GET", "/sessions/bad%20id", e.a, nil), 400, "invalid_session_id", "sessionId")
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	e := start(t, map[string]string{"SESSION_IDLE_TTL": "1h"})
	e.chat(e.a, "s", false, "user", "remember me")
	e.Clock.Add(59 * time.Minute)
	e.chat(e.a, "s", false, "user", "still here")
	if !strings.Contains(e.sent(), "remember me") {
		t.Errorf("within the idle time the history was lost: %s", e.sent())
	}
	e.Clock.Add(61 * time.Minute)
	gatewaytest.WantError(t, e.Do("GET", "/sessions/s", e.a, nil), 404, "session_not_found", "")
	e.chat(e.a, "s", false, "user", "fresh start")
	if got := e.sent(); got != "user:fresh start" {
		t.Errorf("an expired session's history reached the model: %s", got)
	}
	if msgs := e.Do("GET", "/sessions/s", e.a, nil).JSON(t)["messages"].([]any); len(msgs) != 2 {
		t.Errorf("recreated session has %d messages, want 2", len(msgs))
	}
}
