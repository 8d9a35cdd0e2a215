package knowledgeapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chunk"
	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/web"
)

type countsJSON struct {
	InProgress int64 `json:"in_progress"`
	Completed  int64 `json:"completed"`
	Failed     int64 `json:"failed"`
	Cancelled  int64 `json:"cancelled"`
	Total      int64 `json:"total"`
}

func countsOf(c knowledge.FileCounts) countsJSON {
	return countsJSON{c.InProgress, c.Completed, c.Failed, c.Cancelled, c.Total()}
}

type expiresJSON struct {
	Anchor string `json:"anchor"`
	Days   int    `json:"days"`
}

// storeJSON is OpenAI's VectorStore object.
type storeJSON struct {
	ID           string            `json:"id"`
	Object       string            `json:"object"`
	CreatedAt    int64             `json:"created_at"`
	Name         string            `json:"name"`
	UsageBytes   int64             `json:"usage_bytes"`
	FileCounts   countsJSON        `json:"file_counts"`
	Status       string            `json:"status"`
	ExpiresAfter *expiresJSON      `json:"expires_after"`
	ExpiresAt    *int64            `json:"expires_at"`
	LastActiveAt int64             `json:"last_active_at"`
	Metadata     map[string]string `json:"metadata"`
}

func (d *Deps) storeOf(v knowledge.VectorStore) storeJSON {
	out := storeJSON{ID: v.ID, Object: "vector_store", CreatedAt: v.CreatedAt.Unix(), Name: v.Name, UsageBytes: v.UsageBytes,
		FileCounts: countsOf(v.Counts), Status: v.Status(d.Now()), LastActiveAt: v.LastActiveAt.Unix(), Metadata: v.Metadata}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if v.ExpiresAfterDays > 0 {
		e := v.ExpiresAt().Unix()
		out.ExpiresAfter, out.ExpiresAt = &expiresJSON{"last_active_at", v.ExpiresAfterDays}, &e
	}
	return out
}

func parseExpires(e *expiresJSON) (int, error) {
	if e.Anchor != "last_active_at" {
		return 0, apierr.InvalidParam("invalid_value", "expires_after.anchor", "expires_after.anchor must be last_active_at")
	}
	if e.Days < 1 || e.Days > 365 {
		return 0, apierr.InvalidParam("invalid_value", "expires_after.days", "expires_after.days must be from 1 to 365")
	}
	return e.Days, nil
}

type createStoreRequest struct {
	Name             *string           `json:"name"`
	Description      *string           `json:"description"`
	FileIDs          []string          `json:"file_ids"`
	ChunkingStrategy *chunkingJSON     `json:"chunking_strategy"`
	Metadata         map[string]string `json:"metadata"`
	ExpiresAfter     *expiresJSON      `json:"expires_after"`
}

// headerPollAfter tells the OpenAI SDKs' poll helpers (createAndPoll) how long
// to wait before asking again; ingestion of a small file takes well under a
// second, so they need not wait their default 5 s.
const (
	headerPollAfter = "openai-poll-after-ms"
	pollAfterMs     = "200"
)

// maxBatchFiles is OpenAI's limit of file ids in one request.
const maxBatchFiles = 500

// createStore serves POST /v1/vector_stores; file_ids are attached as a batch.
func (d *Deps) createStore(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	var in createStoreRequest
	if err := d.decode(r, &in); err != nil {
		return err
	}
	v := knowledge.VectorStore{Metadata: in.Metadata}
	if in.Name != nil {
		if len(*in.Name) > 256 {
			return apierr.InvalidParam("invalid_value", "name", "name must be at most 256 characters")
		}
		v.Name = *in.Name
	}
	if err := checkMetadata(in.Metadata, "metadata"); err != nil {
		return err
	}
	if in.ExpiresAfter != nil {
		days, err := parseExpires(in.ExpiresAfter)
		if err != nil {
			return err
		}
		v.ExpiresAfterDays = days
	}
	strategy, err := parseChunking(in.ChunkingStrategy, "chunking_strategy")
	if err != nil {
		return err
	}
	if in.ChunkingStrategy != nil && len(in.FileIDs) == 0 {
		return apierr.InvalidParam("invalid_value", "chunking_strategy", "chunking_strategy is only allowed with file_ids")
	}
	files, err := storeFiles(in.FileIDs, nil, strategy, nil)
	if err != nil {
		return err
	}
	for _, f := range files { // every file is the tenant's before anything is made
		if _, err := d.Service.Store.GetFile(r.Context(), cfg.Scope(), f.FileID); err != nil {
			return knowledge.Missing(err, "file", f.FileID)
		}
	}
	v, err = d.Service.CreateStore(r.Context(), cfg, v)
	if err != nil {
		return err
	}
	if len(files) > 0 {
		if _, err := d.Service.CreateBatch(r.Context(), cfg, v.ID, files); err != nil {
			return err
		}
	}
	if v, err = d.Service.GetStore(r.Context(), cfg, v.ID); err != nil {
		return err
	}
	return writeJSON(w, d.storeOf(v))
}

