// Package knowledgeapi serves a tenant's knowledge base in OpenAI's shapes: the
// Files API (/v1/files) and the Vector Stores API (/v1/vector_stores, their
// files, file batches and search). Every object belongs to one tenant; another
// tenant's key gets 404 for it, revealing nothing.
package knowledgeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/auth"
	"github.com/tollgate/tollgate/shared/chunk"
	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/web"
)

// Deps are the routes' dependencies.
type Deps struct {
	Log       *slog.Logger
	Service   *knowledge.Service
	Tenants   *auth.Tenants
	Now       func() time.Time
	MaxBody   int64 // the largest JSON body
	MaxUpload int64 // the largest multipart upload body (the file plus its form)
}

type handler func(http.ResponseWriter, *http.Request, *tenant.Config) error

// Register adds the knowledge routes to mux.
func Register(mux *http.ServeMux, d Deps) {
	route := func(pattern string, f handler) {
		mux.Handle(pattern, d.Tenants.Require(d.Log, func(w http.ResponseWriter, r *http.Request, cfg tenant.Config) {
			if err := f(w, r, &cfg); err != nil {
				e := apierr.From(mapError(err))
				if e.Kind == apierr.Internal || e.Kind == apierr.Unavailable {
					d.Log.ErrorContext(r.Context(), "knowledge", "err", err)
				}
				apierr.Write(w, e)
			}
		}))
	}
	route("POST /v1/files", d.uploadFile)
	route("GET /v1/files", d.listFiles)
	route("GET /v1/files/{id}", d.getFile)
	route("GET /v1/files/{id}/content", d.fileContent)
	route("DELETE /v1/files/{id}", d.deleteFile)

	route("POST /v1/vector_stores", d.createStore)
	route("GET /v1/vector_stores", d.listStores)
	route("GET /v1/vector_stores/{id}", d.getStore)
	route("POST /v1/vector_stores/{id}", d.updateStore)
	route("DELETE /v1/vector_stores/{id}", d.deleteStore)
	route("POST /v1/vector_stores/{id}/search", d.search)
	route("POST /v1/vector_stores/{id}/files", d.attachFile)
	route("GET /v1/vector_stores/{id}/files", d.listStoreFiles)
	route("GET /v1/vector_stores/{id}/files/{file}", d.getStoreFile)
	route("DELETE /v1/vector_stores/{id}/files/{file}", d.detachFile)
	route("POST /v1/vector_stores/{id}/file_batches", d.createBatch)
	route("GET /v1/vector_stores/{id}/file_batches/{batch}", d.getBatch)
	route("GET /v1/vector_stores/{id}/file_batches/{batch}/files", d.listBatchFiles)
}

// notFound is the 404 of an object that does not exist or is another tenant's.
func notFound(what, id string) *apierr.Error {
	return &apierr.Error{Kind: apierr.NotFound, Code: "not_found", Message: fmt.Sprintf("No %s found with id '%s'.", what, clip(id))}
}

// mapError maps the service's errors onto API errors.
func mapError(err error) error {
	var ae *apierr.Error
	var nf *knowledge.NotFound
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, knowledge.ErrQuota):
		return &apierr.Error{Kind: apierr.Invalid, Code: "storage_quota_exceeded", Param: "file",
			Message: "the tenant's files would exceed its storage quota (knowledge.storageBytes); delete files first", Err: err}
	case errors.Is(err, knowledge.ErrExpired):
		return &apierr.Error{Kind: apierr.Invalid, Code: "vector_store_expired", Message: err.Error()}
	case errors.Is(err, knowledge.ErrQueue):
		return &apierr.Error{Kind: apierr.Unavailable, Code: "ingestion_unavailable",
			Message: "the file could not be queued for ingestion and was not attached; try again", Err: err}
	case errors.As(err, &nf):
		return notFound(nf.What, nf.ID)
	case errors.Is(err, knowledge.ErrNotFound):
		return &apierr.Error{Kind: apierr.NotFound, Code: "not_found", Message: "not found", Err: err}
	}
	return err
}

func clip(s string) string {
	if len(s) > 100 {
		return strings.ToValidUTF8(s[:100], "") + "…"
	}
	return s
}

// decode reads a JSON body strictly: unknown fields are refused by name.
func (d *Deps) decode(r *http.Request, v any) error {
	body, err := web.ReadBody(r, d.MaxBody)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return apierr.InvalidParam("invalid_type", te.Field, fmt.Sprintf("%s has the wrong type (%s)", te.Field, te.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apierr.InvalidParam("unknown_parameter", name, "unrecognized request argument supplied: "+name)
	}
	return apierr.New(apierr.Invalid, "invalid_json", "the request body is not valid JSON: "+err.Error())
}

func writeJSON(w http.ResponseWriter, v any) error {
	web.JSON(w, http.StatusOK, v)
	return nil
}

// list is OpenAI's cursor page.
type list[T any] struct {
	Object  string  `json:"object"`
	Data    []T     `json:"data"`
	FirstID *string `json:"first_id"`
	LastID  *string `json:"last_id"`
	HasMore bool    `json:"has_more"`
}

// pageParams are a list's limit, order, after and before.
type pageParams struct {
	limit         int
	desc          bool
	after, before string
}

func parsePage(r *http.Request, def, maxLimit int) (pageParams, error) {
	q := r.URL.Query()
	p := pageParams{limit: def, desc: true, after: q.Get("after"), before: q.Get("before")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, apierr.InvalidParam("invalid_value", "limit", fmt.Sprintf("limit must be an integer from 1 to %d", maxLimit))
		}
		p.limit = n
	}
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		p.desc = false
	default:
		return p, apierr.InvalidParam("invalid_value", "order", "order must be asc or desc")
	}
	return p, nil
}

