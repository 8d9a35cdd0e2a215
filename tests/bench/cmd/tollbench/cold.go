package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// lambdaFunctions are the functions of template.yaml, each with the sample event
// its first invocation gets.
var lambdaFunctions = []struct{ name, event string }{
	{"chat", "chat-models.json"},
	{"sessions", "sessions-list.json"},
	{"usage", "usage-get.json"},
	{"health", "health-get.json"},
	{"admin", "admin-list-tenants.json"},
	{"budget-reset", "budget-reset-scheduled.json"},
}

// rieModule is the Runtime Interface Emulator, pinned in tests/tools/go.mod.
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// productionFlags are the Makefile's LAMBDA_BUILD flags.
var productionFlags = []string{"-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

var (
	reInit     = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
	reDuration = regexp.MustCompile(`\tDuration: ([0-9.]+) ms`)
)

// coldPhase builds every function with the production flags for linux/amd64 and
// linux/arm64, records the sizes, and cold-starts each amd64 build coldTrials
// times against a minimal Runtime API (timing its init), and as many times under
// the Runtime Interface Emulator (reading its REPORT line).
func (e *env) coldPhase(ctx context.Context) error {
	bins := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		for _, f := range lambdaFunctions {
			out := filepath.Join(e.work, "lambda", arch, f.name, "bootstrap")
			args := append(append([]string{"-o", out}, productionFlags...), "./functions/"+f.name)
			if err := goBuild(ctx, e.root, []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch}, args...); err != nil {
				return err
			}
			size, zipped, err := sizes(out)
			if err != nil {
				return err
			}
			e.report.Sizes = append(e.report.Sizes, SizeRow{Function: f.name, Arch: arch, Bytes: size, Zipped: zipped})
			if arch == "amd64" {
				bins[f.name] = out
			}
		}
	}
	rie := filepath.Join(e.work, "aws-lambda-rie")
	if err := goBuild(ctx, filepath.Join(e.root, "tests", "tools"), []string{"GOWORK=off"}, "-o", rie, rieModule); err != nil {
		return err
	}
	for _, f := range lambdaFunctions {
		row := ColdRow{Function: f.name}
		event, err := os.ReadFile(filepath.Join(e.root, "events", f.event))
		if err != nil {
			return err
		}
		for i := range e.coldTrials {
			initMS, first, err := e.runtimeStart(ctx, bins[f.name], f.name, event)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			row.Init = append(row.Init, initMS)
			row.FirstInvoke = append(row.FirstInvoke, first)
			rieInit, rieDuration, err := e.coldStart(ctx, rie, bins[f.name], f.name, event, i)
			if err != nil {
				return fmt.Errorf("%s: %w", f.name, err)
			}
			row.RIEInit = append(row.RIEInit, rieInit)
			row.RIEDuration = append(row.RIEDuration, rieDuration)
		}
		sorted := slices.Clone(row.Init)
		slices.Sort(sorted)
		row.InitMedian, row.InitMin, row.InitMax = median(sorted), sorted[0], sorted[len(sorted)-1]
		e.report.Cold = append(e.report.Cold, row)
		logf("cold start %-12s init median %.2f ms (min %.2f, max %.2f); emulator: Init Duration %.2f ms, Duration %.2f ms",
			f.name, row.InitMedian, row.InitMin, row.InitMax, median(row.RIEInit), median(row.RIEDuration))
	}
	return nil
}

// lambdaEnv is a function's environment: what Lambda sets, and the deployment's
// configuration pointing at dynalite and the fake provider.
func (e *env) lambdaEnv(name string) []string {
	return append(minimalEnv(),
		"AWS_LAMBDA_FUNCTION_NAME="+name, "AWS_LAMBDA_FUNCTION_VERSION=$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=1024",
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/"+name, "AWS_LAMBDA_LOG_STREAM_NAME=bench",
		"AWS_ENDPOINT_URL_DYNAMODB="+e.ddb.URL, "TABLE_NAME="+e.table,
		"MODELS=openai/"+modelFast, "OPENAI_BASE_URL="+e.provider.url()+"/v1", "ADMIN_AUTH=iam",
	)
}

