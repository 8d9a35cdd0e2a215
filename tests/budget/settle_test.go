package budget_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/periodclose"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/tests/gatewaytest"
)

// isSettle tells a settlement's closing write from the other usage writes:
// admission sets the reservation, a checkpoint sets fields in it, settlement
// (and the job's return) removes it.
func isSettle(op string, body []byte) bool {
	s := string(body)
	return op == "UpdateItem" && strings.Contains(s, "REMOVE #res")
}

// TestSettlementRetried: a settlement whose write lands but whose answer is
// lost, then fails five more times (more than the SDK's own three attempts),
// is retried until it goes through, and counted once: the charge is what the
// client was told, the day has one request, no reservation is left, and the log
// says it settled after retries, not that it failed.
func TestSettlementRetried(t *testing.T) {
	t.Parallel()
	f := dynamotest.Require(t, ddb).Faulty(t)
	g := gatewaytest.Start(t, f.Server, nil, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
	var settles atomic.Int32
	f.Set(func(op string, body []byte) dynamotest.Action {
		if !isSettle(op, body) {
			return dynamotest.Pass
		}
		switch n := settles.Add(1); {
		case n == 1:
			return dynamotest.Lose
		case n <= 6:
			return dynamotest.Refuse
		}
		return dynamotest.Pass
	})
	r := g.Do("POST", "/v1/chat/completions", key, ask("count me once", 8))
	if r.Status != 200 {
		t.Fatalf("chat: %d %s", r.Status, r.Body)
	}
	total := int64(r.JSON(t)["usage"].(map[string]any)["total_tokens"].(float64))
	mu := monthUsage(t, g, "acme")
	if d, st := mu.Days["25"], dayStats(t, g, "acme"); d.Used != total || d.Reserved != 0 || len(mu.Reservations) != 0 || st.Requests != 1 {
		t.Errorf("after %d settle calls: day %+v, stats %+v, open %v; want %d tokens charged once", settles.Load(), d, st, mu.Reservations, total)
	}
	if n := settles.Load(); n < 7 {
		t.Errorf("%d settle calls, want the seventh to go through", n)
	}
	g.Logs.WaitLines(t, 1, 10*time.Second, func(m map[string]any) bool { return m["msg"] == "settled after retries" })
	if s := g.Logs.String(); strings.Contains(s, `"msg":"settle failed"`) {
		t.Errorf("a settlement that went through logged as failed:\n%s", s)
	}
}

// TestCrashMidStreamChargesCheckpoint: a gateway process killed mid-stream
// leaves its reservation open; once its lease has passed, the period-close job
// charges what the stream had checkpointed (STREAM_CHECKPOINT_TOKENS) instead of
// returning it all, exactly once.
//
// Not parallel: it runs a process and a long stream against the package's one
// dynalite, which the 200-request bursts of the parallel tests already load to
// its limit on two cores.
func TestCrashMidStreamChargesCheckpoint(t *testing.T) {
	srv := dynamotest.Require(t, ddb)
	// 200 chunks of 400 bytes: about 100 estimated tokens each (the fake reports
	// usage only at the end, so the gateway counts what it streams).
	chunks := make([]string, 200)
	for i := range chunks {
		chunks[i] = fmt.Sprintf("%-399d ", i)
	}
	oa := openaitest.NewServer(t, openaitest.Script{Chunks: chunks, Delay: 50 * time.Millisecond})
	table := srv.NewTable(t)
	p := startLogged(t, 1, table, "info", "MODELS=openai/gpt-4o-mini", "OPENAI_BASE_URL="+oa.URL,
		"OPENAI_API_KEY=upstream-key", "STREAM_CHECKPOINT_TOKENS=1000", "REQUEST_TIMEOUT=60s")[0]
	admin(t, p.URL, "PUT", "/admin/tenants/acme", map[string]any{"tokenBudget": map[string]any{"daily": 1_000_000}})
	key := admin(t, p.URL, "POST", "/admin/tenants/acme/keys", nil)["key"].(string)

	req, _ := http.NewRequest("POST", p.URL+"/v1/chat/completions",
		strings.NewReader(`{"messages":[{"role":"user","content":"a long story"}],"max_tokens":30000,"stream":true}`))
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	rd := bufio.NewReader(res.Body)
	st := dynamo.New(srv.Client(), table)
	ctx := context.Background()
	month := budget.PeriodsAt(time.Now()).Month
	scope := dynamotest.Scope(t, st, "acme")
	var open budget.OpenReservation
	for open.Served.Output < 2000 { // two checkpoints at least
		if _, err := rd.ReadString('\n'); err != nil {
			t.Fatalf("the stream ended before two checkpoints: %v", err)
		}
		mu, err := st.MonthUsage(ctx, scope, month)
		if err != nil {
			t.Fatal(err)
		}
		if len(mu.Reservations) != 1 {
			t.Fatalf("open reservations %v, want the stream's", mu.Reservations)
		}
		open = mu.Reservations[0]
	}
	kill(t, p)
	_, _ = io.Copy(io.Discard, rd) // the connection drops

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	before, err := periodclose.Run(ctx, st, quiet, time.Now())
	if err != nil || before.Returned != 0 {
		t.Fatalf("job before the lease ended: %+v, %v", before, err)
	}
	after := time.Now().Add(2*time.Minute + time.Second) // REQUEST_TIMEOUT + 1 min lease
	run, err := periodclose.Run(ctx, st, quiet, after)
	if err != nil || run.Returned != 1 {
		t.Fatalf("job after the lease: %+v, %v", run, err)
	}
	mu, err := st.MonthUsage(ctx, scope, month)
	if err != nil {
		t.Fatal(err)
	}
	last := mu.Reservations
	day := budget.PeriodsAt(time.Now()).Day
	stats := dynamotest.Stats(t, st, scope, budget.PeriodsAt(time.Now()).Date)
	charged := open.Served.Input + open.Served.Output
	if len(last) != 0 || stats.OutputTokens < open.Served.Output || mu.Days[day].Used != run.ChargedTokens ||
		run.ChargedTokens < charged || stats.Requests != 1 || stats.ByModel["openai/gpt-4o-mini"].Requests != 1 {
		t.Errorf("after the job: used %d, stats %+v, open %v, run %+v; want the last checkpoint (at least %d tokens) charged",
			mu.Days[day].Used, stats, last, run, charged)
	}
	if again, err := periodclose.Run(ctx, st, quiet, after); err != nil || again.Returned != 0 {
		t.Errorf("a second run: %+v, %v", again, err)
	}
}

// kill ends a gateway process at once, as a crash or a Lambda timeout does.
func kill(t *testing.T, p process) {
	t.Helper()
	if err := p.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.Exited
}

// TestProviderOverrun: an upstream that serves more than the output limit it
// was given (1,600 tokens against max_tokens 100) is charged the reservation,
// never more, so the budget is not exceeded; the history counts what was
// served, with the excess as overrunTokens, so that used + overrun equals
// input + output; the log says which model overran.
func TestProviderOverrun(t *testing.T) {
	t.Parallel()
	dynamotest.Require(t, ddb)
	oa := openaitest.NewServer(t, openaitest.Script{Chunks: []string{"a", " long", " answer"},
		Usage: &chat.Usage{InputTokens: 12, OutputTokens: 1600}})
	g := gatewaytest.Start(t, ddb, map[string]string{"MODELS": "openai/gpt-4o-mini", "OPENAI_BASE_URL": oa.URL, "OPENAI_API_KEY": "upstream-key"}, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 1000}})
	r := g.Do("POST", "/v1/chat/completions", key, ask("say little", 100))
	if r.Status != 200 {
		t.Fatalf("chat: %d %s", r.Status, r.Body)
	}
	mu := monthUsage(t, g, "acme")
	d, st := mu.Days["25"], dayStats(t, g, "acme")
	if d.Used > 1000 || d.Used == 0 || st.OutputTokens != 1600 || st.InputTokens != 12 ||
		d.Used+st.OverrunTokens != st.InputTokens+st.OutputTokens {
		t.Fatalf("day %+v, stats %+v: want the reservation charged and the rest counted as overrun", d, st)
	}
	u := g.Do("GET", "/usage?days=1", key, nil).JSON(t)
	row := u["history"].([]any)[0].(map[string]any)
	if int64(row["overrunTokens"].(float64)) != st.OverrunTokens || int64(u["day"].(map[string]any)["used"].(float64)) != d.Used {
		t.Errorf("/usage: %v", u)
	}
	g.Logs.WaitLines(t, 1, 10*time.Second, func(m map[string]any) bool {
		return m["msg"] == "usage beyond the reservation" && m["model"] == "openai/gpt-4o-mini" && m["usedTokens"] == 1612.0
	})
}

