package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	_ "net/http/pprof" // served only on the gateway's -pprof address
	"net/url"
	"os"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/shared/telemetry"
	"github.com/tollgate/tollgate/tests/bench"
)

// Models the fake provider serves. The fast one echoes the prompt word by word
// (openaitest's zero Script); the slow one waits before every chunk.
const (
	modelFast  = "bench"
	modelSlow  = "bench-slow"
	modelEmbed = "bench-embed" // its id says embed: an embedding model
)

// serveProvider runs the fake OpenAI-compatible provider until ctx ends.
func serveProvider(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("provider", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	slowChunks := fs.Int("slow-chunks", 10, "chunks of the slow model's answer")
	slowDelay := fs.Duration("slow-delay", 10*time.Millisecond, "wait before each chunk of the slow model")
	if err := fs.Parse(args); err != nil {
		return err
	}
	h := openaitest.NewHandler()
	h.SetRecording(false) // flat memory however long it runs
	chunks := make([]string, *slowChunks)
	for i := range chunks {
		chunks[i] = fmt.Sprintf(" t%d", i)
	}
	h.Set(modelSlow, openaitest.Script{Chunks: chunks, Delay: *slowDelay})
	defer h.Close()
	return serve(ctx, *addr, h)
}

// serveGateway runs the local server, configured from the environment as
// functions/local is, until ctx ends.
func serveGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	governance := fs.String("governance", "on", "on: app.Local() with budgets, rate limits and metering; off: no Ledger")
	pool := fs.Int("pool", 0, "when > 0, the provider client keeps this many idle connections (app.App's keeps 2)")
	pprofAddr := fs.String("pprof", "", "serve net/http/pprof on this address")
	ddbPool := fs.Int("ddb-pool", 0, "when > 0, the DynamoDB client keeps this many idle connections (the SDK's default keeps 10)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *governance != "on" && *governance != "off" {
		return fmt.Errorf("gateway: -governance %q: want on or off", *governance)
	}
	var a *app.App
	var err error
	if *ddbPool > 0 {
		a, err = appWithDynamoPool(ctx, *ddbPool)
	} else {
		a, err = app.FromEnv(ctx, os.Getenv)
	}
	if err != nil {
		return err
	}
	if *pool > 0 {
		bench.PoolTransport(a, *pool)
	}
	if *pprofAddr != "" {
		go func() { _ = http.ListenAndServe(*pprofAddr, nil) }() // http.DefaultServeMux: pprof only
	}
	return serve(ctx, *addr, bench.Handler(a, *governance == "on"))
}

// serveProxy runs the floor a Go proxy pays: net/http/httputil's ReverseProxy
// to -upstream, flushing every write at once so streams pass through as they
// come, until ctx ends. No authentication, no parsing, no governance. Its
// transport is Go's default but keeps 64 idle connections per host (the
// default's 2 makes it dial under concurrency, which is no floor).
func serveProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address (loopback)")
	upstream := fs.String("upstream", "", "base URL of the upstream (the fake provider)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("proxy: -upstream %q: want a base URL", *upstream)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 64, 64
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		FlushInterval: -1,
		Transport:     tr,
	}
	return serve(ctx, *addr, rp)
}

// appWithDynamoPool is app.FromEnv with a DynamoDB HTTP client that keeps up to
// idle connections per host.
func appWithDynamoPool(ctx context.Context, idle int) (*app.App, error) {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return nil, err
	}
	out := telemetry.NewWriter(os.Stdout)
	hc := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns, t.MaxIdleConnsPerHost = idle, idle
	})
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	a := app.NewWithAWS(cfg, app.NewLogger(out, cfg.LogLevel), awsCfg)
	if a.Metrics != nil {
		a.Metrics.Out = out
	}
	return a, nil
}

// serve serves h on addr until ctx ends, then shuts down.
func serve(ctx context.Context, addr string, h http.Handler) error {
	if !strings.HasPrefix(addr, "127.0.0.1:") && !strings.HasPrefix(addr, "localhost:") {
		return fmt.Errorf("listen address %q is not loopback", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
