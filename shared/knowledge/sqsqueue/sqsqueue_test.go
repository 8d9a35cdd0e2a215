package sqsqueue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	smithy "github.com/aws/smithy-go"

	"github.com/tollgate/tollgate/shared/knowledge"
	"github.com/tollgate/tollgate/shared/knowledge/sqsqueue"
	"github.com/tollgate/tollgate/shared/knowledge/sqsqueue/sqstest"
)

func client(baseURL string, creds aws.CredentialsProvider) *sqs.Client {
	return sqs.New(sqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(baseURL), Credentials: creds,
		RetryMaxAttempts: 1, HTTPClient: sqstest.HTTPClient()})
}

var creds = credentials.NewStaticCredentialsProvider(sqstest.AccessKeyID, sqstest.SecretAccessKey, "")

func job(n int) knowledge.Job {
	return knowledge.Job{TenantID: "acme", Scope: "acme.0123456789abcdef",
		StoreID: fmt.Sprintf("%s%028x", knowledge.StorePrefix, 1), FileID: fmt.Sprintf("%s%028x", knowledge.FilePrefix, n)}
}

func TestEnqueueRoundTrip(t *testing.T) {
	h := sqstest.NewHandler()
	var headers []http.Header
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/" {
			t.Errorf("request %s %s, want POST /", r.Method, r.URL.Path)
		}
		headers = append(headers, r.Header.Clone())
		h.ServeHTTP(w, r)
	}))
	defer ts.Close()
	url := h.CreateQueue("ingest")
	c := client(ts.URL, creds)
	j := job(1)
	if err := sqsqueue.New(c, url).Enqueue(t.Context(), j); err != nil {
		t.Fatal(err)
	}
	hd := headers[0]
	if hd.Get("Content-Type") != "application/x-amz-json-1.0" || hd.Get("X-Amz-Target") != "AmazonSQS.SendMessage" ||
		hd.Get("X-Amzn-Query-Mode") != "true" || !strings.Contains(hd.Get("Authorization"), "/us-east-1/sqs/aws4_request") {
		t.Errorf("SendMessage headers: %v", hd)
	}
	want := fmt.Sprintf(`{"MessageBody":%q,"QueueUrl":%q}`, j.Encode(), url)
	if got := string(h.Requests("SendMessage")[0].Body); got != want && got != fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":%q}`, url, j.Encode()) {
		t.Errorf("SendMessage body %s, want %s", got, want)
	}

	// The message as a consumer receives it (the SDK checks MD5OfBody).
	out, err := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10,
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount}})
	if err != nil || len(out.Messages) != 1 {
		t.Fatalf("ReceiveMessage = %+v, %v", out, err)
	}
	m := out.Messages[0]
	if got, err := knowledge.DecodeJob(aws.ToString(m.Body)); err != nil || got != j {
		t.Errorf("received %+v, %v; want %+v", got, err, j)
	}
	if n := m.Attributes["ApproximateReceiveCount"]; n != "1" {
		t.Errorf("ApproximateReceiveCount %q, want 1", n)
	}
	if again, _ := c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &url}); len(again.Messages) != 0 {
		t.Errorf("an in-flight message was received again")
	}
	if _, err := c.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: m.ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	if ms := h.Messages(url); len(ms) != 0 {
		t.Errorf("after DeleteMessage: %+v", ms)
	}
	_, err = c.DeleteMessage(t.Context(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: aws.String("nonsense")})
	if !errors.As(err, new(*types.ReceiptHandleIsInvalid)) {
		t.Errorf("DeleteMessage of a bad handle: %v", err)
	}
}

func TestEnqueueErrors(t *testing.T) {
	srv := sqstest.New()
	defer srv.Close()
	url := srv.CreateQueue("ingest")
	c := client(srv.URL, creds)

	err := sqsqueue.New(c, strings.Replace(url, "ingest", "missing", 1)).Enqueue(t.Context(), job(1))
	var apiErr smithy.APIError
	if !errors.As(err, new(*types.QueueDoesNotExist)) || !errors.As(err, &apiErr) ||
		apiErr.ErrorCode() != "AWS.SimpleQueueService.NonExistentQueue" || !strings.HasPrefix(err.Error(), "sqsqueue: ") {
		t.Errorf("unknown queue: %v", err)
	}
	q := sqsqueue.New(c, url)
	srv.FailNext("SendMessage", "ServiceUnavailable", "try later")
	err = q.Enqueue(t.Context(), job(1))
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ServiceUnavailable" || apiErr.ErrorFault() != smithy.FaultServer ||
		!strings.Contains(err.Error(), "try later") {
		t.Errorf("scripted error: %v", err)
	}
	bad := job(1)
	bad.FileID = "../x"
	if err := q.Enqueue(t.Context(), bad); err == nil || srv.Calls("SendMessage") != 2 {
		t.Errorf("invalid job: %v, %d calls", err, srv.Calls("SendMessage"))
	}
	if ms := srv.Messages(url); len(ms) != 0 {
		t.Errorf("messages after failures: %+v", ms)
	}

	_, err = c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(strings.Repeat("x", sqstest.MaxBodyBytes+1))})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("oversized body: %v", err)
	}
	_, err = c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 11})
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidParameterValue" {
		t.Errorf("MaxNumberOfMessages 11: %v", err)
	}

	// The SDK checks the MD5 the service answers.
	srv.CorruptMD5(true)
	if err := q.Enqueue(t.Context(), job(2)); err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("wrong MD5OfMessageBody: %v", err)
	}
	_, err = c.ReceiveMessage(t.Context(), &sqs.ReceiveMessageInput{QueueUrl: &url})
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("wrong MD5OfBody: %v", err)
	}
}

