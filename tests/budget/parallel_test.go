package budget_test

import (
	"bytes"
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/provider/echo"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

// watched is the echo provider, telling each call (with the output limit it
// was asked for) and whether the call's context was cancelled before the
// stream was read to its end.
type watched struct {
	mu        sync.Mutex
	calls     chan int // the max_tokens of each call
	cancelled int
}

func newWatched() *watched { return &watched{calls: make(chan int, 16)} }

func (p *watched) Stream(ctx context.Context, req *chat.Request) (chat.Stream, error) {
	p.calls <- req.MaxTokens
	s, err := echo.New().Stream(ctx, req)
	if err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		p.mu.Lock()
		p.cancelled++
		p.mu.Unlock()
	}()
	return s, nil
}

// admissionHeld holds the answer of every admission write (it lands, and its
// answer waits for f.Release).
func admissionHeld(op string, body []byte) dynamotest.Action {
	if op == "UpdateItem" && bytes.Contains(body, []byte("#res = :rec")) {
		return dynamotest.HoldAnswer
	}
	return dynamotest.Pass
}

// TestAdmissionBesideTheProvider: the provider is called while the admission
// write's answer has not come back (it is held), and the client gets nothing
// until it has; then the whole answer, admitted and charged once. With
// ADMISSION_ORDER=serial the provider is not called before admission answered.
func TestAdmissionBesideTheProvider(t *testing.T) {
	t.Parallel()
	for _, order := range []string{"parallel", "serial"} {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			f := dynamotest.Require(t, ddb).Faulty(t)
			prov := newWatched()
			g := gatewaytest.Start(t, f.Server, map[string]string{"MODELS": "openai/watched", "ADMISSION_ORDER": order},
				func(a *app.App) { a.Providers["openai"] = prov })
			key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
			f.Set(admissionHeld)
			t.Cleanup(func() { f.Set(nil); f.Release() })
			done := make(chan gatewaytest.Response, 1)
			go func() {
				done <- g.Do("POST", "/v1/chat/completions", key, map[string]any{"stream": true, "max_tokens": 20,
					"messages": []map[string]string{{"role": "user", "content": "beside"}}})
			}()
			<-f.Held // the admission has landed; its answer waits
			if order == "parallel" {
				select {
				case <-prov.calls:
				case <-time.After(30 * time.Second):
					t.Fatal("the provider was not called while the admission's answer was held")
				}
				select {
				case r := <-done:
					t.Fatalf("the client got an answer before admission answered: %d %s", r.Status, r.Body)
				default:
				}
			} else {
				select {
				case <-prov.calls:
					t.Fatal("serial: the provider was called before admission answered")
				default:
				}
			}
			f.Release()
			r := <-done
			if r.Status != 200 || !bytes.Contains(r.Body, []byte("data: [DONE]")) || r.Header.Get("x-budget-remaining-daily") == "" {
				t.Fatalf("answer: %d %v %s", r.Status, r.Header, r.Body)
			}
			if order == "serial" {
				<-prov.calls
			}
			if st := dayStats(t, g, "acme"); st.Requests != 1 || monthUsage(t, g, "acme").Days["25"].Used != st.InputTokens+st.OutputTokens {
				t.Errorf("charged %+v, used %+v; want the request once", st, monthUsage(t, g, "acme").Days["25"])
			}
		})
	}
}