// storeFiles makes the store files of ids (each with attrs and strategy),
// refusing bad or repeated ids.
func storeFiles(ids []string, attrs map[string]any, strategy chunk.Strategy, param func(i int) string) ([]knowledge.StoreFile, error) {
	if len(ids) > maxBatchFiles {
		return nil, apierr.InvalidParam("invalid_value", "file_ids", fmt.Sprintf("file_ids may hold at most %d ids", maxBatchFiles))
	}
	if param == nil {
		param = func(i int) string { return fmt.Sprintf("file_ids[%d]", i) }
	}
	seen := map[string]bool{}
	out := make([]knowledge.StoreFile, 0, len(ids))
	for i, id := range ids {
		if err := fileIDParam(id, param(i)); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, apierr.InvalidParam("invalid_value", param(i), fmt.Sprintf("%s repeats %s", param(i), id))
		}
		seen[id] = true
		out = append(out, knowledge.StoreFile{FileID: id, Attributes: attrs, Chunking: strategy})
	}
	return out, nil
}

func (d *Deps) listStores(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	p, err := parsePage(r, 20, 100)
	if err != nil {
		return err
	}
	stores, err := d.Service.ListStores(r.Context(), cfg)
	if err != nil {
		return err
	}
	pg := page(stores, func(v knowledge.VectorStore) string { return v.ID }, p)
	if err := d.Service.Counted(r.Context(), cfg, pg.Data); err != nil {
		return err
	}
	out := list[storeJSON]{Object: "list", Data: make([]storeJSON, len(pg.Data)), FirstID: pg.FirstID, LastID: pg.LastID, HasMore: pg.HasMore}
	for i, v := range pg.Data {
		out.Data[i] = d.storeOf(v)
	}
	return writeJSON(w, out)
}

func (d *Deps) getStore(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := storeID(r)
	if err != nil {
		return err
	}
	v, err := d.Service.GetStore(r.Context(), cfg, id)
	if err != nil {
		return knowledge.Missing(err, "vector store", id)
	}
	return writeJSON(w, d.storeOf(v))
}

type updateStoreRequest struct {
	Name         *string           `json:"name"`
	Metadata     map[string]string `json:"metadata"`
	ExpiresAfter json.RawMessage   `json:"expires_after"`
}

// updateStore serves POST /v1/vector_stores/{id}: name, metadata, expires_after
// (null removes the expiry).
func (d *Deps) updateStore(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := storeID(r)
	if err != nil {
		return err
	}
	var in updateStoreRequest
	if err := d.decode(r, &in); err != nil {
		return err
	}
	if in.Name != nil && len(*in.Name) > 256 {
		return apierr.InvalidParam("invalid_value", "name", "name must be at most 256 characters")
	}
	if err := checkMetadata(in.Metadata, "metadata"); err != nil {
		return err
	}
	var days *int
	if raw := bytes.TrimSpace(in.ExpiresAfter); len(raw) > 0 {
		n := 0
		if string(raw) != "null" {
			var e expiresJSON
			if err := json.Unmarshal(raw, &e); err != nil {
				return apierr.InvalidParam("invalid_type", "expires_after", "expires_after must be an object {anchor, days} or null")
			}
			if n, err = parseExpires(&e); err != nil {
				return err
			}
		}
		days = &n
	}
	v, err := d.Service.UpdateStore(r.Context(), cfg, id, in.Name, in.Metadata, days)
	if err != nil {
		return knowledge.Missing(err, "vector store", id)
	}
	return writeJSON(w, d.storeOf(v))
}

func (d *Deps) deleteStore(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := storeID(r)
	if err != nil {
		return err
	}
	if err := d.Service.DeleteStore(r.Context(), cfg, id); err != nil {
		return knowledge.Missing(err, "vector store", id)
	}
	return writeJSON(w, deleted{ID: id, Object: "vector_store.deleted", Deleted: true})
}

