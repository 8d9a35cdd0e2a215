package knowledge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// LocalQueue runs ingestion jobs in the local server's process: Enqueue hands
// a job to one of its workers, which tries it up to Attempts times (the last
// final) with a growing pause between. Jobs are recorded in the table before
// they are queued, so what a stopped process had not finished, Resume queues
// at the next start.
type LocalQueue struct {
	svc      *Service
	log      *slog.Logger
	jobs     chan Job
	Attempts int
	Backoff  time.Duration // the pause after the first failure; doubled after each
	wg       sync.WaitGroup
	mu       sync.Mutex
	queued   map[Job]bool // in the channel or running: queued once however often Resume sees it
}

// NewLocalQueue returns a queue whose workers run svc.Ingest.
func NewLocalQueue(svc *Service, log *slog.Logger) *LocalQueue {
	return &LocalQueue{svc: svc, log: log, jobs: make(chan Job, 4096), Attempts: 3, Backoff: time.Second, queued: map[Job]bool{}}
}

// Enqueue queues j; a full queue is an error (the job stays recorded).
func (q *LocalQueue) Enqueue(_ context.Context, j Job) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.queued[j] {
		return nil
	}
	select {
	case q.jobs <- j:
		q.queued[j] = true
		return nil
	default:
		return errors.New("knowledge: the local ingestion queue is full")
	}
}

// Run starts n workers and returns at once; they stop when ctx ends (Wait
// waits for them).
func (q *LocalQueue) Run(ctx context.Context, n int) {
	for range n {
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-q.jobs:
					q.run(ctx, j)
					q.mu.Lock()
					delete(q.queued, j)
					q.mu.Unlock()
				}
			}
		}()
	}
}

// Wait waits for the workers to stop.
func (q *LocalQueue) Wait() { q.wg.Wait() }

func (q *LocalQueue) run(ctx context.Context, j Job) {
	pause := q.Backoff
	for attempt := 1; attempt <= q.Attempts; attempt++ {
		err := q.svc.Ingest(ctx, j, attempt == q.Attempts)
		if err == nil || ctx.Err() != nil {
			return
		}
		q.log.WarnContext(ctx, "ingestion attempt failed", "storeId", j.StoreID, "fileId", j.FileID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause *= 2
	}
}
