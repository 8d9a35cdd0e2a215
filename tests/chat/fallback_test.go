package chat_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// chain is one fallback scenario: a tenant named name whose models are
// openai/<name>-a, then openai/<name>-b, then bedrock/<name>-br, each model of its
// own so that the fakes count its calls alone.
type chain struct{ name string }

func (c chain) a() string  { return c.name + "-a" }
func (c chain) b() string  { return c.name + "-b" }
func (c chain) br() string { return c.name + "-br:0" }

func (c chain) models() []string {
	return []string{"openai/" + c.a(), "openai/" + c.b(), "bedrock/" + c.br()}
}

// chainGateway starts a gateway whose catalog has the models of chains, and
// creates a tenant per chain; it returns the tenants' keys by chain name.
func chainGateway(t *testing.T, env map[string]string, chains ...chain) (*gw, map[string]string) {
	t.Helper()
	models := []string{"echo/echo-1"}
	for _, c := range chains {
		models = append(models, c.models()...)
	}
	vars := map[string]string{"MODELS": strings.Join(models, ",")}
	for k, v := range env {
		vars[k] = v
	}
	g := newGateway(t, vars)
	keys := map[string]string{}
	for _, c := range chains {
		m := c.models()
		keys[c.name] = g.tenant(c.name, map[string]any{"default": m[0], "fallbacks": m[1:]})
	}
	return g, keys
}

// calls returns how often each model of c was called.
func (g *gw) calls(c chain) [3]int {
	return [3]int{g.OpenAI.Calls(c.a()), g.OpenAI.Calls(c.b()), g.Bedrock.Calls(c.br())}
}

// ask sends "Hello big world" through the OpenAI API, streamed or not.
func (g *gw) ask(key string, stream bool) response {
	g.t.Helper()
	body := map[string]any{"messages": userMessage("Hello big world"), "stream": stream}
	if stream {
		body["stream_options"] = map[string]any{"include_usage": true}
	}
	return g.do("POST", "/v1/chat/completions", key, body)
}

