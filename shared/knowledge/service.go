package knowledge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/blob"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chunk"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/vectors"
)

// Store keeps the knowledge base's metadata. *dynamo.Store implements it.
// Tenant arguments are scopes (tenant.Config.Scope), so a tenant created again
// under a deleted id sees none of its predecessor's files.
type Store interface {
	ReserveStorage(ctx context.Context, scope string, n, quota int64) error
	ReleaseStorage(ctx context.Context, scope string, n int64) error
	PutFile(ctx context.Context, scope string, f File) error
	GetFile(ctx context.Context, scope, id string) (File, error)
	ListFiles(ctx context.Context, scope string) ([]File, error)
	DeleteFile(ctx context.Context, scope, id string) (File, bool, error)

	PutStore(ctx context.Context, scope string, v VectorStore, isNew bool) error
	GetStore(ctx context.Context, scope, id string) (VectorStore, error)
	ListStores(ctx context.Context, scope string) ([]VectorStore, error)
	TouchStore(ctx context.Context, scope, id string, at time.Time) error
	DeleteStore(ctx context.Context, scope, id string) (bool, error)

	PutStoreFile(ctx context.Context, scope string, f StoreFile) error
	GetStoreFile(ctx context.Context, scope, storeID, fileID string) (StoreFile, error)
	ListStoreFiles(ctx context.Context, scope, storeID string) ([]StoreFile, error)
	PlanStoreFile(ctx context.Context, scope, storeID, fileID string, chunks int) error
	FinishStoreFile(ctx context.Context, scope string, f StoreFile) error
	DeleteStoreFile(ctx context.Context, scope, storeID, fileID string) (StoreFile, bool, error)

	PutBatch(ctx context.Context, scope string, b Batch) error
	GetBatch(ctx context.Context, scope, storeID, batchID string) (Batch, error)
	DeleteBatches(ctx context.Context, scope, storeID string) error

	// KnowledgePurges lists the deleted tenants' scopes whose files and stores
	// are still to be purged; EndKnowledgePurge removes one.
	KnowledgePurges(ctx context.Context) ([]string, error)
	EndKnowledgePurge(ctx context.Context, scope string) error

	AddJob(ctx context.Context, j Job, at time.Time) error
	DeleteJob(ctx context.Context, j Job) error
	Jobs(ctx context.Context) ([]JobRecord, error)
	ResendJob(ctx context.Context, r JobRecord, at time.Time) error
}

// Embedder embeds texts for a tenant through the shared meter: every call is
// admitted against the tenant's budgets and rate limits and settled with what
// the provider counted. *gateway.Handler implements it.
type Embedder interface {
	// EmbeddingModel is the model a new vector store of the tenant embeds with.
	EmbeddingModel(cfg *tenant.Config) (model.Name, error)
	// Embed embeds texts with m (no fallback: another model's vectors would not
	// compare), metered as meta.Route. A refusal is an *apierr.Error (429
	// budget_exceeded or rate_limit_exceeded).
	Embed(ctx context.Context, cfg *tenant.Config, m model.Name, texts []string, inputType string, meta budget.Meta) ([][]float32, error)
}

// Tenants reads a tenant's configuration by id (the ingestion worker has no
// request to authenticate). *auth.Tenants implements it.
type Tenants interface {
	Config(ctx context.Context, id string) (tenant.Config, error)
}

// ErrQueue is returned (wrapped) by Attach and CreateBatch when the queue
// refused a job: the file was not attached.
var ErrQueue = errors.New("knowledge: the ingestion queue refused the job")

// Queue carries ingestion jobs to a worker: in-process locally (LocalQueue),
// through SQS on AWS (sqsqueue).
type Queue interface {
	Enqueue(ctx context.Context, j Job) error
}

// Service is the knowledge base of every tenant.
type Service struct {
	Store    Store
	Blobs    blob.Store
	Vectors  vectors.Store
	Embedder Embedder
	Tenants  Tenants
	Queue    Queue
	Log      *slog.Logger
	Now      func() time.Time
	// MaxFileBytes is the largest file an upload may be.
	MaxFileBytes int64
	// DefaultStorageBytes is a tenant's storage quota when its configuration
	// sets none (≤ 0: no quota).
	DefaultStorageBytes int64
}

// Routes of the meter's usage records for the knowledge base's embeddings.
const (
	RouteIngest = "vector_stores.ingest"
	RouteSearch = "vector_stores.search"
)

// embedBatch is how many chunks one embedding call carries during ingestion.
const embedBatch = 64

// quota is the tenant's storage quota in bytes (≤ 0: none).
func (s *Service) quota(cfg *tenant.Config) int64 {
	if cfg.Knowledge.StorageBytes != 0 {
		return cfg.Knowledge.StorageBytes
	}
	return s.DefaultStorageBytes
}