// storeFileJSON is OpenAI's VectorStoreFile object.
type storeFileJSON struct {
	ID               string         `json:"id"`
	Object           string         `json:"object"`
	UsageBytes       int64          `json:"usage_bytes"`
	CreatedAt        int64          `json:"created_at"`
	VectorStoreID    string         `json:"vector_store_id"`
	Status           string         `json:"status"`
	LastError        *lastErrorJSON `json:"last_error"`
	ChunkingStrategy chunkingJSON   `json:"chunking_strategy"`
	Attributes       map[string]any `json:"attributes"`
}

type lastErrorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func storeFileOf(f knowledge.StoreFile) storeFileJSON {
	out := storeFileJSON{ID: f.FileID, Object: "vector_store.file", UsageBytes: f.UsageBytes, CreatedAt: f.CreatedAt.Unix(),
		VectorStoreID: f.StoreID, Status: f.Status, ChunkingStrategy: chunkingOf(f.Chunking), Attributes: f.Attributes}
	if f.LastError != nil {
		out.LastError = &lastErrorJSON{f.LastError.Code, f.LastError.Message}
	}
	if out.Attributes == nil {
		out.Attributes = map[string]any{}
	}
	if f.Status != knowledge.Completed {
		out.UsageBytes = 0
	}
	return out
}

type attachRequest struct {
	FileID           string         `json:"file_id"`
	Attributes       map[string]any `json:"attributes"`
	ChunkingStrategy *chunkingJSON  `json:"chunking_strategy"`
}

// attachFile serves POST /v1/vector_stores/{id}/files.
func (d *Deps) attachFile(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := storeID(r)
	if err != nil {
		return err
	}
	var in attachRequest
	if err := d.decode(r, &in); err != nil {
		return err
	}
	if in.FileID == "" {
		return apierr.InvalidParam("missing_required_parameter", "file_id", "file_id is required")
	}
	if err := fileIDParam(in.FileID, "file_id"); err != nil {
		return err
	}
	if err := checkAttributes(in.Attributes, "attributes"); err != nil {
		return err
	}
	strategy, err := parseChunking(in.ChunkingStrategy, "chunking_strategy")
	if err != nil {
		return err
	}
	f, err := d.Service.Attach(r.Context(), cfg, knowledge.StoreFile{StoreID: id, FileID: in.FileID, Attributes: in.Attributes, Chunking: strategy})
	if err != nil {
		return err
	}
	return writeJSON(w, storeFileOf(f))
}

func (d *Deps) listStoreFiles(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	return d.listFilesOf(w, r, cfg, "")
}

// listFilesOf lists a store's files (those of batch when not ""), with the
// status filter.
func (d *Deps) listFilesOf(w http.ResponseWriter, r *http.Request, cfg *tenant.Config, batch string) error {
	id, err := storeID(r)
	if err != nil {
		return err
	}
	p, err := parsePage(r, 20, 100)
	if err != nil {
		return err
	}
	status := r.URL.Query().Get("filter")
	switch status {
	case "", knowledge.InProgress, knowledge.Completed, knowledge.Failed, knowledge.Cancelled:
	default:
		return apierr.InvalidParam("invalid_value", "filter", "filter must be in_progress, completed, failed or cancelled")
	}
	if _, err := d.Service.Store.GetStore(r.Context(), cfg.Scope(), id); err != nil {
		return knowledge.Missing(err, "vector store", id)
	}
	files, err := d.Service.Store.ListStoreFiles(r.Context(), cfg.Scope(), id)
	if err != nil {
		return err
	}
	out := make([]storeFileJSON, 0, len(files))
	for _, f := range files {
		if (status == "" || f.Status == status) && (batch == "" || f.BatchID == batch) {
			out = append(out, storeFileOf(f))
		}
	}
	return writeJSON(w, page(out, func(f storeFileJSON) string { return f.ID }, p))
}

func (d *Deps) storeFile(r *http.Request, cfg *tenant.Config) (knowledge.StoreFile, error) {
	id, err := storeID(r)
	if err != nil {
		return knowledge.StoreFile{}, err
	}
	fid := r.PathValue("file")
	if err := fileIDParam(fid, ""); err != nil {
		return knowledge.StoreFile{}, err
	}
	f, err := d.Service.Store.GetStoreFile(r.Context(), cfg.Scope(), id, fid)
	return f, d.missing(r, cfg, id, err, "file", fid)
}

// missing names what a read under the tenant's scope did not find: the
// vector store id when the store itself is not the tenant's, else what. The
// store is read only then, so a poll of an attached file costs one read.
func (d *Deps) missing(r *http.Request, cfg *tenant.Config, storeID string, err error, what, id string) error {
	if !errors.Is(err, knowledge.ErrNotFound) {
		return err
	}
	if _, serr := d.Service.Store.GetStore(r.Context(), cfg.Scope(), storeID); serr != nil {
		return knowledge.Missing(serr, "vector store", storeID)
	}
	return knowledge.Missing(err, what, id)
}

