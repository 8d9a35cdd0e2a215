package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/tests/bench"
)

// settings are run's flags.
type settings struct {
	out, work    string
	root         string
	duration     time.Duration
	warmup       time.Duration
	rounds       int
	concurrency  []int
	ttftRequests int
	slowChunks   int
	slowDelay    time.Duration
	coldTrials   int
	micro        string
	profile      bool
	profileFor   time.Duration
	pool         int
	stub         bool
	gatewayLogs  bool
	gogc         int
	ddbPool      int
	skip         map[string]bool
}

func parseSettings(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.StringVar(&s.out, "out", "tests/bench/testdata", "directory for results.txt and results.json")
	fs.StringVar(&s.work, "work", ".build/bench", "directory for binaries, logs and profiles")
	fs.StringVar(&s.root, "root", ".", "repository root")
	fs.DurationVar(&s.duration, "duration", 2500*time.Millisecond, "measured window of each load run")
	fs.DurationVar(&s.warmup, "warmup", 500*time.Millisecond, "warm-up before each load run")
	fs.IntVar(&s.rounds, "rounds", 2, "load runs per target and setting, pooled")
	conc := fs.String("concurrency", "1,32", "comma-separated concurrency levels")
	fs.IntVar(&s.ttftRequests, "ttft-requests", 30, "streams per target in the pass-through test")
	fs.IntVar(&s.slowChunks, "slow-chunks", 10, "chunks of the slow provider's answer")
	fs.DurationVar(&s.slowDelay, "slow-delay", 10*time.Millisecond, "the slow provider's wait before each chunk")
	fs.IntVar(&s.coldTrials, "cold-trials", 5, "cold starts per Lambda function")
	fs.StringVar(&s.micro, "micro", "", "go test -bench output to summarise (allocations per streamed chunk)")
	fs.BoolVar(&s.profile, "profile", true, "after the measurements, profile each gateway (CPU, allocations) at the highest concurrency")
	fs.DurationVar(&s.profileFor, "profile-for", 8*time.Second, "length of each CPU profile")
	fs.BoolVar(&s.stub, "stub", true, "also measure a governed gateway whose DynamoDB answers UpdateItem instantly (GetItem goes to dynalite)")
	fs.BoolVar(&s.gatewayLogs, "gateway-logs", false, "keep the gateways' stdout (request log and EMF lines) in -work instead of discarding it")
	fs.IntVar(&s.ddbPool, "ddb-pool", 0, "also measure the stubbed governed gateway with a DynamoDB client keeping this many idle connections (0: don't)")
	fs.IntVar(&s.gogc, "gogc", 0, "also measure gateways run with this GOGC (0: don't)")
	fs.IntVar(&s.pool, "pool", 0, "also measure gateways whose provider client keeps this many idle connections (0: don't)")
	skip := fs.String("skip", "", "comma-separated phases to skip: load, embeddings, ttft, ddb, cold, profile")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return s, fmt.Errorf("-concurrency: bad level %q", f)
		}
		s.concurrency = append(s.concurrency, n)
	}
	s.skip = map[string]bool{}
	for _, f := range strings.Split(*skip, ",") {
		if f = strings.TrimSpace(f); f != "" {
			s.skip[f] = true
		}
	}
	return s, nil
}

// env is the shared state of one run.
type env struct {
	settings
	ddb       *dynamotest.Server
	ddbPID    int
	stubURL   string
	table     string
	key       string // the bench tenant's API key
	instances int    // in-process gateways made so far
	provider  *child
	gateways  []*gatewayProc
	report    *Report
}

type gatewayProc struct {
	*child
	label    string // as reported
	proxy    bool   // the plain httputil reverse proxy, not Tollgate
	governed bool
	pool     int
	pprof    string
	ddbURL   string   // DynamoDB endpoint when not dynalite's
	extraEnv []string // added to the environment
	ddbPool  int      // idle connections of the DynamoDB client; 0: the SDK's default
}