// Upload stores a file: its bytes in the blob store, its metadata in the
// table, within the tenant's storage quota. A refused upload stores nothing.
func (s *Service) Upload(ctx context.Context, cfg *tenant.Config, f File, data []byte) (File, error) {
	scope := cfg.Scope()
	f.ID, f.Bytes, f.CreatedAt = NewID(FilePrefix, s.Now()), int64(len(data)), s.Now().UTC().Truncate(time.Second)
	if err := s.Store.ReserveStorage(ctx, scope, f.Bytes, s.quota(cfg)); err != nil {
		return File{}, err
	}
	release := func(err error) (File, error) {
		if rerr := s.Store.ReleaseStorage(context.WithoutCancel(ctx), scope, f.Bytes); rerr != nil {
			s.Log.ErrorContext(ctx, "release storage", "err", rerr) // the quota keeps n bytes too many: the safe side
		}
		return File{}, err
	}
	if err := s.Blobs.Put(ctx, BlobKey(scope, f.ID), data, f.ContentType); err != nil {
		return release(err)
	}
	if err := s.Store.PutFile(ctx, scope, f); err != nil {
		_ = s.Blobs.Delete(context.WithoutCancel(ctx), BlobKey(scope, f.ID))
		return release(err)
	}
	return f, nil
}

// Content returns a file's bytes.
func (s *Service) Content(ctx context.Context, cfg *tenant.Config, id string) (File, []byte, error) {
	f, err := s.Store.GetFile(ctx, cfg.Scope(), id)
	if err != nil {
		return File{}, nil, err
	}
	b, err := s.Blobs.Get(ctx, BlobKey(cfg.Scope(), id))
	if errors.Is(err, blob.ErrNotFound) {
		return File{}, nil, ErrNotFound
	}
	return f, b, err
}

