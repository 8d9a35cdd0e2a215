package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/tests/bench"
)

// instance is a gateway served in this process, so that an SDK middleware can
// count its DynamoDB calls: app.NewWithAWS with an aws.Config whose APIOptions
// hold the counter.
type instance struct {
	url  string
	key  string // of a tenant of its own, so that no other scenario touches its usage item
	rec  *bench.Recorder
	skew atomic.Int64 // added to the App's clock, to step past cache TTLs
	srv  *http.Server
}

func (e *env) newInstance(ctx context.Context, governed, noRates bool) (*instance, error) {
	in := &instance{rec: bench.NewRecorder()}
	e.instances++
	var err error
	if in.key, err = e.newTenant(ctx, fmt.Sprintf("bench-ddb-%d", e.instances), noRates); err != nil {
		return nil, err
	}
	vars := map[string]string{
		"TABLE_NAME":      e.table,
		"MODELS":          "openai/" + modelFast + ",openai/" + modelSlow,
		"OPENAI_BASE_URL": e.provider.url() + "/v1",
		"OPENAI_API_KEY":  "sk-bench",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		return nil, err
	}
	awsCfg := aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(e.ddb.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		APIOptions:   []func(*middleware.Stack) error{in.rec.APIOption},
	}
	a := app.NewWithAWS(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), awsCfg)
	if a.Metrics != nil {
		a.Metrics.Out = io.Discard
	}
	a.Now = func() time.Time { return time.Now().Add(time.Duration(in.skew.Load())) }
	a.Providers[model.OpenAI] = in.rec.WrapProvider(a.Providers[model.OpenAI])
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in.url = "http://" + l.Addr().String()
	in.srv = &http.Server{Handler: in.rec.WrapHandler(bench.Handler(a, governed)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = in.srv.Serve(l) }()
	return in, nil
}

func (in *instance) close() { _ = in.srv.Close() }

func (e *env) instanceTarget(in *instance, stream bool) bench.Target {
	return bench.Target{Name: "in-process gateway", URL: in.url + "/v1/chat/completions",
		Header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + in.key}},
		Body:   requestBody("openai/"+modelFast, stream), Stream: stream}
}

// send sends n requests at concurrency c (for d, when d > 0) and returns the
// traces of the requests the gateway answered.
func (e *env) send(ctx context.Context, in *instance, stream bool, n, c int, d time.Duration) ([]*bench.Trace, error) {
	in.rec.Take()
	o := bench.Options{Concurrency: c, Requests: n, Duration: d}
	if d > 0 {
		o.Requests = 0
	}
	res := bench.Run(ctx, bench.NewClient(c), e.instanceTarget(in, stream), o)
	if res.Errors > 0 {
		return nil, fmt.Errorf("in-process gateway: %d errors: %s", res.Errors, res.FirstError)
	}
	var out []*bench.Trace
	for id, t := range in.rec.Take() {
		if id != "" && t.FirstByte != 0 {
			out = append(out, t)
		}
	}
	if len(out) != res.Requests {
		return nil, fmt.Errorf("in-process gateway: %d traces for %d requests", len(out), res.Requests)
	}
	return out, nil
}

