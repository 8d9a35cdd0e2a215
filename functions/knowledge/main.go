// Command knowledge serves the Files and Vector Stores APIs behind API Gateway
// (buffered): /v1/files... and /v1/vector_stores..., each tenant's files in
// the files bucket, its vector stores as indexes of the vector bucket, and
// attached files' ingestion queued to the ingestion function through SQS.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3vectorsapi "github.com/aws/aws-sdk-go-v2/service/s3vectors"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

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
		Queue:   sqsqueue.New(sqs.NewFromConfig(a.AWS), c.IngestQueueURL),
	})
	lambda.Start(httpadapter.New(a.Files()).ProxyWithContext)
}