// wantAnswer checks a successful answer of "Hello big world" by model after
// attempts attempts.
func wantAnswer(t *testing.T, r response, stream bool, model string, attempts int) {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d, want 200: %s", r.Status, r.Body)
	}
	wantHeaders(t, r.Header, model, "tenant", strconv.Itoa(attempts))
	var text string
	if stream {
		evs := parseEvents(t, r.Body)
		if len(evs) == 0 || evs[len(evs)-1].Data != "[DONE]" {
			t.Fatalf("stream does not end with [DONE]: %s", r.Body)
		}
		for _, ev := range evs[:len(evs)-1] {
			c := decodeChunk(t, ev.Data)
			if c.Error != nil {
				t.Errorf("error event in a successful stream: %s", ev.Data)
			}
			if c.Model != model {
				t.Errorf("chunk model %q, want %q", c.Model, model)
			}
			text += c.text()
		}
	} else {
		var comp struct {
			Model   string `json:"model"`
			Choices []struct {
				Message struct {
					Content string `json:"content"`
				} `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal(r.Body, &comp); err != nil || len(comp.Choices) != 1 || comp.Model != model {
			t.Fatalf("completion %s (%v)", r.Body, err)
		}
		text = comp.Choices[0].Message.Content
	}
	if strings.TrimSpace(text) != "Hello big world" {
		t.Errorf("text = %q, want the echo of Hello big world", text)
	}
}

// check runs one request and compares the fakes' call counts before and after.
func (g *gw) check(t *testing.T, c chain, stream bool, wantCalls [3]int, verify func(response)) {
	t.Helper()
	before := g.calls(c)
	r := g.ask(g.keyOf(c), stream)
	verify(r)
	after := g.calls(c)
	got := [3]int{after[0] - before[0], after[1] - before[1], after[2] - before[2]}
	if got != wantCalls {
		t.Errorf("stream=%v: calls (a, b, bedrock) = %v, want %v", stream, got, wantCalls)
	}
}

func (g *gw) keyOf(c chain) string { return g.keys[c.name] }

func TestFallback(t *testing.T) {
	t.Parallel()
	var (
		rate429   = chain{"rate429"}
		err500    = chain{"err500"}
		twoDown   = chain{"twodown"}
		throttled = chain{"throttled"}
		rejected  = chain{"rejected"}
		inBand    = chain{"inband"}
		cut       = chain{"cut"}
	)
	g, keys := chainGateway(t, nil, rate429, err500, twoDown, throttled, rejected, inBand, cut)
	g.keys = keys
	g.OpenAI.Set(rate429.a(), openaitest.Script{Status: 429, ErrorCode: "rate_limit_exceeded", RetryAfter: time.Second})
	g.OpenAI.Set(err500.a(), openaitest.Script{Status: 500})
	g.OpenAI.Set(twoDown.a(), openaitest.Script{Status: 429})
	g.OpenAI.Set(twoDown.b(), openaitest.Script{Status: 503})
	// An error in a 200 answer, before any text: an event to a streamed request,
	// a body that is no completion to a non-streamed one.
	g.OpenAI.Set(inBand.a(), openaitest.Script{Body: `data: {"error":{"message":"overloaded","type":"server_error"}}` + "\n\n"})
	g.OpenAI.Set(cut.a(), openaitest.Script{DropAfter: 1})
	g.OpenAI.Set(rejected.a(), openaitest.Script{Status: 400, ErrorMessage: "Invalid value for 'temperature'"})

	tests := []struct {
		c        chain
		calls    [3]int
		model    string
		attempts int
	}{
		{rate429, [3]int{1, 1, 0}, "openai/" + rate429.b(), 2},
		{err500, [3]int{1, 1, 0}, "openai/" + err500.b(), 2},
		{twoDown, [3]int{1, 1, 1}, "bedrock/" + twoDown.br(), 3},
		{inBand, [3]int{1, 1, 0}, "openai/" + inBand.b(), 2},
	}
	for _, tt := range tests {
		t.Run(tt.c.name, func(t *testing.T) {
			t.Parallel()
			for _, stream := range []bool{false, true} {
				g.check(t, tt.c, stream, tt.calls, func(r response) { wantAnswer(t, r, stream, tt.model, tt.attempts) })
			}
		})
	}

	// A Bedrock primary that throttles falls back too. The chain starts on
	// openai, so point the tenant at bedrock first.
	t.Run("bedrock throttled", func(t *testing.T) {
		t.Parallel()
		g.Bedrock.Set(throttled.br(), bedrocktest.Script{ErrorType: "ThrottlingException"})
		key := g.tenant("throttled-br", map[string]any{
			"default": "bedrock/" + throttled.br(), "fallbacks": []string{"openai/" + throttled.b()},
		})
		for _, stream := range []bool{false, true} {
			r := g.ask(key, stream)
			wantAnswer(t, r, stream, "openai/"+throttled.b(), 2)
		}
		if got := [2]int{g.Bedrock.Calls(throttled.br()), g.OpenAI.Calls(throttled.b())}; got != [2]int{2, 2} {
			t.Errorf("calls (bedrock, openai) = %v, want [2 2]", got)
		}
	})

	// A cut connection: a non-streamed request has sent nothing yet and falls
	// back; a streamed one has sent the first chunk and must not switch.
	t.Run("cut", func(t *testing.T) {
		t.Parallel()
		g.check(t, cut, false, [3]int{1, 1, 0}, func(r response) { wantAnswer(t, r, false, "openai/"+cut.b(), 2) })
		g.check(t, cut, true, [3]int{1, 0, 0}, func(r response) {
			if r.Status != 200 {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			evs := parseEvents(t, r.Body)
			checkErrorBody(t, []byte(evs[len(evs)-1].Data), "upstream_error", "")
		})
	})

	// A request the provider rejects is not tried elsewhere: another model
	// would reject it too.
	t.Run("400 does not fall back", func(t *testing.T) {
		t.Parallel()
		for _, stream := range []bool{false, true} {
			g.check(t, rejected, stream, [3]int{1, 0, 0}, func(r response) {
				wantError(t, r, 400, "provider_rejected_request", "")
				if !strings.Contains(string(r.Body), "temperature") {
					t.Errorf("the provider's message is lost: %s", r.Body)
				}
			})
		}
	})
}

func TestFallbackExhausted(t *testing.T) {
	t.Parallel()
	var (
		rate    = chain{"allrate"}
		noRA    = chain{"allrate-noretry"}
		auth    = chain{"allauth"}
		missing = chain{"allmissing"}
		broken  = chain{"allbroken"}
		ra      = chain{"retryafter"}
	)
	g, keys := chainGateway(t, nil, rate, noRA, auth, missing, broken, ra)
	g.keys = keys
	g.OpenAI.Set(rate.a(), openaitest.Script{Status: 429, RetryAfter: time.Second})
	g.OpenAI.Set(rate.b(), openaitest.Script{Status: 429, RetryAfter: 3 * time.Second})
	g.Bedrock.Set(rate.br(), bedrocktest.Script{ErrorType: "ThrottlingException"})
	g.OpenAI.Set(ra.a(), openaitest.Script{Status: 429, RetryAfter: time.Second})
	g.OpenAI.Set(ra.b(), openaitest.Script{Status: 429, RetryAfter: 3 * time.Second})
	g.OpenAI.Set(noRA.a(), openaitest.Script{Status: 429})
	g.OpenAI.Set(noRA.b(), openaitest.Script{Status: 429})
	g.Bedrock.Set(noRA.br(), bedrocktest.Script{ErrorType: "ThrottlingException"})
	g.OpenAI.Set(auth.a(), openaitest.Script{Status: 401, ErrorMessage: "Incorrect API key provided: sk-abc***xyz"})
	g.OpenAI.Set(auth.b(), openaitest.Script{Status: 401})
	g.Bedrock.Set(auth.br(), bedrocktest.Script{ErrorType: "AccessDeniedException"})
	g.OpenAI.Set(missing.a(), openaitest.Script{Status: 404, ErrorCode: "model_not_found"})
	g.OpenAI.Set(missing.b(), openaitest.Script{Status: 404})
	g.Bedrock.Set(missing.br(), bedrocktest.Script{ErrorType: "ResourceNotFoundException"})
	g.OpenAI.Set(broken.a(), openaitest.Script{Status: 500})
	g.OpenAI.Set(broken.b(), openaitest.Script{Status: 502})
	g.Bedrock.Set(broken.br(), bedrocktest.Script{ErrorType: "InternalServerException"})

	tests := []struct {
		c          chain
		status     int
		code       string
		retryAfter string // "": none
		wholeChain bool   // a retryable failure: every model is tried
	}{
		// The last attempt, on bedrock, gave no Retry-After: 1 s.
		{rate, 503, "upstream_rate_limited", "1", true},
		{noRA, 503, "upstream_rate_limited", "1", true},
		{auth, 502, "upstream_auth_failed", "", false},
		{missing, 404, "model_not_found", "", false},
		{broken, 502, "upstream_error", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.c.name, func(t *testing.T) {
			t.Parallel()
			for _, stream := range []bool{false, true} {
				r := g.ask(keys[tt.c.name], stream)
				wantError(t, r, tt.status, tt.code, "")
				if ra := r.Header.Get("Retry-After"); ra != tt.retryAfter {
					t.Errorf("stream=%v: Retry-After = %q, want %q", stream, ra, tt.retryAfter)
				}
				if strings.Contains(string(r.Body), "sk-abc") {
					t.Errorf("a key the provider echoed reached the client: %s", r.Body)
				}
			}
			got := g.calls(tt.c)
			if tt.wholeChain && got != [3]int{2, 2, 2} {
				t.Errorf("calls (a, b, bedrock) = %v, want every model once per request", got)
			} else if got[0] != 2 {
				t.Errorf("primary called %d times, want 2 (once per request)", got[0])
			}
		})
	}

	// The last attempt's Retry-After reaches the client.
	t.Run("provider Retry-After", func(t *testing.T) {
		t.Parallel()
		key := g.tenant("retryafter-openai", map[string]any{"default": "openai/" + ra.a(), "fallbacks": []string{"openai/" + ra.b()}})
		for _, stream := range []bool{false, true} {
			r := g.ask(key, stream)
			wantError(t, r, 503, "upstream_rate_limited", "")
			if ra := r.Header.Get("Retry-After"); ra != "3" {
				t.Errorf("stream=%v: Retry-After = %q, want the last provider's 3", stream, ra)
			}
		}
	})
}

// TestFallbackTimeout checks a primary that never answers counts as timed out
// after FIRST_TOKEN_TIMEOUT, and that a chain of them ends in a 504.
func TestFallbackTimeout(t *testing.T) {
	t.Parallel()
	hang, allHang := chain{"hang"}, chain{"allhang"}
	g, keys := chainGateway(t, map[string]string{"FIRST_TOKEN_TIMEOUT": "600ms", "ATTEMPT_TIMEOUT": "1s"}, hang, allHang)
	g.keys = keys
	g.OpenAI.Set(hang.a(), openaitest.Script{Hang: true})
	g.OpenAI.Set(allHang.a(), openaitest.Script{Hang: true})
	g.OpenAI.Set(allHang.b(), openaitest.Script{FirstDelay: time.Hour})
	g.Bedrock.Set(allHang.br(), bedrocktest.Script{Hang: true})

	for _, stream := range []bool{false, true} {
		t.Run("fallback/stream="+strconv.FormatBool(stream), func(t *testing.T) {
			t.Parallel()
			r := g.ask(keys[hang.name], stream)
			wantAnswer(t, r, stream, "openai/"+hang.b(), 2)
		})
		t.Run("exhausted/stream="+strconv.FormatBool(stream), func(t *testing.T) {
			t.Parallel()
			wantError(t, g.ask(keys[allHang.name], stream), http.StatusGatewayTimeout, "upstream_timeout", "")
		})
	}
	t.Cleanup(func() {
		if got := g.calls(hang); got != [3]int{2, 2, 0} {
			t.Errorf("hang: calls (a, b, bedrock) = %v, want [2 2 0]", got)
		}
		if got := g.calls(allHang); got != [3]int{2, 2, 2} {
			t.Errorf("allhang: calls (a, b, bedrock) = %v, want [2 2 2]", got)
		}
		// Every hung upstream request was abandoned, not left running.
		for _, r := range g.OpenAI.Requests() {
			select {
			case <-r.Done:
			case <-time.After(waitTimeout):
				t.Errorf("upstream request for %s still running", r.Body.Model)
			}
		}
	})
}

// TestFallbackConnectionRefused points the openai provider at a closed port: both
// openai models fail to connect, and bedrock answers.
func TestFallbackConnectionRefused(t *testing.T) {
	t.Parallel()
	c := chain{"refused"}
	g, keys := chainGateway(t, map[string]string{"OPENAI_BASE_URL": deadAddr(t)}, c)
	for _, stream := range []bool{false, true} {
		r := g.ask(keys[c.name], stream)
		wantAnswer(t, r, stream, "bedrock/"+c.br(), 3)
	}
	if got := g.Bedrock.Calls(c.br()); got != 2 {
		t.Errorf("bedrock calls = %d, want 2", got)
	}
	if n := len(g.OpenAI.Requests()); n != 0 {
		t.Errorf("the live openai fake got %d requests", n)
	}
	lines := g.Logs.WaitLines(t, 4, waitTimeout, func(m map[string]any) bool { return m["msg"] == "attempt failed" })
	for _, l := range lines {
		if l["reason"] != "unavailable" {
			t.Errorf("attempt failed line %v, want reason unavailable", l)
		}
	}
}