// page cuts items (in ascending id order) into the page p asks for.
func page[T any](items []T, id func(T) string, p pageParams) list[T] {
	items = slices.Clone(items)
	if p.desc {
		slices.Reverse(items)
	}
	if p.after != "" {
		if i := slices.IndexFunc(items, func(t T) bool { return id(t) == p.after }); i >= 0 {
			items = items[i+1:]
		} else {
			items = items[:0]
		}
	}
	if p.before != "" {
		if i := slices.IndexFunc(items, func(t T) bool { return id(t) == p.before }); i >= 0 {
			items = items[:i]
			if len(items) > p.limit { // the page ends just before the cursor
				items = items[len(items)-p.limit:]
			}
		}
	}
	out := list[T]{Object: "list", Data: items, HasMore: len(items) > p.limit}
	if out.HasMore {
		out.Data = items[:p.limit]
	}
	if out.Data == nil {
		out.Data = []T{}
	}
	if n := len(out.Data); n > 0 {
		first, last := id(out.Data[0]), id(out.Data[n-1])
		out.FirstID, out.LastID = &first, &last
	}
	return out
}

// chunkingJSON is OpenAI's chunking_strategy.
type chunkingJSON struct {
	Type   string `json:"type"`
	Static *struct {
		MaxChunkSizeTokens int `json:"max_chunk_size_tokens"`
		ChunkOverlapTokens int `json:"chunk_overlap_tokens"`
	} `json:"static,omitempty"`
}

func parseChunking(c *chunkingJSON, param string) (chunk.Strategy, error) {
	if c == nil {
		return chunk.Default, nil
	}
	switch c.Type {
	case "auto":
		if c.Static != nil {
			return chunk.Strategy{}, apierr.InvalidParam("invalid_value", param+".static", param+".static is only allowed with type static")
		}
		return chunk.Default, nil
	case "static":
		if c.Static == nil {
			return chunk.Strategy{}, apierr.InvalidParam("missing_required_parameter", param+".static", param+".static is required with type static")
		}
		s := chunk.Strategy{MaxTokens: c.Static.MaxChunkSizeTokens, OverlapTokens: c.Static.ChunkOverlapTokens}
		if err := s.Validate(); err != nil {
			return chunk.Strategy{}, apierr.InvalidParam("invalid_value", param+".static", strings.ReplaceAll(err.Error(), "chunking_strategy", param))
		}
		return s, nil
	}
	return chunk.Strategy{}, apierr.InvalidParam("invalid_value", param+".type", fmt.Sprintf("%s.type must be auto or static, not %q", param, clip(c.Type)))
}

func chunkingOf(s chunk.Strategy) chunkingJSON {
	c := chunkingJSON{Type: "static"}
	c.Static = &struct {
		MaxChunkSizeTokens int `json:"max_chunk_size_tokens"`
		ChunkOverlapTokens int `json:"chunk_overlap_tokens"`
	}{s.MaxTokens, s.OverlapTokens}
	return c
}

// checkMetadata applies OpenAI's metadata rules: at most 16 pairs, keys of at
// most 64 characters, values of at most 512.
func checkMetadata(m map[string]string, param string) error {
	if len(m) > 16 {
		return apierr.InvalidParam("invalid_value", param, param+" may hold at most 16 pairs")
	}
	for k, v := range m {
		if len(k) > 64 || k == "" {
			return apierr.InvalidParam("invalid_value", param, fmt.Sprintf("%s: key %q must be 1 to 64 characters", param, clip(k)))
		}
		if len(v) > 512 {
			return apierr.InvalidParam("invalid_value", param, fmt.Sprintf("%s.%s must be at most 512 characters", param, clip(k)))
		}
	}
	return nil
}

// checkAttributes applies OpenAI's rules for vector store file attributes: at
// most 16 keys of at most 64 characters; values strings of at most 512
// characters, numbers or booleans.
func checkAttributes(a map[string]any, param string) error {
	if len(a) > 16 {
		return apierr.InvalidParam("invalid_value", param, param+" may hold at most 16 keys")
	}
	for k, v := range a {
		if len(k) > 64 || k == "" {
			return apierr.InvalidParam("invalid_value", param, fmt.Sprintf("%s: key %q must be 1 to 64 characters", param, clip(k)))
		}
		switch v := v.(type) {
		case string:
			if len(v) > 512 {
				return apierr.InvalidParam("invalid_value", param+"."+k, fmt.Sprintf("%s.%s must be at most 512 characters", param, clip(k)))
			}
		case float64, bool:
		default:
			return apierr.InvalidParam("invalid_type", param+"."+k, fmt.Sprintf("%s.%s must be a string, a number or a boolean", param, clip(k)))
		}
	}
	return nil
}

// storeID reads the {id} path value: a vector store id of the right shape, or
// the 404 any other id gets.
func storeID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if !knowledge.ValidID(knowledge.StorePrefix, id) {
		return "", notFound("vector store", id)
	}
	return id, nil
}

func fileIDParam(id, param string) error {
	if !knowledge.ValidID(knowledge.FilePrefix, id) {
		msg := fmt.Sprintf("No file found with id '%s'.", clip(id))
		if param != "" {
			msg = param + ": " + msg
		}
		return &apierr.Error{Kind: apierr.NotFound, Code: "not_found", Param: param, Message: msg}
	}
	return nil
}

// filterOf decodes a search's filters.
func filterOf(raw json.RawMessage) (*vectors.Filter, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	f, err := vectors.ParseFilter(raw)
	if err != nil {
		return nil, apierr.InvalidParam("invalid_value", "filters", "filters: "+err.Error())
	}
	return f, nil
}
