// Package sqsqueue carries the knowledge base's ingestion jobs on Amazon SQS:
// Queue sends them (knowledge.Queue), Handler is the ingestion Lambda
// function's handler of the queue's events.
//
// The event source mapping must have ReportBatchItemFailures, and the queue a
// redrive policy whose maxReceiveCount is the maxReceives given Handler: the
// last delivery is the final attempt, and what fails it reaches the
// dead-letter queue.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tollgate/tollgate/shared/knowledge"
)

// API is what Queue uses of *sqs.Client.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Queue sends jobs to the SQS queue at a URL.
type Queue struct {
	client   API
	queueURL string
}

var _ knowledge.Queue = (*Queue)(nil)

// New returns a queue sending to queueURL through client.
func New(client API, queueURL string) *Queue { return &Queue{client: client, queueURL: queueURL} }

// Enqueue sends j as one message, its body j.Encode(). A job DecodeJob would
// refuse is not sent: it could never be ingested.
func (q *Queue) Enqueue(ctx context.Context, j knowledge.Job) error {
	body := j.Encode()
	if _, err := knowledge.DecodeJob(body); err != nil {
		return fmt.Errorf("sqsqueue: %w", err)
	}
	_, err := q.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.queueURL), MessageBody: aws.String(body)})
	if err != nil {
		return fmt.Errorf("sqsqueue: send job of file %s in store %s: %w", j.FileID, j.StoreID, err)
	}
	return nil
}

// Ingester runs a job; *knowledge.Service is one. final is set on the last
// delivery.
type Ingester interface {
	Ingest(ctx context.Context, j knowledge.Job, final bool) error
}

// Handler returns the Lambda handler of the queue's events: each record's job
// is ingested in turn, final when the record's ApproximateReceiveCount is at
// least maxReceives (the redrive policy's maxReceiveCount; below 1 is 1).
// Records whose ingestion fails are reported in BatchItemFailures, so that
// SQS delivers them again and, after maxReceives deliveries, moves them to
// the dead-letter queue; so is a body that is not a job (logged as an error),
// which no retry can mend, so that it reaches the dead-letter queue and its
// alarm. Once ctx is done the records left are reported without being tried.
// The handler never returns an error: that would fail the whole batch.
func Handler(svc Ingester, log *slog.Logger, maxReceives int) func(context.Context, events.SQSEvent) (events.SQSEventResponse, error) {
	maxReceives = max(maxReceives, 1)
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		var resp events.SQSEventResponse
		for i, r := range ev.Records {
			if err := ctx.Err(); err != nil {
				for _, r := range ev.Records[i:] {
					resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				}
				log.WarnContext(ctx, "ingestion batch cut short", "untried", len(ev.Records)-i, "err", err)
				break
			}
			count, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"])
			if err != nil || count < 1 {
				count = 1
			}
			j, err := knowledge.DecodeJob(r.Body)
			if err != nil {
				log.ErrorContext(ctx, "ingestion message is not a job", "messageId", r.MessageId, "receiveCount", count, "err", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
				continue
			}
			final := count >= maxReceives
			if err := svc.Ingest(ctx, j, final); err != nil {
				log.WarnContext(ctx, "ingestion attempt failed", "messageId", r.MessageId, "tenantId", j.TenantID,
					"storeId", j.StoreID, "fileId", j.FileID, "receiveCount", count, "final", final, "err", err)
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			}
		}
		return resp, nil
	}
}

// Worker is what the ingestion function runs: jobs, and the sweep of those
// whose message was lost. *knowledge.Service is one.
type Worker interface {
	Ingester
	Sweep(ctx context.Context, stale time.Duration) (knowledge.SweepResult, error)
	PurgeDeleted(ctx context.Context) (int, error)
}

// Function returns the ingestion function's Lambda handler: an SQS event goes
// to Handler's handler; a scheduled event (EventBridge Scheduler's, with
// "detail-type": "Scheduled Event") sweeps the jobs older than stale
// (knowledge.Service.Sweep) and purges deleted tenants' files and vector
// stores (PurgeDeleted); a failure of either is the invocation's error, so
// that the schedule retries it and the function's error alarm sees it.
// Anything else is an error.
func Function(w Worker, log *slog.Logger, maxReceives int, stale time.Duration) func(context.Context, json.RawMessage) (any, error) {
	jobs := Handler(w, log, maxReceives)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var shape struct {
			Records    []json.RawMessage `json:"Records"`
			DetailType string            `json:"detail-type"`
		}
		if err := json.Unmarshal(raw, &shape); err != nil {
			return nil, fmt.Errorf("sqsqueue: the event is not JSON: %w", err)
		}
		switch {
		case shape.Records != nil:
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("sqsqueue: not an SQS event: %w", err)
			}
			return jobs(ctx, ev)
		case shape.DetailType == "Scheduled Event":
			res, err := w.Sweep(ctx, stale)
			n, perr := w.PurgeDeleted(ctx)
			res.Purged = n
			err = errors.Join(err, perr)
			log.InfoContext(ctx, "ingestion sweep", "resent", res.Resent, "failed", res.Failed, "dropped", res.Dropped, "purged", n, "ok", err == nil)
			if err != nil {
				log.ErrorContext(ctx, "ingestion sweep failed", "err", err)
				return nil, err
			}
			return res, nil
		}
		return nil, fmt.Errorf("sqsqueue: neither an SQS nor a scheduled event")
	}
}
