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
	l, err := net.Listen("tcp", ":"+strconv.Itoa(a.Config.Port))
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
		fmt.Fprintf(out, "Demo tenant %q, API key (shown once):\n\n  %s\n\nTry:\n\n", demo, key)
		fmt.Fprintf(out, "  curl -s %s/health\n", base)
		fmt.Fprintf(out, "  curl -s %s/v1/models -H 'Authorization: Bearer %s'\n", base, key)
		fmt.Fprintf(out, "  curl -sN %s/v1/chat/completions -H 'Authorization: Bearer %s' \\\n", base, key)
		fmt.Fprintf(out, "    -H 'Content-Type: application/json' -d '{\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}],\"stream\":true}'\n\n")
	}
	srv := &http.Server{Handler: a.Local(), ReadHeaderTimeout: 10 * time.Second}
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

// SeedDemo makes sure tenant id exists (created with generous budgets and the
// deployment's default model when it does not; an existing tenant is left as it
// is) and returns a new API key for it.
func (a *App) SeedDemo(ctx context.Context, id string) (string, error) {
	if !tenant.ValidID(id) {
		return "", fmt.Errorf("app: demo tenant id %q must match [a-z0-9][a-z0-9-]{1,62}", id)
	}
	now := a.Now()
	_, err := a.Store.GetTenant(ctx, id)
	if errors.Is(err, tenant.ErrNotFound) {
		cfg := tenant.Config{ID: id, Name: "Demo tenant",
			TokenBudget: tenant.Budget{Daily: 1_000_000, Monthly: 10_000_000},
			RateLimit:   tenant.RateLimit{RequestsPerMinute: 600, TokensPerMinute: 1_000_000}}
		if _, _, err = a.Store.PutTenant(ctx, cfg, nil, now); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	keyID, secret := tenant.NewKey()
	k := tenant.Key{ID: keyID, TenantID: id, Name: "demo", Hint: secret[len(secret)-4:], CreatedAt: now.UTC()}
	if err := a.Store.CreateKey(ctx, k, tenant.HashKey(secret)); err != nil {
		return "", err
	}
	return secret, nil
}
