package knowledge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/blob"
	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/chunk"
	"github.com/tollgate/tollgate/shared/embedding"
	"github.com/tollgate/tollgate/shared/extract"
	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/vectors"
)

// failure is an ingestion that cannot succeed by trying again: the file ends
// failed with it.
type failure struct{ LastError }

func (f *failure) Error() string { return f.Code + ": " + f.Message }

func fail(code, format string, args ...any) error {
	return &failure{LastError{Code: code, Message: fmt.Sprintf(format, args...)}}
}

// Ingest runs one job: extract the file's text, chunk it, embed the chunks
// with the store's model through the meter, write them to the store's index,
// and mark the file completed; or failed, with its chunks deleted, when that
// cannot be. Any other error means "try again" (the queue redelivers); with
// final set (the queue's last delivery) it fails the file instead, so no file
// stays in progress for ever.
//
// Every step may be repeated: a chunk's key is its file and position, so a
// retried ingestion replaces the chunks an earlier attempt wrote, and the file
// is marked completed (conditionally, once) only after all of them are written.
func (s *Service) Ingest(ctx context.Context, j Job, final bool) error {
	f, pending, err := s.pending(ctx, j)
	if !pending || err != nil {
		return err
	}
	chunks, err := s.ingest(ctx, j, &f)
	var fl *failure
	switch {
	case err == nil:
	case errors.As(err, &fl):
	case final:
		fl = &failure{LastError{Code: "server_error", Message: "ingestion failed: " + clip(err.Error())}}
	default:
		return err
	}
	if fl != nil {
		return s.finishFailed(ctx, j, f, chunks, fl)
	}
	f.Status, f.LastError = Completed, nil
	return s.finish(ctx, j, f, chunks)
}

// pending returns the job's file when it is still in progress; a job whose
// file was detached, or finished (by an earlier delivery), is deleted and not
// pending.
func (s *Service) pending(ctx context.Context, j Job) (StoreFile, bool, error) {
	f, err := s.Store.GetStoreFile(ctx, j.Scope, j.StoreID, j.FileID)
	if errors.Is(err, ErrNotFound) || err == nil && f.Status != InProgress {
		return f, false, s.Store.DeleteJob(ctx, j)
	}
	return f, err == nil, err
}

// finishFailed marks the job's file failed with fl, once the chunks an
// attempt may have written (chunks, or the count f planned) are deleted.
func (s *Service) finishFailed(ctx context.Context, j Job, f StoreFile, chunks int, fl *failure) error {
	if err := s.deleteChunks(ctx, j.StoreID, j.FileID, max(f.Chunks, chunks)); err != nil {
		return err // try again: never mark failed a file whose chunks are still searchable
	}
	f.Status, f.LastError, f.Chunks, f.UsageBytes = Failed, &fl.LastError, 0, 0
	s.Log.WarnContext(ctx, "ingestion failed", "tenantId", j.TenantID, "storeId", j.StoreID, "fileId", j.FileID, "code", fl.Code, "err", fl.Message)
	return s.finish(ctx, j, f, 0)
}

// finish records the job's file as f says (completed or failed), then drops
// the job; chunks is what this attempt wrote, deleted again if the file was
// detached meanwhile.
func (s *Service) finish(ctx context.Context, j Job, f StoreFile, chunks int) error {
	switch err := s.Store.FinishStoreFile(ctx, j.Scope, f); {
	case errors.Is(err, ErrNotPending):
		// Detached meanwhile: what this attempt wrote must go too.
		if derr := s.deleteChunks(ctx, j.StoreID, j.FileID, chunks); derr != nil {
			return derr
		}
	case err != nil:
		return err
	}
	_ = s.Store.TouchStore(ctx, j.Scope, j.StoreID, s.Now())
	return s.Store.DeleteJob(ctx, j)
}

// SweepResult is what one Sweep did: jobs sent again, files failed, and jobs
// dropped because their file had finished or was detached.
type SweepResult struct {
	Resent  int `json:"resent"`
	Failed  int `json:"failed"`
	Dropped int `json:"dropped"`
	Purged  int `json:"purged"` // deleted tenants whose knowledge base was purged (sqsqueue.Function)
}

// Sweep finds the ingestions recorded longer than stale ago and still not
// finished, whose message was lost: a crash between attaching the file and
// queueing its job, or every delivery crashed or timed out (the message went
// to the dead-letter queue). A job never sent again is sent again, once; a job
// sent again already fails its file (server_error), so that no file stays in
// progress for ever and none is retried for ever. A job whose file finished or
// was detached is dropped. stale must exceed the longest a message may wait
// and be delivered (the queue's deliveries times its visibility timeout, and
// any backlog), or a job still on its way is sent twice (harmless: each chunk
// is written once, and the second delivery finds the file finished).
func (s *Service) Sweep(ctx context.Context, stale time.Duration) (SweepResult, error) {
	var res SweepResult
	jobs, err := s.Store.Jobs(ctx)
	if err != nil {
		return res, err
	}
	cutoff := s.Now().Add(-stale)
	var errs []error
	for _, r := range jobs {
		if !r.At.Before(cutoff) {
			continue
		}
		f, pending, err := s.pending(ctx, r.Job)
		switch {
		case err != nil:
		case !pending:
			res.Dropped++
		case r.Resends == 0:
			switch err = s.Store.ResendJob(ctx, r, s.Now()); {
			case errors.Is(err, ErrNotPending): // another sweep took it, or it finished
				err = nil
			case err == nil:
				if err = s.Queue.Enqueue(ctx, r.Job); err == nil {
					res.Resent++
					s.Log.WarnContext(ctx, "ingestion sent again", "tenantId", r.TenantID, "storeId", r.StoreID, "fileId", r.FileID, "queuedAt", r.At)
				}
			}
		default:
			err = s.finishFailed(ctx, r.Job, f, 0, &failure{LastError{Code: "server_error",
				Message: "ingestion did not finish: its runs crashed or timed out, also when sent again"}})
			if err == nil {
				res.Failed++
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("knowledge: sweep the job of file %s in store %s: %w", r.FileID, r.StoreID, err))
		}
	}
	return res, errors.Join(errs...)
}

