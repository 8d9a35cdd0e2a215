// Command ingest is the ingestion worker: SQS delivers it the jobs the
// knowledge function queued, one attached file each; it extracts, chunks and
// embeds the file (metered to its tenant) and indexes the chunks in the vector
// bucket. A failed job is reported back to SQS, which delivers it again up to
// INGEST_MAX_RECEIVES times (the last try marks the file failed), then moves
// it to the dead-letter queue. Hourly, a scheduled event sweeps the jobs
// unfinished INGEST_STALE_AFTER after they were queued, whose message was
// lost: each is sent again once, then its file fails.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3vectorsapi "github.com/aws/aws-sdk-go-v2/service/s3vectors"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tollgate/tollgate/shared/app"
	"github.com/tollgate/tollgate/shared/blob/s3blob"
	"github.com/tollgate/tollgate/shared/knowledge/sqsqueue"
	"github.com/tollgate/tollgate/shared/vectors/s3vectors"
)

func main() {
	a, err := app.FromEnv(context.Background(), os.Getenv)
	if err != nil {
		os.Exit(1)
	}
	c := a.Config
	a.UseKnowledge(app.KnowledgeBackends{
		Blobs:   s3blob.New(s3.NewFromConfig(a.AWS), c.FilesBucket),
		Vectors: s3vectors.New(s3vectorsapi.NewFromConfig(a.AWS), c.VectorBucket),
		Queue:   sqsqueue.New(sqs.NewFromConfig(a.AWS), c.IngestQueueURL), // the sweep sends lost jobs again
	})
	svc, err := a.Knowledge()
	if err != nil {
		a.Log.Error("knowledge base", "err", err)
		os.Exit(1)
	}
	lambda.Start(sqsqueue.Function(svc, a.Log, c.IngestMaxReceives, c.IngestStaleAfter))
}
