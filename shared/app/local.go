package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/tenant"
)

// ServeLocal creates the table when needed, seeds the demo tenant when demo is not
// empty (printing its new key and a first request to out), and serves Local() on
// the configured port until ctx ends, then shuts down gracefully.
func (a *App) ServeLocal(ctx context.Context, demo string, out io.Writer) error {
	if err := a.Store.CreateTable(ctx); err != nil {
		return err
	}
	l, err := net.Listen("tcp", net.JoinHostPort(a.Config.Host, strconv.Itoa(a.Config.Port)))
	if err != nil {
		return fmt.Errorf("app: listen: %w", err)
	}
	if demo != "" {
		key, err := a.SeedDemo(ctx, demo)
		if err != nil {
			l.Close()
			return err
		}
		base := "http://localhost:" + strconv.Itoa(a.Config.Port)
		fmt.Fprintf(out, "\nTollgate is listening on %s (table %s)\n", base, a.Config.TableName)
		fmt.Fprintf(out, "Demo tenant %q on %s, API key (shown once):\n\n  %s\n\nTry:\n\n", demo, a.Config.DefaultModel, key)
		fmt.Fprintf(out, "  curl -s %s/health\n", base)
		fmt.Fprintf(out, "  curl -s %s/v1/models -H 'Authorization: Bearer %s'\n", base, key)
		fmt.Fprintf(out, "  curl -sN %s/v1/chat/completions -H 'Authorization: Bearer %s' \\\n", base, key)
		fmt.Fprintf(out, "    -H 'Content-Type: application/json' -d '{\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],\"stream\":true}'\n\n")
	}
	if err := a.RunIngestion(ctx, 2); err != nil {
		a.Log.Error("ingestion", "err", err) // the rest of the gateway serves; the knowledge routes answer 503
	}
	srv := a.LocalServer()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	a.Log.Info("listening", "addr", l.Addr().String())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("app: shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// LocalServer returns the local server of every route, with deadlines fit for
// streaming: a request must arrive within READ_TIMEOUT (headers and body; the
// deadline ends with the body, so a long stream is not cut), each write of the
// response must go out within WRITE_TIMEOUT, and a keep-alive connection idle
// for IDLE_TIMEOUT is closed.
func (a *App) LocalServer() *http.Server {
	c := a.Config
	return &http.Server{Handler: deadlines(a.Local(), c.ReadTimeout, c.WriteTimeout),
		ReadHeaderTimeout: c.ReadTimeout, IdleTimeout: c.IdleTimeout}
}

// deadlines bounds reading each request's body by read, and each write of its
// response by write. A response written before the body was read in full (a
// refusal before reading: 401, 413) closes the connection, instead of waiting
// for a body that may never come.
func deadlines(h http.Handler, read, write time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		b := &watchedBody{ReadCloser: r.Body, rc: rc, done: r.ContentLength == 0}
		if !b.done {
			_ = rc.SetReadDeadline(time.Now().Add(read))
			r.Body = b
		}
		h.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, write: write, body: b}, r)
	})
}

// watchedBody lifts the read deadline once the body has arrived whole: from
// then on the server reads only to notice a client that leaves.
type watchedBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// deadlineWriter gives each write its own deadline.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	write   time.Duration
	body    *watchedBody
	started bool
}

func (d *deadlineWriter) prepare() {
	_ = d.rc.SetWriteDeadline(time.Now().Add(d.write))
	if !d.started {
		d.started = true
		if !d.body.done {
			d.Header().Set("Connection", "close")
		}
	}
}

func (d *deadlineWriter) WriteHeader(code int) { d.prepare(); d.ResponseWriter.WriteHeader(code) }

func (d *deadlineWriter) Write(p []byte) (int, error) { d.prepare(); return d.ResponseWriter.Write(p) }

func (d *deadlineWriter) FlushError() error { d.prepare(); return d.rc.Flush() }

// Unwrap lets http.ResponseController reach the connection's writer.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// SeedDemo makes sure tenant id exists (created with generous budgets and the
// deployment's default model when it does not; an existing tenant is left as it
// is) and returns a new API key for it.
func (a *App) SeedDemo(ctx context.Context, id string) (string, error) {
	if !tenant.ValidID(id) {
		return "", fmt.Errorf("app: demo tenant id %q must match [a-z0-9][a-z0-9-]{1,62}", id)
	}
	now := a.Now()
	cfg, err := a.Store.GetTenant(ctx, id)
	if errors.Is(err, tenant.ErrNotFound) {
		cfg = tenant.Config{ID: id, Name: "Demo tenant",
			TokenBudget: tenant.Budget{Daily: 1_000_000, Monthly: 10_000_000},
			RateLimit:   tenant.RateLimit{RequestsPerMinute: 600, TokensPerMinute: 1_000_000}}
		if cfg, _, err = a.Store.PutTenant(ctx, cfg, nil, now); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	k, secret := tenant.IssueKey(&cfg, "demo", now)
	if err := a.Store.CreateKey(ctx, k, tenant.HashKey(secret)); err != nil {
		return "", err
	}
	return secret, nil
}
