package app

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/blob"
	"github.com/tollgate/tollgate/shared/gateway"
	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/knowledgeapi"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/vectors/embedded"
)

// Knowledge returns the knowledge base: file bytes in FILES_BUCKET (else under
// LOCAL_DATA_DIR/files), vectors in VECTOR_BUCKET's S3 Vectors indexes (else
// the embedded database under LOCAL_DATA_DIR/vectors), ingestion jobs on
// INGEST_QUEUE_URL (else run in this process: see RunIngestion). It is built
// once, on first use.
func (a *App) Knowledge() (*knowledge.Service, error) {
	a.knowledgeOnce.Do(func() { a.knowledge, a.knowledgeErr = a.newKnowledge() })
	return a.knowledge, a.knowledgeErr
}

func (a *App) newKnowledge() (*knowledge.Service, error) {
	c := a.Config
	svc := &knowledge.Service{Store: a.Store, Embedder: gateway.New(a.chatDeps()), Tenants: a.Tenants, Log: a.Log,
		Now: func() time.Time { return a.Now() }, MaxFileBytes: c.FileMaxBytes, DefaultStorageBytes: c.FileStorageQuota}
	if c.FilesBucket != "" {
		svc.Blobs = blob.NewS3(s3.NewFromConfig(a.aws), c.FilesBucket)
	} else {
		svc.Blobs = blob.NewDir(filepath.Join(c.LocalDataDir, "files"))
	}
	if c.VectorBucket != "" {
		// The S3 Vectors backend (issue 17, item 4) is not built yet: a
		// deployment that names a vector bucket gets a knowledge base that
		// says so (503 knowledge_unavailable) rather than one that loses vectors.
		return nil, fmt.Errorf("app: VECTOR_BUCKET %q: this build has no S3 Vectors backend yet", c.VectorBucket)
	} else {
		dir := filepath.Join(c.LocalDataDir, "vectors")
		svc.Vectors = &lazyVectors{open: func() (vectors.Store, error) { return a.embeddedVectors(dir) }}
	}
	if c.IngestQueueURL != "" {
		svc.Queue = &knowledge.SQSQueue{Client: sqs.NewFromConfig(a.aws), URL: c.IngestQueueURL}
	} else {
		a.localQueue = knowledge.NewLocalQueue(svc, a.Log)
		svc.Queue = a.localQueue
	}
	return svc, nil
}

// lazyVectors opens the embedded vector database on first use, so a process
// that never touches the knowledge base never reads or makes its directory.
type lazyVectors struct {
	once sync.Once
	open func() (vectors.Store, error)
	st   vectors.Store
	err  error
}

func (l *lazyVectors) get() (vectors.Store, error) {
	l.once.Do(func() { l.st, l.err = l.open() })
	return l.st, l.err
}

func (l *lazyVectors) CreateIndex(ctx context.Context, name string, dim int) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.CreateIndex(ctx, name, dim)
}

func (l *lazyVectors) DeleteIndex(ctx context.Context, name string) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.DeleteIndex(ctx, name)
}

func (l *lazyVectors) Put(ctx context.Context, name string, chunks []vectors.Chunk) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.Put(ctx, name, chunks)
}

func (l *lazyVectors) Delete(ctx context.Context, name string, keys []string) error {
	st, err := l.get()
	if err != nil {
		return err
	}
	return st.Delete(ctx, name, keys)
}

func (l *lazyVectors) Query(ctx context.Context, name string, vector []float32, topK int, f *vectors.Filter) ([]vectors.Match, error) {
	st, err := l.get()
	if err != nil {
		return nil, err
	}
	return st.Query(ctx, name, vector, topK, f)
}

func (a *App) embeddedVectors(dir string) (vectors.Store, error) {
	st, err := embedded.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("app: open the embedded vector database: %w", err)
	}
	return st, nil
}

// RunIngestion starts the in-process ingestion workers (when jobs are not
// sent to SQS) and queues the jobs an earlier process left unfinished; they
// stop when ctx ends.
func (a *App) RunIngestion(ctx context.Context, workers int) error {
	svc, err := a.Knowledge()
	if err != nil {
		return err
	}
	if a.localQueue == nil {
		return nil
	}
	a.localQueue.Run(ctx, workers)
	n, err := svc.Resume(ctx)
	if n > 0 {
		a.Log.Info("resumed ingestion", "jobs", n)
	}
	return err
}

// WaitIngestion waits for the in-process ingestion workers to stop (after the
// context given to RunIngestion ended).
func (a *App) WaitIngestion() {
	if a.localQueue != nil {
		a.localQueue.Wait()
	}
}

// registerKnowledge adds the Files and Vector Stores routes.
func (a *App) registerKnowledge(mux *http.ServeMux) {
	svc, err := a.Knowledge()
	if err != nil {
		mux.Handle("/v1/files", unavailable(err))
		mux.Handle("/v1/files/", unavailable(err))
		mux.Handle("/v1/vector_stores", unavailable(err))
		mux.Handle("/v1/vector_stores/", unavailable(err))
		a.Log.Error("knowledge base unavailable", "err", err)
		return
	}
	knowledgeapi.Register(mux, knowledgeapi.Deps{Log: a.Log, Service: svc, Tenants: a.Tenants, Now: a.Now,
		MaxBody: a.Config.MaxRequestBytes, MaxUpload: a.Config.FileMaxBytes + 64<<10})
}

// Knowledge returns the knowledge function's routes: /v1/files and /v1/vector_stores.
func (a *App) KnowledgeRoutes() http.Handler { return a.handler("knowledge", a.registerKnowledge) }

// IngestJob returns the ingestion function's SQS handler: each message is one
// job; a failed one is reported as a batch item failure, so SQS delivers it
// again (and, after maxReceives deliveries, to the dead-letter queue). The last
// delivery is final: its failure fails the file instead of being retried.
func (a *App) IngestJob(maxReceives int) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var out events.SQSEventResponse
		svc, err := a.Knowledge()
		if err != nil {
			return out, err
		}
		for _, m := range ev.Records {
			j, err := knowledge.DecodeJob(m.Body)
			if err != nil {
				a.Log.ErrorContext(ctx, "ingestion message", "messageId", m.MessageId, "err", err)
				continue // a malformed message never succeeds: drop it
			}
			final := receiveCount(m) >= maxReceives
			if err := svc.Ingest(ctx, j, final); err != nil {
				a.Log.WarnContext(ctx, "ingestion", "messageId", m.MessageId, "storeId", j.StoreID, "fileId", j.FileID, "final", final, "err", err)
				out.BatchItemFailures = append(out.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			}
		}
		return out, nil
	}
}

func receiveCount(m events.SQSMessage) int {
	n := 0
	_, _ = fmt.Sscan(m.Attributes["ApproximateReceiveCount"], &n)
	return n
}

func unavailable(err error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, &apierr.Error{Kind: apierr.Unavailable, Code: "knowledge_unavailable", Message: "the knowledge base is unavailable", Err: err})
	})
}
