// Package dynamotest runs dynalite, a DynamoDB-compatible server, for tests: one
// server per test binary (started in TestMain), one fresh table per test.
package dynamotest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
)

// ErrNotInstalled is returned by Start when no dynalite executable can be found.
// Run `npm ci --prefix tests/tools` (make test does) to install it.
var ErrNotInstalled = errors.New("dynamotest: dynalite not installed (run: npm ci --prefix tests/tools)")

// Server is a running dynalite process on a loopback port.
type Server struct {
	URL    string
	cmd    *exec.Cmd
	exited chan struct{}
	tables *atomic.Int64 // shared with the fault proxies of the server
}

// Start finds dynalite (on PATH, or in tests/tools/node_modules/.bin above the
// working directory), starts it in memory on a free loopback port and waits until
// it answers.
func Start(ctx context.Context) (*Server, error) {
	bin, err := findDynalite()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin[0], append(bin[1:], "--port", strconv.Itoa(port), "--host", "127.0.0.1")...)
	// Its own pipe, not the test binary's stderr: a child holding the test's
	// output open can cut what go test prints. Only the start of its output is
	// kept, for the errors below.
	out := &headWriter{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("dynamotest: start dynalite: %w", err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: make(chan struct{}), tables: new(atomic.Int64)}
	go func() { _ = cmd.Wait(); close(s.exited) }()

	deadline := time.Now().Add(30 * time.Second)
	c := s.Client()
	for {
		_, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
		if err == nil {
			return s, nil
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("dynamotest: dynalite exited before answering: %w; its output: %s", err, out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("dynamotest: dynalite did not answer within 30s: %w; its output: %s", err, out)
		}
	}
}

// headWriter keeps the first max bytes written to it.
type headWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *headWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := min(len(p), w.max-len(w.buf)); n > 0 {
		w.buf = append(w.buf, p[:n]...)
	}
	return len(p), nil
}

func (w *headWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}

// Close stops the server.
func (s *Server) Close() {
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Client returns a DynamoDB client for the server, with static test credentials.
func (s *Server) Client() *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
}

// NewTable creates a uniquely named Tollgate table, deleted when the test ends.
func (s *Server) NewTable(tb testing.TB) string {
	tb.Helper()
	name := fmt.Sprintf("tollgate-test-%d-%d", os.Getpid(), s.tables.Add(1))
	st := dynamo.New(s.Client(), name)
	if err := st.CreateTable(context.Background()); err != nil {
		tb.Fatalf("create table: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = s.Client().DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// Scope returns the scope of tenant id's data in st (tenant.Config.Scope), for
// tests that read or write the store under a tenant created through it.
func Scope(tb testing.TB, st *dynamo.Store, id string) string {
	tb.Helper()
	cfg, err := st.GetTenant(context.Background(), id)
	if err != nil {
		tb.Fatalf("scope of tenant %s: %v", id, err)
	}
	return cfg.Scope()
}

// Stats sums the usage records of a tenant's scope on date (yyyy-mm-dd).
func Stats(tb testing.TB, st *dynamo.Store, scope, date string) budget.DayStats {
	tb.Helper()
	day, err := time.Parse("2006-01-02", date)
	if err != nil {
		tb.Fatal(err)
	}
	sums, err := st.RecordStats(context.Background(), scope, day, day.AddDate(0, 0, 1))
	if err != nil {
		tb.Fatalf("usage records of %s on %s: %v", scope, date, err)
	}
	if d := sums[date]; d != nil {
		return *d
	}
	return budget.DayStats{Date: date}
}

// NewStore returns a store on a fresh table.
func (s *Server) NewStore(tb testing.TB) *dynamo.Store {
	return dynamo.New(s.Client(), s.NewTable(tb))
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dynamotest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// findDynalite returns the command that starts dynalite: the project's
// wrapper (tests/tools/dynalite.js, which survives clients that hang up
// mid-request) under node when npm installed dynalite, else a dynalite on PATH.
func findDynalite() ([]string, error) {
	dir, err := os.Getwd()
	for err == nil {
		tools := filepath.Join(dir, "tests", "tools")
		if _, err := os.Stat(filepath.Join(tools, "node_modules", "dynalite", "cli.js")); err == nil {
			return []string{"node", filepath.Join(tools, "dynalite.js")}, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if p, err := exec.LookPath("dynalite"); err == nil {
		return []string{p}, nil
	}
	return nil, ErrNotInstalled
}

// Main is a TestMain body: it starts a server, stores it in *srv, runs the tests
// and stops the server. Without dynalite it runs the tests anyway (they skip via
// Require) unless CI is set, where a missing dynalite is an error.
func Main(m *testing.M, srv **Server) int {
	s, err := Start(context.Background())
	if errors.Is(err, ErrNotInstalled) && os.Getenv("CI") == "" {
		fmt.Fprintln(os.Stderr, err, "- DynamoDB tests will skip")
		return m.Run()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	*srv = s
	return m.Run()
}

// Require skips the test when no server runs.
func Require(tb testing.TB, s *Server) *Server {
	tb.Helper()
	if s == nil {
		tb.Skip("dynalite not installed: run `npm ci --prefix tests/tools`")
	}
	return s
}