// ingest does the work of Ingest and returns how many chunks it wrote (or
// planned to write); f gets the chunks and usage.
func (s *Service) ingest(ctx context.Context, j Job, f *StoreFile) (int, error) {
	cfg, err := s.Tenants.Config(ctx, j.TenantID)
	if errors.Is(err, tenant.ErrNotFound) || err == nil && cfg.Scope() != j.Scope {
		return 0, fail("server_error", "the tenant was deleted")
	}
	if err != nil {
		return 0, err
	}
	v, err := s.Store.GetStore(ctx, j.Scope, j.StoreID)
	if errors.Is(err, ErrNotFound) {
		return 0, fail("server_error", "the vector store was deleted")
	}
	if err != nil {
		return 0, err
	}
	file, err := s.Store.GetFile(ctx, j.Scope, j.FileID)
	if errors.Is(err, ErrNotFound) {
		return 0, fail("invalid_file", "the file was deleted")
	}
	if err != nil {
		return 0, err
	}
	data, err := s.Blobs.Get(ctx, BlobKey(j.Scope, j.FileID))
	if errors.Is(err, blob.ErrNotFound) {
		return 0, fail("invalid_file", "the file's content is gone")
	}
	if err != nil {
		return 0, err
	}
	text, err := extract.Text(file.Filename, file.ContentType, data)
	switch {
	case errors.Is(err, extract.ErrUnsupportedType):
		return 0, fail("unsupported_file", "%s", err)
	case errors.Is(err, extract.ErrEmpty), errors.Is(err, extract.ErrInvalid):
		return 0, fail("invalid_file", "%s", err)
	case err != nil:
		return 0, err
	}
	pieces := chunk.Split(text, f.Chunking)
	if len(pieces) == 0 {
		return 0, fail("invalid_file", "the file has no text")
	}
	if err := s.Store.PlanStoreFile(ctx, j.Scope, j.StoreID, j.FileID, len(pieces)); err != nil {
		return 0, err // ErrNotPending: detached meanwhile; tried again, Ingest sees it gone
	}
	m, err := model.Parse(v.Model)
	if err != nil {
		return 0, fail("server_error", "the vector store's model %q: %v", v.Model, err)
	}
	// Each batch is written as soon as it is embedded: a large file never
	// holds all its vectors in memory, and an interrupted ingestion (its file
	// still in progress, so searches skip it) is finished by the next delivery.
	var usage int64
	meta := budget.Meta{Route: RouteIngest}
	for start := 0; start < len(pieces); start += embedBatch {
		batch := pieces[start:min(start+embedBatch, len(pieces))]
		texts := make([]string, len(batch))
		for i, p := range batch {
			texts[i] = p.Text
		}
		vecs, err := s.Embedder.Embed(ctx, &cfg, m, texts, embedding.InputTypes[0], meta)
		if err != nil {
			return len(pieces), embedFailure(err)
		}
		out := make([]vectors.Chunk, len(batch))
		for i, vec := range vecs {
			n := start + i
			out[i] = vectors.Chunk{Key: vectors.ChunkKey(j.FileID, n), FileID: j.FileID, Filename: file.Filename, N: n,
				Text: batch[i].Text, Vector: vec, Attributes: f.Attributes}
			usage += int64(len(batch[i].Text) + 4*len(vec))
		}
		if start == 0 {
			if err := s.Vectors.CreateIndex(ctx, j.StoreID, len(vecs[0])); err != nil {
				return len(pieces), err
			}
		}
		if err := s.Vectors.Put(ctx, j.StoreID, out); err != nil {
			return len(pieces), err
		}
	}
	f.Chunks, f.UsageBytes = len(pieces), usage
	return len(pieces), nil
}

// embedFailure sorts a failed embedding call: a refusal no retry can pass
// (the budget, a model without a price, a model that cannot embed) fails the
// file at once with its code; a passing one (rate limit, provider outage) is
// tried again.
func embedFailure(err error) error {
	var ae *apierr.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Kind {
	case apierr.BudgetExceeded:
		return fail("budget_exceeded", "%s", ae.Message)
	case apierr.RateLimited, apierr.Unavailable, apierr.Timeout, apierr.BadGateway, apierr.Internal:
		return err
	}
	code := ae.Code
	if code == "" {
		code = "server_error"
	}
	return fail(code, "%s", ae.Message)
}