func (d *Deps) getStoreFile(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	f, err := d.storeFile(r, cfg)
	if err != nil {
		return err
	}
	if f.Status == knowledge.InProgress {
		w.Header().Set(headerPollAfter, pollAfterMs)
	}
	return writeJSON(w, storeFileOf(f))
}

// detachFile serves DELETE /v1/vector_stores/{id}/files/{file}: the file
// leaves the store (its chunks with it) and stays uploaded.
func (d *Deps) detachFile(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	f, err := d.storeFile(r, cfg)
	if err != nil {
		return err
	}
	if err := d.Service.Detach(r.Context(), cfg, f.StoreID, f.FileID); err != nil {
		return knowledge.Missing(err, "file", f.FileID)
	}
	return writeJSON(w, deleted{ID: f.FileID, Object: "vector_store.file.deleted", Deleted: true})
}

type batchRequest struct {
	FileIDs          []string        `json:"file_ids"`
	Files            []attachRequest `json:"files"`
	Attributes       map[string]any  `json:"attributes"`
	ChunkingStrategy *chunkingJSON   `json:"chunking_strategy"`
}

type batchJSON struct {
	ID            string     `json:"id"`
	Object        string     `json:"object"`
	CreatedAt     int64      `json:"created_at"`
	VectorStoreID string     `json:"vector_store_id"`
	Status        string     `json:"status"`
	FileCounts    countsJSON `json:"file_counts"`
}

// createBatch serves POST /v1/vector_stores/{id}/file_batches: file_ids (with
// the request's attributes and chunking_strategy), or files each with their own.
func (d *Deps) createBatch(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := storeID(r)
	if err != nil {
		return err
	}
	var in batchRequest
	if err := d.decode(r, &in); err != nil {
		return err
	}
	var files []knowledge.StoreFile
	switch {
	case len(in.FileIDs) > 0 && len(in.Files) > 0:
		return apierr.InvalidParam("invalid_value", "files", "give file_ids or files, not both")
	case len(in.FileIDs) > 0:
		if err := checkAttributes(in.Attributes, "attributes"); err != nil {
			return err
		}
		strategy, err := parseChunking(in.ChunkingStrategy, "chunking_strategy")
		if err != nil {
			return err
		}
		if files, err = storeFiles(in.FileIDs, in.Attributes, strategy, nil); err != nil {
			return err
		}
	case len(in.Files) > 0:
		if in.Attributes != nil || in.ChunkingStrategy != nil {
			return apierr.InvalidParam("invalid_value", "files", "with files, give attributes and chunking_strategy per file")
		}
		ids := make([]string, len(in.Files))
		for i, f := range in.Files {
			ids[i] = f.FileID
		}
		if files, err = storeFiles(ids, nil, chunk.Strategy{}, func(i int) string { return fmt.Sprintf("files[%d].file_id", i) }); err != nil {
			return err
		}
		for i, f := range in.Files {
			p := fmt.Sprintf("files[%d]", i)
			if err := checkAttributes(f.Attributes, p+".attributes"); err != nil {
				return err
			}
			if files[i].Chunking, err = parseChunking(f.ChunkingStrategy, p+".chunking_strategy"); err != nil {
				return err
			}
			files[i].Attributes = f.Attributes
		}
	default:
		return apierr.InvalidParam("missing_required_parameter", "file_ids", "file_ids (or files) is required")
	}
	b, err := d.Service.CreateBatch(r.Context(), cfg, id, files)
	if err != nil {
		return err
	}
	return d.writeBatch(w, r, cfg, b)
}

func (d *Deps) writeBatch(w http.ResponseWriter, r *http.Request, cfg *tenant.Config, b knowledge.Batch) error {
	c, status, err := d.Service.BatchCounts(r.Context(), cfg, b)
	if err != nil {
		return err
	}
	if status == knowledge.InProgress {
		w.Header().Set(headerPollAfter, pollAfterMs)
	}
	return writeJSON(w, batchJSON{ID: b.ID, Object: "vector_store.files_batch", CreatedAt: b.CreatedAt.Unix(), VectorStoreID: b.StoreID,
		Status: status, FileCounts: countsOf(c)})
}

