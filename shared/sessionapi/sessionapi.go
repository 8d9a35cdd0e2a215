// Package sessionapi serves a tenant's server-side conversations: GET /sessions,
// GET /sessions/{id} and DELETE /sessions/{id}. A session belongs to exactly one
// tenant; another tenant's key gets 404 for it, revealing nothing.
package sessionapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/auth"
	"github.com/tollgate/tollgate/shared/session"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/web"
)

// Store reads and deletes sessions. *dynamo.Store implements it.
type Store interface {
	LoadSession(ctx context.Context, tenantID, id string, now time.Time, exp session.Expiry) (session.Session, error)
	ListSessions(ctx context.Context, tenantID string, limit int, cursor string, now time.Time, exp session.Expiry) ([]session.Session, string, error)
	DeleteSession(ctx context.Context, tenantID, id string, now time.Time, exp session.Expiry) error
}

// Deps are the routes' dependencies.
type Deps struct {
	Log     *slog.Logger
	Store   Store
	Tenants *auth.Tenants
	Expiry  session.Expiry
	Now     func() time.Time
}

// Register adds the session routes to mux.
func Register(mux *http.ServeMux, d Deps) {
	route := func(pattern string, f func(http.ResponseWriter, *http.Request, *tenant.Config) error) {
		mux.Handle(pattern, d.Tenants.Require(d.Log, func(w http.ResponseWriter, r *http.Request, cfg tenant.Config) {
			if err := f(w, r, &cfg); err != nil {
				if k := apierr.From(err).Kind; k == apierr.Internal || k == apierr.Unavailable {
					d.Log.ErrorContext(r.Context(), "sessions", "err", err)
				}
				apierr.Write(w, err)
			}
		}))
	}
	route("GET /sessions", d.list)
	route("GET /sessions/{id}", d.get)
	route("DELETE /sessions/{id}", d.delete)
}

// Summary is one session in a listing.
type Summary struct {
	SessionID string    `json:"sessionId"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Page is GET /sessions/{id}.
type Page struct {
	Summary
	Messages   []session.Message `json:"messages"`
	NextCursor string            `json:"nextCursor,omitempty"`
}

func limitParam(r *http.Request, def, max int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, apierr.InvalidParam("invalid_limit", "limit", "limit must be an integer from 1 to "+strconv.Itoa(max))
	}
	return n, nil
}

func sessionID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !session.ValidID(id) {
		return "", apierr.InvalidParam("invalid_session_id", "sessionId", "sessionId must match [A-Za-z0-9_-]{1,128}")
	}
	return id, nil
}

var errNotFound = apierr.New(apierr.NotFound, "session_not_found", "no such session")

func storeErr(err error) error {
	return apierr.StoreUnavailable("read sessions", err)
}

func (d Deps) summary(s session.Session) Summary {
	return Summary{SessionID: s.ID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, ExpiresAt: d.Expiry.ExpiresAt(s)}
}

func (d Deps) list(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	limit, err := limitParam(r, 20, 100)
	if err != nil {
		return err
	}
	ss, next, err := d.Store.ListSessions(r.Context(), cfg.Scope(), limit, r.URL.Query().Get("cursor"), d.Now(), d.Expiry)
	if errors.Is(err, tenant.ErrBadCursor) {
		return apierr.InvalidParam("invalid_cursor", "cursor", "cursor is not one this API returned")
	}
	if err != nil {
		return storeErr(err)
	}
	out := struct {
		Object     string    `json:"object"`
		Data       []Summary `json:"data"`
		NextCursor string    `json:"nextCursor,omitempty"`
	}{Object: "list", Data: []Summary{}, NextCursor: next}
	for _, s := range ss {
		out.Data = append(out.Data, d.summary(s))
	}
	web.JSON(w, http.StatusOK, out)
	return nil
}

// get returns a session's messages, oldest first, a page at a time; the cursor is
// the index of the next message.
func (d Deps) get(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := sessionID(r)
	if err != nil {
		return err
	}
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		return err
	}
	start := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		if start, err = strconv.Atoi(c); err != nil || start < 0 {
			return apierr.InvalidParam("invalid_cursor", "cursor", "cursor is not one this API returned")
		}
	}
	s, err := d.Store.LoadSession(r.Context(), cfg.Scope(), id, d.Now(), d.Expiry)
	if errors.Is(err, session.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return storeErr(err)
	}
	var all []session.Message
	for _, t := range s.Turns {
		all = append(all, t.Messages...)
	}
	p := Page{Summary: d.summary(s), Messages: []session.Message{}}
	if start < len(all) {
		end := min(start+limit, len(all))
		p.Messages = all[start:end]
		if end < len(all) {
			p.NextCursor = strconv.Itoa(end)
		}
	}
	web.JSON(w, http.StatusOK, p)
	return nil
}

func (d Deps) delete(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := sessionID(r)
	if err != nil {
		return err
	}
	err = d.Store.DeleteSession(r.Context(), cfg.Scope(), id, d.Now(), d.Expiry)
	if errors.Is(err, session.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return storeErr(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