// Tenant limits: large enough never to refuse a benchmark request, real enough
// that every admission checks and moves both budgets and both rate limits.
var benchTenant = tenant.Config{
	ID: "bench", Name: "Benchmark tenant",
	TokenBudget: tenant.Budget{Daily: 1_000_000_000_000, Monthly: 10_000_000_000_000},
	RateLimit:   tenant.RateLimit{RequestsPerMinute: 6_000_000, TokensPerMinute: 6_000_000_000},
}

func run(ctx context.Context, args []string) error {
	s, err := parseSettings(args)
	if err != nil {
		return err
	}
	began := time.Now()
	for _, d := range []string{s.out, s.work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	for _, d := range []*string{&s.root, &s.work, &s.out} {
		if *d, err = filepath.Abs(*d); err != nil {
			return err
		}
	}
	e := &env{settings: s, report: &Report{Machine: bench.ReadMachine(), Started: began.UTC()}}
	e.report.Settings = map[string]string{
		"duration": s.duration.String(), "warmup": s.warmup.String(), "rounds": strconv.Itoa(s.rounds),
		"concurrency": fmt.Sprint(s.concurrency), "ttftRequests": strconv.Itoa(s.ttftRequests),
		"slowProvider": fmt.Sprintf("%d chunks, %s before each", s.slowChunks, s.slowDelay),
		"coldTrials":   strconv.Itoa(s.coldTrials), "pool": strconv.Itoa(s.pool),
		"stub": strconv.FormatBool(s.stub), "gogc": strconv.Itoa(s.gogc), "ddbPool": strconv.Itoa(s.ddbPool),
		"profileFor": s.profileFor.String(),
	}
	logf("machine: %d CPUs, %s, %s, %s", e.report.Machine.CPUs, e.report.Machine.CPUModel, e.report.Machine.MemTotal, e.report.Machine.Go)

	if err := e.setUp(ctx); err != nil {
		e.tearDown()
		return err
	}
	defer e.tearDown()

	phases := []struct {
		name string
		f    func(context.Context) error
	}{
		{"load", e.loadPhase},
		{"embeddings", e.embeddingsPhase},
		{"ttft", e.ttftPhase},
		{"ddb", e.ddbPhase},
		{"cold", e.coldPhase},
		{"profile", e.profilePhase},
	}
	for _, p := range phases {
		if s.skip[p.name] {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t := time.Now()
		if err := p.f(ctx); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		logf("phase %s: %s", p.name, time.Since(t).Round(time.Millisecond))
	}
	if s.micro != "" {
		m, err := summariseMicro(s.micro)
		if err != nil {
			return err
		}
		e.report.Micro = m
	}
	e.report.Elapsed = time.Since(began).Round(time.Second).String()
	e.report.Targets = e.report.targets()

	var txt strings.Builder
	e.report.write(&txt)
	fmt.Print(txt.String())
	if err := os.WriteFile(filepath.Join(s.out, "results.txt"), []byte(txt.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(e.report, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.out, "results.json"), append(js, '\n'), 0o644)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "tollbench: "+format+"\n", args...)
}

// setUp starts dynalite, makes the table, the tenant and its key, and starts the
// provider and the gateways.
func (e *env) setUp(ctx context.Context) error {
	var err error
	logf("starting dynalite")
	if e.ddb, err = dynamotest.Start(ctx); err != nil {
		return err
	}
	e.ddbPID = findPID("dynalite", "--port", strings.TrimPrefix(e.ddb.URL, "http://127.0.0.1:"))
	e.table = "tollgate-bench"
	st := dynamo.New(e.ddb.Client(), e.table)
	if err := st.CreateTable(ctx); err != nil {
		return err
	}
	if e.key, err = e.newTenant(ctx, benchTenant.ID, false); err != nil {
		return err
	}

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	e.provider, err = startChild("provider", addr, filepath.Join(e.work, "provider.log"), filepath.Join(e.work, "provider.log"), minimalEnv(),
		"provider", "-addr", addr, "-slow-chunks", strconv.Itoa(e.slowChunks), "-slow-delay", e.slowDelay.String())
	if err != nil {
		return err
	}
	variants := []gatewayProc{{label: "off", governed: false}, {label: "on", governed: true}}
	if e.stub {
		if e.stubURL, err = startDynamoStub(e.ddb.URL); err != nil {
			return err
		}
		variants = append(variants, gatewayProc{label: "on+stub", governed: true, ddbURL: e.stubURL})
	}
	if e.ddbPool > 0 && e.stub {
		variants = append(variants, gatewayProc{label: "on+stub+ddbpool", governed: true, ddbURL: e.stubURL, ddbPool: e.ddbPool})
	}
	if e.gogc > 0 {
		g := "GOGC=" + strconv.Itoa(e.gogc)
		variants = append(variants, gatewayProc{label: "off+gogc" + strconv.Itoa(e.gogc), extraEnv: []string{g}})
		if e.stub {
			variants = append(variants, gatewayProc{label: "on+stub+gogc" + strconv.Itoa(e.gogc), governed: true, ddbURL: e.stubURL, extraEnv: []string{g}})
		}
	}
	if e.pool > 0 {
		variants = append(variants,
			gatewayProc{label: "off+pool", governed: false, pool: e.pool},
			gatewayProc{label: "on+pool", governed: true, pool: e.pool})
	}
	addr, err = freeAddr()
	if err != nil {
		return err
	}
	px, err := startChild("proxy-httputil", addr, filepath.Join(e.work, "proxy-httputil.log"), filepath.Join(e.work, "proxy-httputil.log"), minimalEnv(),
		"proxy", "-addr", addr, "-upstream", e.provider.url())
	if err != nil {
		return err
	}
	e.gateways = append(e.gateways, &gatewayProc{child: px, label: "httputil", proxy: true})
	for _, v := range variants {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		args := []string{"gateway", "-addr", addr, "-governance", map[bool]string{true: "on", false: "off"}[v.governed]}
		if v.pool > 0 {
			args = append(args, "-pool", strconv.Itoa(v.pool))
		}
		if v.ddbPool > 0 {
			args = append(args, "-ddb-pool", strconv.Itoa(v.ddbPool))
		}
		if e.profile {
			if v.pprof, err = freeAddr(); err != nil {
				return err
			}
			args = append(args, "-pprof", v.pprof)
		}
		name := "gateway-" + strings.ReplaceAll(v.label, "+", "-")
		ddbURL := e.ddb.URL
		if v.ddbURL != "" {
			ddbURL = v.ddbURL
		}
		stdout := os.DevNull
		if e.gatewayLogs {
			stdout = filepath.Join(e.work, name+".out")
		}
		c, err := startChild(name, addr, stdout, filepath.Join(e.work, name+".log"), append(e.gatewayEnv(ddbURL), v.extraEnv...), args...)
		if err != nil {
			return err
		}
		v.child = c
		e.gateways = append(e.gateways, &v)
	}
	// Every target answers before anything is measured.
	for _, t := range e.targets(false) {
		if err := check(ctx, t); err != nil {
			return err
		}
	}
	for _, t := range e.targets(true) {
		if err := check(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// newTenant creates tenant id with benchTenant's limits (without its rate
// limits when noRates) and returns a new key.
func (e *env) newTenant(ctx context.Context, id string, noRates bool) (string, error) {
	st := dynamo.New(e.ddb.Client(), e.table)
	cfg := benchTenant
	cfg.ID = id
	if noRates {
		cfg.RateLimit = tenant.RateLimit{}
	}
	now := time.Now()
	cfg, _, err := st.PutTenant(ctx, cfg, nil, now)
	if err != nil {
		return "", err
	}
	k, secret := tenant.IssueKey(&cfg, "bench", now)
	if err := st.CreateKey(ctx, k, tenant.HashKey(secret)); err != nil {
		return "", err
	}
	return secret, nil
}

func (e *env) tearDown() {
	for _, g := range e.gateways {
		g.stop()
	}
	if e.provider != nil {
		e.provider.stop()
	}
	if e.ddb != nil {
		e.ddb.Close()
	}
}

// minimalEnv is the environment of a child: enough to run, nothing from a
// developer's AWS set-up.
func minimalEnv() []string {
	env := []string{
		"AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"TZ=UTC",
	}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GODEBUG", "GOGC", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// gatewayEnv is the local server's configuration, as `make run` would give it.
func (e *env) gatewayEnv(ddbURL string) []string {
	return append(minimalEnv(),
		"AWS_ENDPOINT_URL_DYNAMODB="+ddbURL,
		"TABLE_NAME="+e.table,
		"MODELS=openai/"+modelFast+",openai/"+modelSlow+",openai/"+modelEmbed,
		"OPENAI_BASE_URL="+e.provider.url()+"/v1",
		"OPENAI_API_KEY=sk-bench",
		"ADMIN_API_KEY=bench-admin",
		"LOG_LEVEL=info",
	)
}

// prompt is what every benchmark request asks; the fast model echoes it, one
// chunk per word.
const prompt = "Benchmark prompt: please echo these fourteen words back, one streamed chunk per word."

func requestBody(model string, stream bool) []byte {
	req := map[string]any{
		"model": model,
		"messages": []map[string]string{
			{"role": "system", "content": "You are a terse assistant."},
			{"role": "user", "content": prompt},
		},
	}
	if stream {
		req["stream"] = true
		req["stream_options"] = map[string]bool{"include_usage": true}
	}
	b, _ := json.Marshal(req)
	return b
}

// targets returns the direct target, then one per gateway.
func (e *env) targets(stream bool) []bench.Target {
	return e.targetsFor(modelFast, stream)
}

func (e *env) targetsFor(model string, stream bool) []bench.Target {
	h := http.Header{"Content-Type": {"application/json"}}
	out := []bench.Target{{Name: "direct", URL: e.provider.url() + "/v1/chat/completions", Header: h, Body: requestBody(model, stream), Stream: stream}}
	gh := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + e.key}}
	for _, g := range e.gateways {
		if g.proxy {
			out = append(out, bench.Target{Name: g.name(), URL: g.url() + "/v1/chat/completions", Header: h, Body: requestBody(model, stream), Stream: stream})
			continue
		}
		out = append(out, bench.Target{Name: g.name(), URL: g.url() + "/v1/chat/completions", Header: gh,
			Body: requestBody("openai/"+model, stream), Stream: stream})
	}
	return out
}

// name is the target name of g's measurements: "gateway <label>", or
// "proxy httputil" for the plain reverse proxy.
func (g *gatewayProc) name() string {
	if g.proxy {
		return "proxy " + g.label
	}
	return "gateway " + g.label
}

func (e *env) gatewayFor(target string) *gatewayProc {
	for _, g := range e.gateways {
		if target == g.name() {
			return g
		}
	}
	return nil
}

// check sends t once and fails unless it is answered in full.
func check(ctx context.Context, t bench.Target) error {
	r := bench.Run(ctx, bench.NewClient(1), t, bench.Options{Concurrency: 1, Requests: 1})
	if r.Requests != 1 {
		return fmt.Errorf("sanity check of %s (stream %v): %s", t.Name, t.Stream, r.FirstError)
	}
	return nil
}

// loadPhase runs every target at every concurrency, non-streaming then
// streaming, in rounds (the order of the targets reversed every other round, so
// that a burst of outside load hits them alike), and pools the rounds.
func (e *env) loadPhase(ctx context.Context) error {
	for _, stream := range []bool{false, true} {
		for _, c := range e.concurrency {
			client := bench.NewClient(c)
			var targets []bench.Target
			for _, t := range e.targets(stream) {
				if strings.Contains(t.Name, "pool") && c < 8 {
					continue // idle connections only matter under concurrency
				}
				targets = append(targets, t)
			}
			acc := e.pooledRounds(ctx, client, targets, c)
			client.CloseIdleConnections()
			for _, t := range targets {
				lr := acc[t.Name].row(t, c)
				e.report.Load = append(e.report.Load, lr)
				logf("%-22s stream=%-5v c=%-3d %8.0f req/s  p50 %7s  p99 %7s  gateway CPU/req %7s  other load %.2f cores  errors %d %s",
					t.Name, stream, c, lr.Throughput, us(lr.Latency.P50), us(lr.Latency.P99), us(lr.CPUPerRequest["gateway"]), lr.OtherCPU, lr.Errors, lr.FirstError)
			}
		}
	}
	// Peak memory of each gateway over everything it served.
	for _, g := range e.gateways {
		if p, err := bench.ReadProc(g.pid()); err == nil {
			e.report.Memory = append(e.report.Memory, MemRow{Gateway: g.name(), PeakRSS: p.HWM, RSS: p.RSS})
		}
	}
	if p, err := bench.ReadProc(e.provider.pid()); err == nil {
		e.report.Memory = append(e.report.Memory, MemRow{Gateway: "provider (fake)", PeakRSS: p.HWM, RSS: p.RSS})
	}
	return nil
}

// embeddingInputs are what every embeddings benchmark request embeds: a batch
// of 8 short texts, as a retrieval application sends its chunks.
var embeddingInputs = []string{
	"Tollgate meters every token exactly.", "Budgets are DynamoDB atomic counters.",
	"Embeddings share the chat meter.", "Titan embeds one text per call.",
	"Cohere embeds up to 96 texts per call.", "The echo model is deterministic.",
	"Vectors come back in input order.", "Base64 is little-endian float32.",
}

// embeddingTargets returns the direct embeddings target, then one per gateway
// (the pool variants left out: the chat load phase measures them).
func (e *env) embeddingTargets() []bench.Target {
	h := http.Header{"Content-Type": {"application/json"}}
	body := func(model string) []byte {
		b, _ := json.Marshal(map[string]any{"model": model, "input": embeddingInputs})
		return b
	}
	out := []bench.Target{{Name: "direct", URL: e.provider.url() + "/v1/embeddings", Header: h, Body: body(modelEmbed)}}
	gh := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + e.key}}
	for _, g := range e.gateways {
		switch {
		case strings.Contains(g.label, "pool"):
			continue
		case g.proxy:
			out = append(out, bench.Target{Name: g.name(), URL: g.url() + "/v1/embeddings", Header: h, Body: body(modelEmbed)})
			continue
		}
		out = append(out, bench.Target{Name: g.name(), URL: g.url() + "/v1/embeddings", Header: gh, Body: body("openai/" + modelEmbed)})
	}
	return out
}

// embeddingsPhase runs POST /v1/embeddings (8 inputs, the fake's vectors)
// directly and through each gateway at every concurrency, in rounds, as the
// load phase does for chat.
func (e *env) embeddingsPhase(ctx context.Context) error {
	targets := e.embeddingTargets()
	for _, t := range targets {
		if err := check(ctx, t); err != nil {
			return err
		}
	}
	for _, c := range e.concurrency {
		client := bench.NewClient(c)
		acc := e.pooledRounds(ctx, client, targets, c)
		client.CloseIdleConnections()
		for _, t := range targets {
			lr := acc[t.Name].row(t, c)
			e.report.Embeddings = append(e.report.Embeddings, lr)
			logf("embeddings %-22s c=%-3d %8.0f req/s  p50 %7s  p99 %7s  gateway CPU/req %7s  errors %d %s",
				t.Name, c, lr.Throughput, us(lr.Latency.P50), us(lr.Latency.P99), us(lr.CPUPerRequest["gateway"]), lr.Errors, lr.FirstError)
		}
	}
	return nil
}

// pooledRounds measures every target e.rounds times at concurrency c (the order of
// the targets reversed every other round, so that a burst of outside load hits
// them alike) and pools each target's runs.
func (e *env) pooledRounds(ctx context.Context, client *http.Client, targets []bench.Target, c int) map[string]*window {
	acc := map[string]*window{}
	for r := range e.rounds {
		order := slices.Clone(targets)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, t := range order {
			w := e.measure(ctx, client, t, c)
			if a := acc[t.Name]; a != nil {
				a.add(w)
			} else {
				acc[t.Name] = &w
			}
		}
	}
	return acc
}

// window is one or more measured load runs of a target.
type window struct {
	res        bench.Result
	cpu        map[string]time.Duration // by process
	busy, ours time.Duration            // all CPUs busy; our processes
	load       []float64                // 1-minute load averages after each run
}

func (w *window) add(o window) {
	w.res = bench.Merge(w.res, o.res)
	for k, v := range o.cpu {
		w.cpu[k] += v
	}
	w.busy += o.busy
	w.ours += o.ours
	w.load = append(w.load, o.load...)
}

func (w *window) row(t bench.Target, c int) LoadRow {
	r := w.res
	row := LoadRow{Target: t.Name, Stream: t.Stream, Concurrency: c, Requests: r.Requests, Errors: r.Errors, FirstError: r.FirstError,
		Throughput: r.Throughput(), Latency: r.Latency, TTFB: r.TTFB, TTFT: r.TTFT, CPUPerRequest: map[string]time.Duration{},
		LoadAverage: slices.Max(w.load)}
	if r.Requests > 0 {
		for k, v := range w.cpu {
			row.CPUPerRequest[k] = v / time.Duration(r.Requests)
		}
	}
	if r.Elapsed > 0 {
		row.OtherCPU = max(w.busy-w.ours, 0).Seconds() / r.Elapsed.Seconds()
	}
	return row
}

// measure runs one load run and reads the CPU time of the processes serving it
// (and of the machine) around its measured window.
func (e *env) measure(ctx context.Context, client *http.Client, t bench.Target, c int) window {
	procs := map[string]int{"provider": e.provider.pid(), "loadgen": os.Getpid()}
	g := e.gatewayFor(t.Name)
	if g != nil {
		procs["gateway"] = g.pid()
	}
	if e.ddbPID != 0 {
		procs["dynalite"] = e.ddbPID
	}
	before := map[string]bench.Proc{}
	var busy0 time.Duration
	res := bench.Run(ctx, client, t, bench.Options{
		Concurrency: c, Warmup: e.warmup, Duration: e.duration,
		OnMeasure: func() {
			for name, pid := range procs {
				p, _ := bench.ReadProc(pid)
				before[name] = p
			}
			busy0, _, _ = bench.SystemCPU()
		},
	})
	busy1, _, _ := bench.SystemCPU()
	w := window{res: res, cpu: map[string]time.Duration{}, busy: busy1 - busy0, load: []float64{bench.LoadAverage()}}
	for name, pid := range procs {
		p, err := bench.ReadProc(pid)
		if err != nil {
			continue
		}
		d := p.CPU - before[name].CPU
		w.cpu[name] = d
		w.ours += d
	}
	return w
}

// ttftPhase streams from the slow provider, directly and through each gateway, at
// concurrency 1, recording when every chunk arrives.
func (e *env) ttftPhase(ctx context.Context) error {
	client := bench.NewClient(1)
	for _, t := range e.targetsFor(modelSlow, true) {
		if strings.Contains(t.Name, "pool") {
			continue // the pool changes nothing at concurrency 1
		}
		res := bench.Run(ctx, client, t, bench.Options{Concurrency: 1, Warmup: 0, Requests: e.ttftRequests, Chunks: true})
		row := TTFTRow{Target: t.Name, Requests: res.Requests, Errors: res.Errors, FirstError: res.FirstError,
			TTFB: res.TTFB, TTFT: res.TTFT, Total: res.Latency}
		// Mean arrival of each chunk, and the gaps between consecutive chunks.
		var gaps []time.Duration
		for i := 0; ; i++ {
			var sum time.Duration
			n := 0
			for _, s := range res.Samples {
				if i < len(s.Chunks) {
					sum += s.Chunks[i]
					n++
					if i > 0 {
						gaps = append(gaps, s.Chunks[i]-s.Chunks[i-1])
					}
				}
			}
			if n == 0 {
				break
			}
			row.ChunkArrival = append(row.ChunkArrival, sum/time.Duration(n))
		}
		row.Gap = bench.Summarise(gaps)
		e.report.TTFT = append(e.report.TTFT, row)
		logf("%-22s slow stream: TTFB p50 %s, TTFT p50 %s, total p50 %s, gap p50 %s", t.Name, us(row.TTFB.P50), us(row.TTFT.P50), us(row.Total.P50), us(row.Gap.P50))
	}
	return nil
}

// us formats d in microseconds.
func us(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Nanoseconds())/1000, 'f', 0, 64) + "µs"
}
