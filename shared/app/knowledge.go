package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/blob"
	"github.com/tollgate/tollgate/shared/gateway"
	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/knowledgeapi"
	"github.com/tollgate/tollgate/shared/vectors"
	"github.com/tollgate/tollgate/shared/vectors/embedded"
)

// Knowledge returns the knowledge base, built once, on first use. On AWS its
// parts are those UseKnowledge set; locally file bytes are kept under
// LOCAL_DATA_DIR/files, vectors in the embedded database under
// LOCAL_DATA_DIR/vectors, and ingestion jobs run in this process
// (RunIngestion).
func (a *App) Knowledge() (*knowledge.Service, error) {
	a.knowledgeOnce.Do(func() { a.knowledge, a.knowledgeErr = a.newKnowledge() })
	return a.knowledge, a.knowledgeErr
}

// KnowledgeBackends are the knowledge base's AWS parts. Each function that
// serves it sets those it uses (UseKnowledge) before its first request, so no
// other bootstrap links an S3, S3 Vectors or SQS client, and no role needs to
// grant more than its bootstrap can call. A function never reaches the parts
// it leaves nil: the chat function only searches (Vectors).
type KnowledgeBackends struct {
	Blobs   blob.Store      // the files bucket, FILES_BUCKET
	Vectors vectors.Store   // the vector bucket, VECTOR_BUCKET
	Queue   knowledge.Queue // the ingestion queue, INGEST_QUEUE_URL
}

// UseKnowledge makes the knowledge base use b instead of the local backends.
func (a *App) UseKnowledge(b KnowledgeBackends) { a.backends = &b }

func (a *App) newKnowledge() (*knowledge.Service, error) {
	c := a.Config
	svc := &knowledge.Service{Store: a.Store, Embedder: gateway.New(a.chatDeps()), Tenants: a.Tenants, Log: a.Log,
		Now: func() time.Time { return a.Now() }, MaxFileBytes: c.FileMaxBytes, DefaultStorageBytes: c.FileStorageQuota}
	if b := a.backends; b != nil {
		for _, v := range []struct {
			set      bool
			name, is string
		}{{b.Blobs != nil, "FILES_BUCKET", c.FilesBucket}, {b.Vectors != nil, "VECTOR_BUCKET", c.VectorBucket},
			{b.Queue != nil, "INGEST_QUEUE_URL", c.IngestQueueURL}} {
			if v.set && v.is == "" {
				return nil, fmt.Errorf("app: %s is unset", v.name)
			}
		}
		svc.Blobs, svc.Vectors, svc.Queue = b.Blobs, b.Vectors, b.Queue
		return svc, nil
	}
	switch {
	case c.FilesBucket != "" || c.VectorBucket != "" || c.IngestQueueURL != "":
		return nil, errors.New("app: FILES_BUCKET, VECTOR_BUCKET and INGEST_QUEUE_URL are served by the knowledge, ingest and chat functions only")
	case lambdacontext.FunctionName != "":
		return nil, errors.New("app: this function does not serve the knowledge base (its file system is read-only)")
	}
	svc.Blobs = blob.NewDir(filepath.Join(c.LocalDataDir, "files"))
	dir := filepath.Join(c.LocalDataDir, "vectors")
	svc.Vectors = &lazyVectors{open: func() (vectors.Store, error) { return a.embeddedVectors(dir) }}
	a.localQueue = knowledge.NewLocalQueue(svc, a.Log)
	svc.Queue = a.localQueue
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
	a.purgeWG.Add(1)
	go func() { // deleted tenants' files and vectors, as the ingestion function's hourly sweep does on AWS
		defer a.purgeWG.Done()
		t := time.NewTicker(purgeEvery)
		defer t.Stop()
		for {
			if _, err := svc.PurgeDeleted(ctx); err != nil && ctx.Err() == nil {
				a.Log.Error("purge deleted tenants' knowledge bases", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return err
}

// purgeEvery is how often the local server purges deleted tenants' files and
// vectors.
const purgeEvery = time.Minute

// WaitIngestion waits for the in-process ingestion workers to stop (after the
// context given to RunIngestion ended).
func (a *App) WaitIngestion() {
	if a.localQueue != nil {
		a.localQueue.Wait()
	}
	a.purgeWG.Wait()
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

func unavailable(err error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, &apierr.Error{Kind: apierr.Unavailable, Code: "knowledge_unavailable", Message: "the knowledge base is unavailable", Err: err})
	})
}