// ddbPhase counts the DynamoDB round trips of chat requests, cold and warm, with
// governance on and off, and under concurrency.
func (e *env) ddbPhase(ctx context.Context) error {
	const warm = 20
	add := func(scenario string, governed, stream bool, traces []*bench.Trace) {
		row := summariseTraces(scenario, governed, stream, traces)
		e.report.DDB = append(e.report.DDB, row)
		logf("ddb %-44s before provider %s, before first byte %s, total %s %v", scenario,
			row.BeforeProvider, row.BeforeFirstByte, row.Total, row.Ops)
	}
	for _, governed := range []bool{true, false} {
		for _, stream := range []bool{true, false} {
			in, err := e.newInstance(ctx, governed, false)
			if err != nil {
				return err
			}
			tr, err := e.send(ctx, in, stream, 1, 1, 0)
			if err != nil {
				in.close()
				return err
			}
			add("cold instance, first request", governed, stream, tr)
			if tr, err = e.send(ctx, in, stream, warm, 1, 0); err != nil {
				in.close()
				return err
			}
			add(fmt.Sprintf("warm instance, %d sequential requests", warm), governed, stream, tr)
			e.report.DDBLatency = append(e.report.DDBLatency, callLatency(governed, stream, tr)...)
			in.skew.Store(int64(31 * time.Second)) // past KEY_CACHE_TTL and TENANT_CACHE_TTL (30s)
			if tr, err = e.send(ctx, in, stream, 1, 1, 0); err != nil {
				in.close()
				return err
			}
			add("warm instance, key and tenant cache expired", governed, stream, tr)
			if governed {
				if tr, err = e.send(ctx, in, stream, 0, 32, 2*time.Second); err != nil {
					in.close()
					return err
				}
				add("warm instance, concurrency 32 for 2s", governed, stream, tr)
			}
			in.close()
		}
	}
	// The same load on a tenant with budgets but no rate limits: which
	// condition of the admission write makes the retries above.
	in, err := e.newInstance(ctx, true, false)
	if err != nil {
		return err
	}
	defer in.close()
	if _, err := e.send(ctx, in, false, 1, 1, 0); err != nil {
		return err
	}
	noRates, err := e.newInstance(ctx, true, true)
	if err != nil {
		return err
	}
	defer noRates.close()
	if _, err := e.send(ctx, noRates, false, 1, 1, 0); err != nil {
		return err
	}
	tr, err := e.send(ctx, noRates, false, 0, 32, 2*time.Second)
	if err != nil {
		return err
	}
	add("warm instance, concurrency 32 for 2s, tenant without rate limits", true, false, tr)
	return nil
}

// Dist is the distribution of a count over requests.
type Dist struct {
	Min, Max int
	Mean     float64
}

func (d Dist) String() string {
	if d.Min == d.Max {
		return fmt.Sprint(d.Min)
	}
	return fmt.Sprintf("%d–%d (mean %.2f)", d.Min, d.Max, d.Mean)
}

func dist(xs []int) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	d := Dist{Min: slices.Min(xs), Max: slices.Max(xs)}
	sum := 0
	for _, x := range xs {
		sum += x
	}
	d.Mean = float64(sum) / float64(len(xs))
	return d
}

func summariseTraces(scenario string, governed, stream bool, traces []*bench.Trace) DDBRow {
	row := DDBRow{Scenario: scenario, Governed: governed, Stream: stream, Requests: len(traces),
		Ops: map[string]float64{}, OpsBeforeFirstByte: map[string]float64{}, BeforeFirstByteHistogram: map[int]int{}}
	var bp, bf, tot []int
	for _, t := range traces {
		p := t.Phases()
		bp, bf, tot = append(bp, p.BeforeProvider), append(bf, p.BeforeFirstByte), append(tot, p.Total)
		row.BeforeFirstByteHistogram[p.BeforeFirstByte]++
		for op, n := range p.Ops {
			row.Ops[op] += float64(n) / float64(len(traces))
		}
		for op, n := range p.OpsBefore {
			row.OpsBeforeFirstByte[op] += float64(n) / float64(len(traces))
		}
	}
	row.BeforeProvider, row.BeforeFirstByte, row.Total = dist(bp), dist(bf), dist(tot)
	return row
}

// callLatency returns the round-trip times of the calls in traces, by operation.
func callLatency(governed, stream bool, traces []*bench.Trace) []DDBLatencyRow {
	by := map[string][]time.Duration{}
	for _, t := range traces {
		for _, c := range t.Calls {
			by[c.Op] = append(by[c.Op], c.Took)
		}
	}
	var out []DDBLatencyRow
	for op, ds := range by {
		out = append(out, DDBLatencyRow{Op: op, Governed: governed, Stream: stream, Latency: bench.Summarise(ds)})
	}
	slices.SortFunc(out, func(a, b DDBLatencyRow) int { return strings.Compare(a.Op, b.Op) })
	return out
}
