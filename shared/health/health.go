// Package health serves GET /health: what this deployment is and whether its
// database answers. It never reports secrets.
package health

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/tollgate/tollgate/shared/web"
)

// Pinger checks the database. *dynamo.Store implements it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Status is the /health body.
type Status struct {
	Status       string          `json:"status"` // "ok" or "degraded"
	Version      string          `json:"version"`
	DefaultModel string          `json:"defaultModel"`
	Models       []string        `json:"models"`
	Providers    map[string]bool `json:"providers"` // provider -> configured
	DynamoDB     string          `json:"dynamodb"`  // "ok" or "unavailable"
}

// Handler answers 200 when DynamoDB answers within timeout, else 503. info is the
// static part of the body (everything but Status and DynamoDB).
func Handler(log *slog.Logger, db Pinger, info Status, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		s := info
		s.Status, s.DynamoDB = "ok", "ok"
		code := http.StatusOK
		if err := db.Ping(ctx); err != nil {
			log.WarnContext(ctx, "health: dynamodb unavailable", "err", err)
			s.Status, s.DynamoDB = "degraded", "unavailable"
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Cache-Control", "no-store")
		web.JSON(w, code, s)
	})
}