// runtimeStart starts bootstrap against a minimal Lambda Runtime API served here
// and returns, in ms, its init (from starting the process to its first
// GET /runtime/invocation/next: the Init phase as Lambda defines it for a
// runtime without extensions) and its first invocation (from handing it event
// to the end of its response).
func (e *env) runtimeStart(ctx context.Context, bootstrap, name string, event []byte) (float64, float64, error) {
	type mark struct {
		at  time.Time
		err string
	}
	nextc, donec := make(chan time.Time, 1), make(chan mark, 1)
	stop := make(chan struct{})
	var nexts atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2018-06-01/runtime/invocation/next", func(w http.ResponseWriter, r *http.Request) {
		if nexts.Add(1) > 1 { // the function is warm and waits: keep it waiting
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		nextc <- time.Now()
		h := w.Header()
		h.Set("Lambda-Runtime-Aws-Request-Id", "bench-"+name)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:"+name)
		h.Set("Lambda-Runtime-Trace-Id", "Root=1-6745a1b2-0123456789abcdef01234567;Sampled=0")
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(event)
	})
	done := func(failed bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			m := mark{at: time.Now()}
			if failed {
				m.err = string(b)
			}
			select {
			case donec <- m:
			default:
			}
			w.WriteHeader(http.StatusAccepted)
		}
	}
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/response", done(false))
	mux.HandleFunc("POST /2018-06-01/runtime/invocation/{id}/error", done(true))
	mux.HandleFunc("POST /2018-06-01/runtime/init/error", done(true))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, 0, err
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	defer close(stop)

	cmd := exec.Command(bootstrap)
	cmd.Dir = filepath.Dir(bootstrap) // like /var/task
	cmd.Env = append(e.lambdaEnv(name), "AWS_LAMBDA_RUNTIME_API="+l.Addr().String())
	logf, err := os.Create(filepath.Join(e.work, "runtime-"+name+".log"))
	if err != nil {
		return 0, 0, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	timeout := time.After(30 * time.Second)
	var next time.Time
	select {
	case next = <-nextc:
	case m := <-donec:
		return 0, 0, fmt.Errorf("init failed: %s", m.err)
	case <-timeout:
		return 0, 0, errors.New("no GET /runtime/invocation/next within 30s")
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
	select {
	case m := <-donec:
		if m.err != "" {
			return 0, 0, fmt.Errorf("invocation failed: %s", m.err)
		}
		return msSince(start, next), msSince(next, m.at), nil
	case <-timeout:
		return 0, 0, errors.New("no response within 30s")
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	}
}

func msSince(a, b time.Time) float64 { return float64(b.Sub(a).Microseconds()) / 1000 }

// sizes returns a file's size and the size of a zip archive holding it, as
// Lambda's deployment package would.
func sizes(path string) (int64, int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err == nil {
		_, err = w.Write(b)
	}
	if err == nil {
		err = zw.Close()
	}
	return int64(len(b)), int64(buf.Len()), err
}

// coldStart runs bootstrap under a fresh emulator, invokes it once with event and
// returns the Init Duration and the Duration of its REPORT line, in ms. This
// emulator starts Init asynchronously and times only that call, so its Init
// Duration is not the function's init, and its Duration includes the init.
func (e *env) coldStart(ctx context.Context, rie, bootstrap, name string, event []byte, trial int) (float64, float64, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, 0, err
	}
	apiAddr, err := freeAddr()
	if err != nil {
		return 0, 0, err
	}
	logPath := filepath.Join(e.work, fmt.Sprintf("rie-%s-%d.log", name, trial))
	env := e.lambdaEnv(name)
	c, err := startProcess("rie-"+name, addr, logPath, logPath, env, rie,
		"--runtime-interface-emulator-address", addr, "--runtime-api-address", apiAddr, bootstrap)
	if err != nil {
		return 0, 0, err
	}
	defer c.stop()
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ictx, http.MethodPost, c.url()+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The REPORT line follows the response.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, _ := os.ReadFile(logPath)
		if m := reInit.FindSubmatch(out); m != nil {
			initMS, _ := strconv.ParseFloat(string(m[1]), 64)
			first := 0.0
			if d := reDuration.FindSubmatch(out); d != nil {
				first, _ = strconv.ParseFloat(string(d[1]), 64)
			}
			return initMS, first, nil
		}
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%w (status %s); see %s", errNoInit, resp.Status, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var errNoInit = errors.New("no Init Duration in the emulator's output")