func TestUnsigned(t *testing.T) {
	srv := sqstest.New()
	defer srv.Close()
	url := srv.CreateQueue("ingest")
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader(fmt.Sprintf(`{"QueueUrl":%q,"MessageBody":"x"}`, url)))
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Header.Get("X-Amzn-Query-Error") != "MissingAuthenticationToken;Sender" ||
		!strings.Contains(string(body), `"__type":"com.amazonaws.sqs#MissingAuthenticationToken"`) {
		t.Errorf("unsigned: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	err = sqsqueue.New(client(srv.URL, aws.AnonymousCredentials{}), url).Enqueue(t.Context(), job(1))
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "MissingAuthenticationToken" || len(srv.Messages(url)) != 0 {
		t.Errorf("anonymous client: %v", err)
	}
}

// ingester fails the files in fail; cancel, when set, is called on the first
// Ingest.
type ingester struct {
	fail   map[string]bool
	cancel func()
	calls  []call
}

type call struct {
	FileID string
	Final  bool
}

func (g *ingester) Ingest(_ context.Context, j knowledge.Job, final bool) error {
	g.calls = append(g.calls, call{j.FileID, final})
	if g.cancel != nil {
		g.cancel()
	}
	if g.fail[j.FileID] {
		return errors.New("embedding provider down")
	}
	return nil
}

func failures(resp events.SQSEventResponse) []string {
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	return ids
}

func TestHandler(t *testing.T) {
	srv := sqstest.New()
	defer srv.Close()
	url := srv.CreateQueue("ingest")
	q := sqsqueue.New(srv.Client(), url)
	for i := range 3 {
		if err := q.Enqueue(t.Context(), job(i)); err != nil {
			t.Fatal(err)
		}
	}
	g := &ingester{fail: map[string]bool{job(1).FileID: true}}
	var logs bytes.Buffer
	handle := sqsqueue.Handler(g, slog.New(slog.NewTextHandler(&logs, nil)), 3)
	for delivery := 1; delivery <= 3; delivery++ {
		ev := srv.Event(url, 10)
		if delivery == 1 && len(ev.Records) != 3 || delivery > 1 && len(ev.Records) != 1 {
			t.Fatalf("delivery %d: %d records", delivery, len(ev.Records))
		}
		g.calls = nil
		resp, err := handle(t.Context(), ev)
		if err != nil {
			t.Fatal(err)
		}
		want := []call{{job(1).FileID, delivery == 3}}
		if delivery == 1 {
			want = []call{{job(0).FileID, false}, {job(1).FileID, false}, {job(2).FileID, false}}
		}
		if !slices.Equal(g.calls, want) {
			t.Errorf("delivery %d: calls %v, want %v", delivery, g.calls, want)
		}
		failed := ev.Records[len(ev.Records)/2].MessageId
		if got := failures(resp); !slices.Equal(got, []string{failed}) {
			t.Errorf("delivery %d: failures %v, want [%s]", delivery, got, failed)
		}
		srv.Ack(url, resp, ev)
		if ms := srv.Messages(url); len(ms) != 1 || ms[0].ID != failed || ms[0].ReceiveCount != delivery || !ms[0].InFlight {
			t.Errorf("delivery %d: left %+v", delivery, ms)
		}
		srv.Expire()
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "receiveCount=3") {
		t.Errorf("logs:\n%s", logs.String())
	}

	// A failure naming no record of the batch fails it all, as in Lambda.
	ev := srv.Event(url, 10)
	srv.Ack(url, events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{{ItemIdentifier: "other"}}}, ev)
	if len(srv.Messages(url)) != 1 {
		t.Errorf("a bad item identifier deleted records")
	}
}