// TestRefusalCancelsTheProvider: a request its budget refuses, admitted beside
// its provider call, gets its 429 with nothing of the provider's, the call is
// cancelled, and nothing is charged; the tenant's next request is admitted
// before any provider call.
func TestRefusalCancelsTheProvider(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{true, false} {
		t.Run("stream="+strconv.FormatBool(stream), func(t *testing.T) {
			t.Parallel()
			f := dynamotest.Require(t, ddb).Faulty(t)
			prov := newWatched()
			g := gatewaytest.Start(t, f.Server, map[string]string{"MODELS": "openai/watched"}, func(a *app.App) { a.Providers["openai"] = prov })
			key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 5}})
			ask := map[string]any{"stream": stream, "max_tokens": 20,
				"messages": []map[string]string{{"role": "user", "content": "a prompt longer than five tokens"}}}
			// A request that cannot fit is refused on a consistent read of the
			// usage item: hold that read's answer.
			f.Set(func(op string, body []byte) dynamotest.Action {
				if op == "GetItem" && bytes.Contains(body, []byte("USAGE#")) {
					return dynamotest.HoldAnswer
				}
				return admissionHeld(op, body)
			})
			t.Cleanup(func() { f.Set(nil); f.Release() })
			done := make(chan gatewaytest.Response, 1)
			go func() { done <- g.Do("POST", "/v1/chat/completions", key, ask) }()
			<-f.Held // admission's read of the usage item has been answered; the answer waits
			select {
			case <-prov.calls:
			case <-time.After(30 * time.Second):
				t.Fatal("the provider was not called beside the admission")
			}
			f.Set(nil)
			f.Release()
			gatewaytest.WantError(t, <-done, 429, "budget_exceeded", "")
			deadline := time.Now().Add(30 * time.Second)
			for {
				prov.mu.Lock()
				c := prov.cancelled
				prov.mu.Unlock()
				if c == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the refused request's provider call was not cancelled")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Refused a moment ago, the tenant is admitted before its provider calls.
			gatewaytest.WantError(t, g.Do("POST", "/v1/chat/completions", key, ask), 429, "budget_exceeded", "")
			if n := len(prov.calls); n != 0 {
				t.Errorf("the provider was called %d times for a tenant refused a moment ago", n)
			}
			if mu := monthUsage(t, g, "acme"); mu.Days["25"].Used != 0 || len(mu.Reservations) != 0 || dayStats(t, g, "acme").Requests != 0 {
				t.Errorf("refusals charged %+v", mu)
			}
		})
	}
}

// TestClampRestartsTheAttempt: an admission that clamps the output limit
// cancels the call made beside it with the requested limit, and the request
// starts over with the clamped one: the provider is never asked for more than
// was reserved.
func TestClampRestartsTheAttempt(t *testing.T) {
	t.Parallel()
	prov := newWatched()
	g := gatewaytest.Start(t, ddb, map[string]string{"MODELS": "openai/watched"}, func(a *app.App) { a.Providers["openai"] = prov })
	// "clamp me" is 8 bytes: 3 + 4 + 8 = 15 tokens of prompt bound, leaving 25 of
	// the 40 for the output instead of the 100 asked for.
	for _, stream := range []bool{true, false} {
		t.Run("stream="+strconv.FormatBool(stream), func(t *testing.T) {
			id := "clamped-" + strconv.FormatBool(stream)
			key := g.NewTenant(id, map[string]any{"tokenBudget": map[string]any{"daily": 40}})
			r := g.Do("POST", "/v1/chat/completions", key, map[string]any{"stream": stream, "max_tokens": 100,
				"messages": []map[string]string{{"role": "user", "content": "clamp me"}}})
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			clamped, _ := strconv.Atoi(r.Header.Get("x-tollgate-max-tokens-clamped"))
			var asked []int
			for len(prov.calls) > 0 {
				asked = append(asked, <-prov.calls)
			}
			if clamped == 0 || clamped >= 100 || len(asked) == 0 || asked[len(asked)-1] != clamped || len(asked) > 2 {
				t.Errorf("clamped to %d; the provider was asked for %v: want at most one speculative 100, then %d", clamped, asked, clamped)
			}
			if mu := monthUsage(t, g, id); mu.Days["25"].Used > 40 || mu.Days["25"].Used == 0 || len(mu.Reservations) != 0 {
				t.Errorf("charged %+v", mu)
			}
		})
	}
}