// DeleteFile deletes a file and removes it from every vector store of the
// tenant (as OpenAI does), its chunks included.
func (s *Service) DeleteFile(ctx context.Context, cfg *tenant.Config, id string) error {
	scope := cfg.Scope()
	if _, err := s.Store.GetFile(ctx, scope, id); err != nil {
		return err
	}
	stores, err := s.Store.ListStores(ctx, scope)
	if err != nil {
		return err
	}
	for _, v := range stores {
		if err := s.Detach(ctx, cfg, v.ID, id); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	f, ok, err := s.Store.DeleteFile(ctx, scope, id)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	if err := s.Blobs.Delete(ctx, BlobKey(scope, id)); err != nil {
		s.Log.WarnContext(ctx, "delete file bytes", "fileId", id, "err", err)
	}
	return s.Store.ReleaseStorage(ctx, scope, f.Bytes)
}

// CreateStore makes a vector store embedding with the tenant's embedding model.
func (s *Service) CreateStore(ctx context.Context, cfg *tenant.Config, v VectorStore) (VectorStore, error) {
	m, err := s.Embedder.EmbeddingModel(cfg)
	if err != nil {
		return VectorStore{}, err
	}
	now := s.Now().UTC()
	v.ID, v.CreatedAt, v.LastActiveAt, v.Model = NewID(StorePrefix, now), now.Truncate(time.Second), now, m.String()
	if err := s.Store.PutStore(ctx, cfg.Scope(), v, true); err != nil {
		return VectorStore{}, err
	}
	return v, nil
}

// GetStore reads a store with its file counts and usage.
func (s *Service) GetStore(ctx context.Context, cfg *tenant.Config, id string) (VectorStore, error) {
	v, err := s.Store.GetStore(ctx, cfg.Scope(), id)
	if err != nil {
		return VectorStore{}, err
	}
	return v, s.count(ctx, cfg.Scope(), &v)
}

// count fills v's file counts and usage from its files.
func (s *Service) count(ctx context.Context, scope string, v *VectorStore) error {
	files, err := s.Store.ListStoreFiles(ctx, scope, v.ID)
	if err != nil {
		return err
	}
	v.Counts, v.UsageBytes = FileCounts{}, 0
	for _, f := range files {
		v.Counts.Add(f.Status, 1)
		v.UsageBytes += f.UsageBytes
	}
	return nil
}

// ListStores returns the tenant's stores, oldest first, with counts.
func (s *Service) ListStores(ctx context.Context, cfg *tenant.Config) ([]VectorStore, error) {
	return s.Store.ListStores(ctx, cfg.Scope())
}

// Counted fills the counts of stores (a page of ListStores).
func (s *Service) Counted(ctx context.Context, cfg *tenant.Config, stores []VectorStore) error {
	for i := range stores {
		if err := s.count(ctx, cfg.Scope(), &stores[i]); err != nil {
			return err
		}
	}
	return nil
}

// UpdateStore changes a store's name, metadata or expiry (nil: unchanged).
func (s *Service) UpdateStore(ctx context.Context, cfg *tenant.Config, id string, name *string, metadata map[string]string, expiresDays *int) (VectorStore, error) {
	v, err := s.Store.GetStore(ctx, cfg.Scope(), id)
	if err != nil {
		return VectorStore{}, err
	}
	if name != nil {
		v.Name = *name
	}
	if metadata != nil {
		v.Metadata = metadata
	}
	if expiresDays != nil {
		v.ExpiresAfterDays = *expiresDays
	}
	v.LastActiveAt = s.Now().UTC()
	if err := s.Store.PutStore(ctx, cfg.Scope(), v, false); err != nil {
		return VectorStore{}, err
	}
	return v, s.count(ctx, cfg.Scope(), &v)
}

// DeleteStore deletes a store: its index (every chunk), its files'
// attachments and batches, then the store. A crash midway leaves the store
// listed, and deleting it again finishes.
func (s *Service) DeleteStore(ctx context.Context, cfg *tenant.Config, id string) error {
	scope := cfg.Scope()
	if _, err := s.Store.GetStore(ctx, scope, id); err != nil {
		return err
	}
	if err := s.Vectors.DeleteIndex(ctx, id); err != nil {
		return err
	}
	files, err := s.Store.ListStoreFiles(ctx, scope, id)
	if err != nil {
		return err
	}
	for _, f := range files {
		if _, _, err := s.Store.DeleteStoreFile(ctx, scope, id, f.FileID); err != nil {
			return err
		}
	}
	if err := s.Store.DeleteBatches(ctx, scope, id); err != nil {
		return err
	}
	ok, err := s.Store.DeleteStore(ctx, scope, id)
	if err == nil && !ok {
		err = ErrNotFound
	}
	return err
}

// Attach attaches a file to a store and queues its ingestion; attaching a file
// attached already returns it as it is. The job is recorded before the
// attachment, so no attached file is ever without one.
func (s *Service) Attach(ctx context.Context, cfg *tenant.Config, f StoreFile) (StoreFile, error) {
	scope := cfg.Scope()
	if _, err := s.Store.GetStore(ctx, scope, f.StoreID); err != nil {
		return StoreFile{}, Missing(err, "vector store", f.StoreID)
	}
	if _, err := s.Store.GetFile(ctx, scope, f.FileID); err != nil {
		return StoreFile{}, Missing(err, "file", f.FileID)
	}
	return s.attach(ctx, cfg, f)
}

// attach is Attach once the store and the file are known to be the tenant's.
func (s *Service) attach(ctx context.Context, cfg *tenant.Config, f StoreFile) (StoreFile, error) {
	scope := cfg.Scope()
	if old, err := s.Store.GetStoreFile(ctx, scope, f.StoreID, f.FileID); err == nil {
		return old, nil
	} else if !errors.Is(err, ErrNotFound) {
		return StoreFile{}, err
	}
	now := s.Now().UTC()
	f.Status, f.CreatedAt = InProgress, now.Truncate(time.Second)
	if f.Chunking.MaxTokens == 0 {
		f.Chunking = chunk.Default
	}
	j := Job{TenantID: cfg.ID, Scope: scope, StoreID: f.StoreID, FileID: f.FileID}
	if err := s.Store.AddJob(ctx, j, now); err != nil {
		return StoreFile{}, err
	}
	if err := s.Store.PutStoreFile(ctx, scope, f); errors.Is(err, ErrExists) {
		return s.Store.GetStoreFile(ctx, scope, f.StoreID, f.FileID)
	} else if err != nil {
		return StoreFile{}, err
	}
	_ = s.Store.TouchStore(ctx, scope, f.StoreID, now)
	if err := s.Queue.Enqueue(ctx, j); err != nil {
		// Nothing will ingest the file: undo the attachment, so that the
		// caller's retry starts afresh, and say so. Were the undo to fail too,
		// the recorded job is queued again by the local server's next start
		// (Resume), or on AWS by the ingestion function's sweep.
		s.Log.ErrorContext(ctx, "enqueue ingestion", "storeId", f.StoreID, "fileId", f.FileID, "err", err)
		undo := context.WithoutCancel(ctx)
		if _, _, derr := s.Store.DeleteStoreFile(undo, scope, f.StoreID, f.FileID); derr == nil {
			_ = s.Store.DeleteJob(undo, j)
		}
		return StoreFile{}, fmt.Errorf("%w: %w", ErrQueue, err)
	}
	return f, nil
}

// Detach removes a file from a store: its chunks first, then the attachment
// (a crash between the two leaves the file attached, and detaching it again
// finishes). A file still being ingested is detached at once; its ingestion
// then finds it gone and deletes what it wrote.
func (s *Service) Detach(ctx context.Context, cfg *tenant.Config, storeID, fileID string) error {
	scope := cfg.Scope()
	f, err := s.Store.GetStoreFile(ctx, scope, storeID, fileID)
	if err != nil {
		return err
	}
	if err := s.deleteChunks(ctx, storeID, fileID, f.Chunks); err != nil {
		return err
	}
	_, ok, err := s.Store.DeleteStoreFile(ctx, scope, storeID, fileID)
	if err == nil && !ok {
		err = ErrNotFound
	}
	return err
}

func (s *Service) deleteChunks(ctx context.Context, storeID, fileID string, n int) error {
	if n <= 0 {
		return nil
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = vectors.ChunkKey(fileID, i)
	}
	err := s.Vectors.Delete(ctx, storeID, keys)
	if errors.Is(err, vectors.ErrNoIndex) {
		return nil
	}
	return err
}

// CreateBatch attaches files together, each with attrs and chunking.
func (s *Service) CreateBatch(ctx context.Context, cfg *tenant.Config, storeID string, files []StoreFile) (Batch, error) {
	scope := cfg.Scope()
	if _, err := s.Store.GetStore(ctx, scope, storeID); err != nil {
		return Batch{}, Missing(err, "vector store", storeID)
	}
	for _, f := range files { // every file exists before any is attached
		if _, err := s.Store.GetFile(ctx, scope, f.FileID); err != nil {
			return Batch{}, Missing(err, "file", f.FileID)
		}
	}
	b := Batch{ID: NewID(BatchPrefix, s.Now()), StoreID: storeID, CreatedAt: s.Now().UTC().Truncate(time.Second)}
	for _, f := range files {
		b.FileIDs = append(b.FileIDs, f.FileID)
	}
	if err := s.Store.PutBatch(ctx, scope, b); err != nil {
		return Batch{}, err
	}
	for _, f := range files {
		f.StoreID, f.BatchID = storeID, b.ID
		if _, err := s.attach(ctx, cfg, f); err != nil {
			return Batch{}, err
		}
	}
	return b, nil
}

// BatchCounts returns a batch's file counts and status: in_progress while any
// of its files is, else completed.
func (s *Service) BatchCounts(ctx context.Context, cfg *tenant.Config, b Batch) (FileCounts, string, error) {
	files, err := s.Store.ListStoreFiles(ctx, cfg.Scope(), b.StoreID)
	if err != nil {
		return FileCounts{}, "", err
	}
	var c FileCounts
	for _, f := range files {
		if slices.Contains(b.FileIDs, f.FileID) {
			c.Add(f.Status, 1)
		}
	}
	if c.InProgress > 0 {
		return c, InProgress, nil
	}
	return c, Completed, nil
}

// Resume queues every unfinished ingestion again: at the local server's start,
// and on a schedule on AWS (a job whose message was lost).
func (s *Service) Resume(ctx context.Context) (int, error) {
	jobs, err := s.Store.Jobs(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range jobs {
		if err := s.Queue.Enqueue(ctx, r.Job); err != nil {
			return 0, err
		}
	}
	return len(jobs), nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 200 {
		return strings.ToValidUTF8(s[:200], "") + "…"
	}
	return s
}

// PurgeDeleted deletes what deleted tenants kept outside the table: each
// vector store's index and each file's bytes, then their items (the tenant's
// deletion purged everything else and left these, with a marker, for this).
// Every step may be repeated, so a purge cut short is finished by the next.
// It returns how many scopes it finished.
func (s *Service) PurgeDeleted(ctx context.Context) (int, error) {
	scopes, err := s.Store.KnowledgePurges(ctx)
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	for _, scope := range scopes {
		if err := s.purgeScope(ctx, scope); err != nil {
			errs = append(errs, fmt.Errorf("knowledge: purge %s: %w", scope, err))
			continue
		}
		s.Log.InfoContext(ctx, "purged a deleted tenant's knowledge base", "scope", scope)
		done++
	}
	return done, errors.Join(errs...)
}

func (s *Service) purgeScope(ctx context.Context, scope string) error {
	stores, err := s.Store.ListStores(ctx, scope)
	if err != nil {
		return err
	}
	for _, v := range stores {
		if err := s.Vectors.DeleteIndex(ctx, v.ID); err != nil {
			return err
		}
		if _, err := s.Store.DeleteStore(ctx, scope, v.ID); err != nil {
			return err
		}
	}
	files, err := s.Store.ListFiles(ctx, scope)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := s.Blobs.Delete(ctx, BlobKey(scope, f.ID)); err != nil {
			return err
		}
		if _, _, err := s.Store.DeleteFile(ctx, scope, f.ID); err != nil {
			return err
		}
	}
	return s.Store.EndKnowledgePurge(ctx, scope)
}