// TestCrashBetweenSettlementWrites: a settlement whose first write (the usage
// record) lands and whose second (closing the reservation) never does, as when
// the process dies between them, leaves the reservation open; the period-close
// job closes it with the request's own record: the charge is what the client
// was told, once, with one record, and /usage agrees with it.
func TestCrashBetweenSettlementWrites(t *testing.T) {
	t.Parallel()
	f := dynamotest.Require(t, ddb).Faulty(t)
	g := gatewaytest.Start(t, f.Server, map[string]string{"SETTLE_WINDOW": "300ms"}, nil)
	key := g.NewTenant("acme", map[string]any{"tokenBudget": map[string]any{"daily": 100000}})
	var puts, closes atomic.Int32
	f.Set(func(op string, body []byte) dynamotest.Action {
		switch {
		case op == "PutItem" && strings.Contains(string(body), `"REQ#`):
			puts.Add(1)
		case isSettle(op, body):
			closes.Add(1)
			return dynamotest.Refuse
		}
		return dynamotest.Pass
	})
	r := g.Do("POST", "/v1/chat/completions", key, ask("settle me halfway", 8))
	if r.Status != 200 {
		t.Fatalf("chat: %d %s", r.Status, r.Body)
	}
	total := int64(r.JSON(t)["usage"].(map[string]any)["total_tokens"].(float64))
	f.Set(nil)
	if mu := monthUsage(t, g, "acme"); len(mu.Reservations) != 1 || puts.Load() == 0 || closes.Load() == 0 {
		t.Fatalf("after the cut settlement: %+v (%d record puts, %d closes); want the reservation open", mu, puts.Load(), closes.Load())
	}

	run, err := periodclose.Run(context.Background(), g.App.Store, quiet, g.Clock.Now().Add(20*time.Minute))
	if err != nil || run.Returned != 1 || run.ChargedTokens != total {
		t.Fatalf("job: %+v, %v; want the reservation closed charging the record's %d tokens", run, err, total)
	}
	mu := monthUsage(t, g, "acme")
	recs := g.Do("GET", "/usage/requests", key, nil).JSON(t)["data"].([]any)
	u := g.Do("GET", "/usage?days=1", key, nil).JSON(t)
	day := u["history"].([]any)[0].(map[string]any)
	if len(mu.Reservations) != 0 || mu.Days["25"].Used != total || len(recs) != 1 ||
		recs[0].(map[string]any)["chargedTokens"] != float64(total) || recs[0].(map[string]any)["outcome"] != "ok" ||
		day["requests"] != 1.0 || day["inputTokens"].(float64)+day["outputTokens"].(float64) != float64(total) {
		t.Errorf("after the job: day %+v, records %v, history %v; want %d tokens charged once", mu.Days["25"], recs, day, total)
	}
	if again, err := periodclose.Run(context.Background(), g.App.Store, quiet, g.Clock.Now().Add(40*time.Minute)); err != nil || again.Returned != 0 {
		t.Errorf("a second run: %+v, %v", again, err)
	}
}