func TestHandlerPoison(t *testing.T) {
	srv := sqstest.New()
	defer srv.Close()
	url := srv.CreateQueue("ingest")
	c := srv.Client()
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(`{"tenantId":"acme"}`)}); err != nil {
		t.Fatal(err)
	}
	if err := sqsqueue.New(c, url).Enqueue(t.Context(), job(1)); err != nil {
		t.Fatal(err)
	}
	g := &ingester{}
	var logs bytes.Buffer
	ev := srv.Event(url, 10)
	resp, _ := sqsqueue.Handler(g, slog.New(slog.NewTextHandler(&logs, nil)), 3)(t.Context(), ev)
	if got := failures(resp); !slices.Equal(got, []string{ev.Records[0].MessageId}) {
		t.Errorf("failures %v, want the poison message %s", got, ev.Records[0].MessageId)
	}
	if !slices.Equal(g.calls, []call{{job(1).FileID, false}}) {
		t.Errorf("calls %v", g.calls)
	}
	if !strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

func TestHandlerCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	g := &ingester{cancel: cancel}
	var ev events.SQSEvent
	for i, n := range []string{"", "bad", "2"} { // missing and bad counts are 1
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: fmt.Sprint("m", i), Body: job(i).Encode(),
			Attributes: map[string]string{"ApproximateReceiveCount": n}})
	}
	resp, err := sqsqueue.Handler(g, slog.New(slog.DiscardHandler), 1)(ctx, ev)
	if err != nil || !slices.Equal(failures(resp), []string{"m1", "m2"}) || !slices.Equal(g.calls, []call{{job(0).FileID, true}}) {
		t.Errorf("cancelled: failures %v, calls %v, %v", failures(resp), g.calls, err)
	}
	g = &ingester{}
	if resp, _ := sqsqueue.Handler(g, slog.New(slog.DiscardHandler), 2)(t.Context(), ev); len(resp.BatchItemFailures) != 0 ||
		!slices.Equal(g.calls, []call{{job(0).FileID, false}, {job(1).FileID, false}, {job(2).FileID, true}}) {
		t.Errorf("receive counts: calls %v, failures %v", g.calls, failures(resp))
	}
}

// worker is an ingester that also sweeps, answering sweepErr.
type worker struct {
	ingester
	sweeps   []time.Duration
	sweepErr error
}

func (w *worker) PurgeDeleted(context.Context) (int, error) { return 2, nil }

func (w *worker) Sweep(_ context.Context, stale time.Duration) (knowledge.SweepResult, error) {
	w.sweeps = append(w.sweeps, stale)
	return knowledge.SweepResult{Resent: 1}, w.sweepErr
}

// TestFunction: the ingestion function's handler sends SQS events to the
// jobs, the schedule's event to the sweep (whose failure is the invocation's
// error), and refuses anything else.
func TestFunction(t *testing.T) {
	w := &worker{ingester: ingester{fail: map[string]bool{}}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fn := sqsqueue.Function(w, log, 3, time.Hour)
	sqsEvent := fmt.Sprintf(`{"Records":[{"messageId":"m1","body":%q,"attributes":{"ApproximateReceiveCount":"3"},"eventSource":"aws:sqs"}]}`, job(1).Encode())
	out, err := fn(t.Context(), json.RawMessage(sqsEvent))
	if resp, ok := out.(events.SQSEventResponse); err != nil || !ok || len(resp.BatchItemFailures) != 0 || len(w.calls) != 1 || !w.calls[0].Final {
		t.Errorf("SQS event: %#v, %v; calls %v", out, err, w.calls)
	}
	scheduled := `{"source":"aws.scheduler","detail-type":"Scheduled Event","detail":{}}`
	if out, err := fn(t.Context(), json.RawMessage(scheduled)); err != nil || out.(knowledge.SweepResult).Resent != 1 || out.(knowledge.SweepResult).Purged != 2 || len(w.sweeps) != 1 || w.sweeps[0] != time.Hour {
		t.Errorf("scheduled event: %#v, %v; sweeps %v", out, err, w.sweeps)
	}
	w.sweepErr = errors.New("table unavailable")
	if _, err := fn(t.Context(), json.RawMessage(scheduled)); err == nil {
		t.Error("a failed sweep is no error of the invocation")
	}
	for _, bad := range []string{`{"hello":1}`, `[1]`, `nope`} {
		if _, err := fn(t.Context(), json.RawMessage(bad)); err == nil {
			t.Errorf("event %s: no error", bad)
		}
	}
	if len(w.calls) != 1 || len(w.sweeps) != 2 {
		t.Errorf("after the bad events: %d ingestions, %d sweeps", len(w.calls), len(w.sweeps))
	}
}
