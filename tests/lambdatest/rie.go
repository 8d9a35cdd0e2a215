package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Generous limits: machines under load start processes slowly.
const (
	startTimeout  = 30 * time.Second
	invokeTimeout = 60 * time.Second
	stopTimeout   = 10 * time.Second
)

// RIE is a bootstrap running under the Lambda Runtime Interface Emulator. The
// emulator starts the bootstrap at the first invocation and keeps it for the
// next ones, as Lambda keeps a warm sandbox.
type RIE struct {
	// URL is the emulator's base URL, such as http://127.0.0.1:40123.
	URL string

	out    *output
	exited chan struct{} // closed when the emulator exits
}

// StartRIE starts the emulator on free loopback ports, running bootstrap with
// the package's base environment overridden by env (the emulator hands its own
// environment to the function). It returns once the emulator accepts
// connections, and stops it, and with it the function, when the test ends. If
// the test fails, the emulator's output, which includes the function's, is
// logged.
func StartRIE(tb testing.TB, bootstrap string, env map[string]string) *RIE {
	tb.Helper()
	rie := RIEBinary(tb)
	var lastErr error
	for range 3 { // another process may take a port between probing and use
		r, err := startRIE(tb, rie, bootstrap, env)
		if err == nil {
			return r
		}
		lastErr = err
		if !errors.Is(err, ErrExited) {
			break
		}
	}
	tb.Fatal(lastErr)
	return nil
}

func startRIE(tb testing.TB, rie, bootstrap string, env map[string]string) (*RIE, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The runtime API address must be explicit: with port 0 the emulator listens on
	// a random port but still tells the function port 0.
	apiAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	bootstrap, err = filepath.Abs(bootstrap)
	if err != nil {
		return nil, fmt.Errorf("lambdatest: start RIE: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap) // the function's working directory, like /var/task
	cmd.Env = baseEnv(env)
	out := &output{}
	cmd.Stdout, cmd.Stderr = out, out
	// The emulator stops the function (its own process group) on SIGTERM.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopTimeout // then SIGKILL
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, fmt.Errorf("lambdatest: start RIE: %w", err)
	}
	r := &RIE{URL: "http://" + addr, out: out, exited: make(chan struct{})}
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(r.exited)
	}()
	tb.Cleanup(func() {
		cancel()
		<-r.exited
		if tb.Failed() {
			tb.Logf("RIE output:\n%s", out.String())
		}
	})
	if err := waitListening(addr, r.exited); err != nil {
		cancel()
		<-r.exited
		return nil, fmt.Errorf("lambdatest: start RIE on %s: %w (%v)\n%s", addr, err, waitErr, out.String())
	}
	return r, nil
}

// Output returns what the emulator and the function have written so far:
// the emulator's log, START/END/REPORT lines and the function's logs.
func (r *RIE) Output() string { return r.out.String() }

// WaitOutput waits until the output contains every one of subs and returns it; the
// function's lines reach the emulator's output asynchronously, after the invoke
// has answered. It fails the test after 10 s.
func (r *RIE) WaitOutput(tb testing.TB, subs ...string) string {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := r.Output()
		missing := ""
		for _, s := range subs {
			if !strings.Contains(out, s) {
				missing = s
				break
			}
		}
		if missing == "" {
			return out
		}
		if time.Now().After(deadline) {
			tb.Fatalf("lambdatest: output lacks %q after 10s:\n%s", missing, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Invoke sends event to the function and returns its response payload: the
// handler's JSON result, or {"errorMessage","errorType"} if it returned an error.
// It fails the test if the emulator does not answer 200.
func (r *RIE) Invoke(tb testing.TB, event []byte) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/2015-03-31/functions/function/invocations", bytes.NewReader(event))
	if err != nil {
		tb.Fatalf("lambdatest: invoke: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("lambdatest: invoke: %v", err)
	}
	defer resp.Body.Close()
	payload, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("lambdatest: invoke: read response: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("lambdatest: invoke: RIE answered %s: %q", resp.Status, payload)
	}
	return payload
}

// InvokeFile invokes the function with the event stored in the file at path,
// such as "../../events/health-get.json" (relative to the test's package directory).
func (r *RIE) InvokeFile(tb testing.TB, path string) []byte {
	tb.Helper()
	event, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("lambdatest: %v", err)
	}
	return r.Invoke(tb, event)
}

// InvokeAPI invokes a function serving an API Gateway REST API route (buffered)
// and decodes its response.
func (r *RIE) InvokeAPI(tb testing.TB, event events.APIGatewayProxyRequest) events.APIGatewayProxyResponse {
	tb.Helper()
	b, err := json.Marshal(event)
	if err != nil {
		tb.Fatalf("lambdatest: %v", err)
	}
	return DecodeAPIResponse(tb, r.Invoke(tb, b))
}

// DecodeAPIResponse decodes a payload returned by Invoke or InvokeFile as an API
// Gateway proxy response. It fails the test if the payload is a function error
// or has no status code.
func DecodeAPIResponse(tb testing.TB, payload []byte) events.APIGatewayProxyResponse {
	tb.Helper()
	var fe FunctionError
	if json.Unmarshal(payload, &fe) == nil && fe.Type != "" {
		tb.Fatalf("lambdatest: function failed: %v", &fe)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		tb.Fatalf("lambdatest: decode API Gateway response %q: %v", payload, err)
	}
	if resp.StatusCode == 0 {
		tb.Fatalf("lambdatest: API Gateway response without statusCode: %q", payload)
	}
	return resp
}

// FunctionError is an error reported by a function: the payload of
// POST /runtime/invocation/{id}/error or /runtime/init/error, or the
// Lambda-Runtime-Function-Error-* trailers of a streamed response.
type FunctionError struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("lambdatest: find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until addr accepts connections or exited is closed.
func waitListening(addr string, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lambdatest: %s not listening after %v: %w", addr, startTimeout, err)
		}
		select {
		case <-exited:
			return ErrExited
		case <-time.After(20 * time.Millisecond):
		}
	}
}