func (d *Deps) batch(r *http.Request, cfg *tenant.Config) (knowledge.Batch, error) {
	id, err := storeID(r)
	if err != nil {
		return knowledge.Batch{}, err
	}
	bid := r.PathValue("batch")
	if !knowledge.ValidID(knowledge.BatchPrefix, bid) {
		return knowledge.Batch{}, notFound("file batch", bid)
	}
	b, err := d.Service.Store.GetBatch(r.Context(), cfg.Scope(), id, bid)
	return b, d.missing(r, cfg, id, err, "file batch", bid)
}

func (d *Deps) getBatch(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	b, err := d.batch(r, cfg)
	if err != nil {
		return err
	}
	return d.writeBatch(w, r, cfg, b)
}

func (d *Deps) listBatchFiles(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	b, err := d.batch(r, cfg)
	if err != nil {
		return err
	}
	return d.listFilesOf(w, r, cfg, b.ID)
}

type searchRequest struct {
	Query          json.RawMessage           `json:"query"`
	MaxNumResults  *int                      `json:"max_num_results"`
	Filters        json.RawMessage           `json:"filters"`
	RankingOptions *knowledge.RankingOptions `json:"ranking_options"`
	RewriteQuery   *bool                     `json:"rewrite_query"`
}

type searchResultJSON struct {
	FileID     string          `json:"file_id"`
	Filename   string          `json:"filename"`
	Score      float64         `json:"score"`
	Attributes map[string]any  `json:"attributes"`
	Content    []searchContent `json:"content"`
}

type searchContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type searchPage struct {
	Object      string             `json:"object"`
	SearchQuery []string           `json:"search_query"`
	Data        []searchResultJSON `json:"data"`
	HasMore     bool               `json:"has_more"`
	NextPage    *string            `json:"next_page"`
}

// search serves POST /v1/vector_stores/{id}/search.
func (d *Deps) search(w http.ResponseWriter, r *http.Request, cfg *tenant.Config) error {
	id, err := storeID(r)
	if err != nil {
		return err
	}
	var in searchRequest
	if err := d.decode(r, &in); err != nil {
		return err
	}
	q := knowledge.Query{StoreIDs: []string{id}, MaxResults: 10,
		Meta: budget.Meta{KeyID: web.InfoFrom(r.Context()).Key(), Route: knowledge.RouteSearch}}
	var one string
	var many []string
	switch raw := bytes.TrimSpace(in.Query); {
	case len(raw) == 0 || string(raw) == "null":
		return apierr.InvalidParam("missing_required_parameter", "query", "query is required: a string or an array of strings")
	case json.Unmarshal(raw, &one) == nil:
		q.Queries = []string{one}
	case json.Unmarshal(raw, &many) == nil:
		q.Queries = many
	default:
		return apierr.InvalidParam("invalid_type", "query", "query must be a string or an array of strings")
	}
	if len(q.Queries) == 0 || len(q.Queries) > 10 {
		return apierr.InvalidParam("invalid_value", "query", "query must hold 1 to 10 strings")
	}
	for i, s := range q.Queries {
		if s == "" {
			return apierr.InvalidParam("invalid_value", fmt.Sprintf("query[%d]", i), "a query must not be empty")
		}
	}
	if in.MaxNumResults != nil {
		if *in.MaxNumResults < 1 || *in.MaxNumResults > vectors.MaxTopK {
			return apierr.InvalidParam("invalid_value", "max_num_results", fmt.Sprintf("max_num_results must be from 1 to %d", vectors.MaxTopK))
		}
		q.MaxResults = *in.MaxNumResults
	}
	if in.RewriteQuery != nil && *in.RewriteQuery {
		return apierr.InvalidParam("unsupported_parameter", "rewrite_query", "rewrite_query is not supported by this gateway; send the query as you want it searched")
	}
	if o := in.RankingOptions; o != nil {
		var field, problem string
		if q.ScoreThreshold, field, problem = o.Threshold(); field != "" {
			p := "ranking_options." + field
			return apierr.InvalidParam("invalid_value", p, p+" "+problem)
		}
	}
	if q.Filter, err = filterOf(in.Filters); err != nil {
		return err
	}
	matches, err := d.Service.Search(r.Context(), cfg, q)
	if err != nil {
		return err
	}
	out := searchPage{Object: "vector_store.search_results.page", SearchQuery: q.Queries, Data: make([]searchResultJSON, len(matches))}
	for i, m := range matches {
		attrs := m.Attributes
		if attrs == nil {
			attrs = map[string]any{}
		}
		out.Data[i] = searchResultJSON{FileID: m.FileID, Filename: m.Filename, Score: m.Score, Attributes: attrs,
			Content: []searchContent{{Type: "text", Text: m.Text}}}
	}
	return writeJSON(w, out)
}
