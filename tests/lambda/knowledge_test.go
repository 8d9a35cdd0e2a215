package lambda_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tollgate/tollgate/shared/blob/s3blob/s3blobtest"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/knowledge/sqsqueue/sqstest"
	"github.com/tollgate/tollgate/shared/tenant"
	"github.com/tollgate/tollgate/shared/vectors/s3vectors/s3vectorstest"
	"github.com/tollgate/tollgate/tests/lambdatest"
)

const (
	filesBucket  = "tollgate-files"
	vectorBucket = "tollgate-vectors"
	otherKey     = "tg_EXAMPLE_key_for_sample_events_only_11111111"
)

// knowledgeDocs are the files the AWS knowledge test ingests, one topic each.
var knowledgeDocs = map[string]string{
	"refunds.txt":  "Refunds: a customer may return any unopened product within thirty days of delivery for a full refund to the original payment method.",
	"shipping.txt": "Shipping: orders placed before noon ship the same business day from the Rotterdam warehouse; delivery within the European Union takes two to four days.",
	"warranty.txt": "Warranty: every blender carries a five year warranty covering the motor; the jug and blades are covered for one year against manufacturing defects.",
}

// awsKnowledge is the knowledge base as deployed: the knowledge, ingestion
// and chat bootstraps through the Lambda emulators, dynalite as DynamoDB, and
// the protocol-exact fakes of S3, S3 Vectors and SQS.
type awsKnowledge struct {
	t         *testing.T
	knowledge *lambdatest.RIE
	ingest    *lambdatest.RIE
	chat      *lambdatest.Runtime
	s3        *s3blobtest.Server
	vectors   *s3vectorstest.Handler
	sqs       *sqstest.Server
	queue     string
	store     *dynamo.Store // the table, as the admin function sees it
}

func startAWSKnowledge(t *testing.T, extra map[string]string) *awsKnowledge {
	t.Helper()
	s3 := s3blobtest.New()
	t.Cleanup(s3.Close)
	s3.CreateBucket(filesBucket)
	vh := s3vectorstest.NewHandler()
	vh.CreateBucket(vectorBucket)
	vs := httptest.NewServer(vh)
	t.Cleanup(vs.Close)
	sq := sqstest.New()
	t.Cleanup(sq.Close)
	queue := sq.CreateQueue("tollgate-ingest")

	env, table := functionEnv(t, map[string]string{
		"MODELS":                     "echo/echo-1,echo/echo-embed-1",
		"AWS_ENDPOINT_URL_S3":        s3.URL,
		"AWS_ENDPOINT_URL_S3VECTORS": vs.URL,
		"AWS_ENDPOINT_URL_SQS":       sq.URL,
		"FILES_BUCKET":               filesBucket,
		// The template passes the vector bucket's ARN.
		"VECTOR_BUCKET":       "arn:aws:s3vectors:us-east-1:123456789012:bucket/" + vectorBucket,
		"INGEST_QUEUE_URL":    queue,
		"INGEST_MAX_RECEIVES": "3",
	})
	for k, v := range extra {
		env[k] = v
	}
	st := dynamo.New(dynamotest.Require(t, ddb).Client(), table)
	now := time.Now()
	for id, key := range map[string]string{"acme": eventKey, "globex": otherKey} {
		cfg, _, err := st.PutTenant(t.Context(), tenant.Config{ID: id, TokenBudget: tenant.Budget{Daily: 1_000_000}}, nil, now)
		if err != nil {
			t.Fatal(err)
		}
		k := tenant.Key{ID: "key_" + fmt.Sprintf("%016x", len(id)), TenantID: id, CreatedAt: now, Incarnation: cfg.Incarnation}
		if err := st.CreateKey(t.Context(), k, tenant.HashKey(key)); err != nil {
			t.Fatal(err)
		}
	}
	return &awsKnowledge{t: t, s3: s3, vectors: vh, sqs: sq, queue: queue, store: st,
		knowledge: lambdatest.StartRIE(t, lambdatest.Build(t, "knowledge"), env),
		ingest:    lambdatest.StartRIE(t, lambdatest.Build(t, "ingest"), env),
		chat:      lambdatest.StartRuntime(t, lambdatest.Build(t, "chat"), env),
	}
}

// apiEvent is the REST API's proxy event of a request to route (the
// template's path, with {id} and {file} filled from params).
func apiEvent(key, method, route string, params map[string]string, contentType string, body []byte, binary bool) events.APIGatewayProxyRequest {
	path := route
	for k, v := range params {
		path = strings.ReplaceAll(path, "{"+k+"}", v)
	}
	h := map[string]string{"Authorization": "Bearer " + key, "Host": "abc123.execute-api.us-east-1.amazonaws.com"}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	mv := map[string][]string{}
	for k, v := range h {
		mv[k] = []string{v}
	}
	ev := events.APIGatewayProxyRequest{Resource: route, Path: path, HTTPMethod: method, Headers: h, MultiValueHeaders: mv,
		PathParameters: params, Body: string(body),
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: fmt.Sprintf("req-%d", time.Now().UnixNano()), Stage: "v1",
			ResourcePath: route, HTTPMethod: method}}
	if binary { // API Gateway base64-encodes bodies of its binary media types
		ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return ev
}

// call invokes the knowledge function and decodes its JSON answer into out
// (when not nil); it returns the status.
func (k *awsKnowledge) call(key, method, route string, params map[string]string, body any, out any) int {
	k.t.Helper()
	var raw []byte
	ct := ""
	if body != nil {
		raw, _ = json.Marshal(body)
		ct = "application/json"
	}
	return k.decode(k.knowledge.InvokeAPI(k.t, apiEvent(key, method, route, params, ct, raw, false)), out)
}

func (k *awsKnowledge) decode(res events.APIGatewayProxyResponse, out any) int {
	k.t.Helper()
	body := []byte(res.Body)
	if res.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
			k.t.Fatal(err)
		}
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			k.t.Fatalf("status %d: %v in %s", res.StatusCode, err, body)
		}
	}
	return res.StatusCode
}

func (k *awsKnowledge) upload(key, name string, content []byte) (int, map[string]any) {
	k.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("purpose", "assistants")
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, name))
	h.Set("Content-Type", "text/plain")
	w, _ := mw.CreatePart(h)
	_, _ = w.Write(content)
	_ = mw.Close()
	var out map[string]any
	st := k.decode(k.knowledge.InvokeAPI(k.t, apiEvent(key, "POST", "/v1/files", nil, mw.FormDataContentType(), body.Bytes(), true)), &out)
	return st, out
}

// deliver hands the queue's visible messages to the ingestion function as
// Lambda's event source mapping does (one per event: BatchSize 1), deleting
// those it did not report failed; it returns the failures.
func (k *awsKnowledge) deliver() (delivered, failed int) {
	k.t.Helper()
	for {
		ev := k.sqs.Event(k.queue, 1)
		if len(ev.Records) == 0 {
			return delivered, failed
		}
		b, _ := json.Marshal(ev)
		var resp events.SQSEventResponse
		if err := json.Unmarshal(k.ingest.Invoke(k.t, b), &resp); err != nil {
			k.t.Fatal(err)
		}
		k.sqs.Ack(k.queue, resp, ev)
		delivered++
		failed += len(resp.BatchItemFailures)
	}
}

type storeFile struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	LastError *struct {
		Code string `json:"code"`
	} `json:"last_error"`
}

const (
	storeRoute     = "/v1/vector_stores/{id}"
	storeFiles     = "/v1/vector_stores/{id}/files"
	storeFileRoute = "/v1/vector_stores/{id}/files/{file}"
)

// TestKnowledgeOnAWS drives the knowledge base as deployed: an upload lands
// in the files bucket under the tenant's prefix, an attachment queues one SQS
// message, the ingestion function indexes the file into the vector bucket,
// search and a file_search chat request find it, a failing delivery is
// retried and the last one marks the file failed, a queue that refuses the
// job leaves nothing attached, and another tenant sees none of it.
func TestKnowledgeOnAWS(t *testing.T) {
	t.Parallel()
	k := startAWSKnowledge(t, nil)

	files := map[string]string{} // name -> id
	for name, text := range knowledgeDocs {
		st, file := k.upload(eventKey, name, []byte(text))
		id, _ := file["id"].(string)
		if st != 200 || !strings.HasPrefix(id, "file-") {
			t.Fatalf("upload %s: %d %v", name, st, file)
		}
		files[name] = id
	}
	fileID := files["warranty.txt"]
	puts := k.s3.Requests("PutObject")
	if len(puts) != len(knowledgeDocs) {
		t.Fatalf("%d PutObject calls, want %d", len(puts), len(knowledgeDocs))
	}
	// Keys are tenant-prefixed: tenants/<tenant scope>/files/<file id>.
	key := strings.TrimPrefix(puts[len(puts)-1].Path, "/"+filesBucket+"/")
	if !strings.HasPrefix(key, "tenants/acme") || !strings.Contains(key, "/files/file-") {
		t.Errorf("object key %q, want tenants/acme.../files/<id>", key)
	}
	for name, id := range files {
		scoped := strings.Replace(key, key[strings.LastIndex(key, "/")+1:], id, 1)
		if b, ok := k.s3.Object(filesBucket, scoped); !ok || string(b) != knowledgeDocs[name] {
			t.Errorf("the files bucket holds %q (%v) under %s", b, ok, scoped)
		}
	}

	var store map[string]any
	if st := k.call(eventKey, "POST", "/v1/vector_stores", nil, map[string]any{"name": "policies"}, &store); st != 200 {
		t.Fatalf("create store: %d %v", st, store)
	}
	storeID := store["id"].(string)
	ids := map[string]string{"id": storeID}
	attach := map[string]any{"file_id": fileID}

	// The queue refuses the job: nothing stays attached, and a retry works.
	for range 3 { // the SDK's attempts
		k.sqs.FailNext("SendMessage", "InternalError", "scripted")
	}
	var refused errorBody
	if st := k.call(eventKey, "POST", storeFiles, ids, attach, &refused); st != 503 || refused.Error.Code == nil || *refused.Error.Code != "ingestion_unavailable" {
		t.Errorf("attach with the queue down: %d %+v, want 503 ingestion_unavailable", st, refused)
	}
	if st := k.call(eventKey, "GET", storeFileRoute, map[string]string{"id": storeID, "file": fileID}, nil, nil); st != 404 {
		t.Errorf("the refused attachment: GET %d, want 404", st)
	}

	var sf storeFile
	if st := k.call(eventKey, "POST", storeFiles, ids, attach, &sf); st != 200 || sf.Status != "in_progress" {
		t.Fatalf("attach: %d %+v", st, sf)
	}
	if msgs := k.sqs.Messages(k.queue); len(msgs) != 1 {
		t.Fatalf("%d messages queued, want 1", len(msgs))
	}
	// The first delivery fails (the files bucket errs on every attempt of the
	// SDK's three): reported, so SQS delivers it again; the second succeeds.
	for range 3 {
		k.s3.FailNext("GetObject", "InternalError", 500)
	}
	if d, f := k.deliver(); d != 1 || f != 1 {
		t.Fatalf("first delivery: %d delivered, %d failed; want 1 and 1", d, f)
	}
	k.call(eventKey, "GET", storeFileRoute, map[string]string{"id": storeID, "file": fileID}, nil, &sf)
	if sf.Status != "in_progress" {
		t.Errorf("after a failed delivery the file is %q, want in_progress", sf.Status)
	}
	k.sqs.Expire() // the visibility timeout ends
	if d, f := k.deliver(); d != 1 || f != 0 {
		t.Fatalf("second delivery: %d delivered, %d failed; want 1 and 0\n%s", d, f, k.ingest.Output())
	}
	k.call(eventKey, "GET", storeFileRoute, map[string]string{"id": storeID, "file": fileID}, nil, &sf)
	if sf.Status != "completed" {
		t.Fatalf("file %+v, want completed\n%s", sf, k.ingest.Output())
	}

	// The other two as a batch.
	var batch struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		FileCounts struct {
			Completed int `json:"completed"`
		} `json:"file_counts"`
	}
	if st := k.call(eventKey, "POST", storeRoute+"/file_batches", ids, map[string]any{"file_ids": []string{files["refunds.txt"], files["shipping.txt"]}}, &batch); st != 200 || batch.Status != "in_progress" {
		t.Fatalf("batch: %d %+v", st, batch)
	}
	if d, f := k.deliver(); d != 2 || f != 0 {
		t.Fatalf("batch delivery: %d delivered, %d failed; want 2 and 0", d, f)
	}
	if st := k.call(eventKey, "GET", storeRoute+"/file_batches/{batch}", map[string]string{"id": storeID, "batch": batch.ID}, nil, &batch); st != 200 || batch.Status != "completed" || batch.FileCounts.Completed != 2 {
		t.Errorf("batch after ingestion: %d %+v", st, batch)
	}
	if n := len(k.sqs.Messages(k.queue)); n != 0 {
		t.Errorf("%d messages left on the queue", n)
	}
	if k.vectors.Calls("PutVectors") < 3 || k.vectors.Calls("CreateIndex") < 1 {
		t.Errorf("S3 Vectors saw %d PutVectors and %d CreateIndex calls", k.vectors.Calls("PutVectors"), k.vectors.Calls("CreateIndex"))
	}

	// Search through the knowledge function: the warranty paragraph first.
	var found struct {
		Data []struct {
			FileID  string `json:"file_id"`
			Content []struct {
				Text string `json:"text"`
			} `json:"content"`
		} `json:"data"`
	}
	if st := k.call(eventKey, "POST", storeRoute+"/search", ids, map[string]any{"query": "how many years of warranty on the blender motor"}, &found); st != 200 || len(found.Data) == 0 {
		t.Fatalf("search: %d %+v", st, found)
	}
	if top := found.Data[0]; top.FileID != fileID || !strings.Contains(top.Content[0].Text, "five year warranty") {
		t.Errorf("top result %+v, want the warranty paragraph of %s", top, fileID)
	}

	// A file_search chat request through the chat function cites the file.
	chatBody, _ := json.Marshal(map[string]any{"model": "echo/echo-1",
		"messages": []map[string]any{{"role": "user", "content": "how many years of warranty on the blender motor"}},
		"tools":    []map[string]any{{"type": "file_search", "vector_store_ids": []string{storeID}}}})
	ev, _ := json.Marshal(apiEvent(eventKey, "POST", "/v1/chat/completions", nil, "application/json", chatBody, false))
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	resp, err := k.chat.Invoke(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	answer, err := resp.Body(ctx)
	if err != nil || resp.Prelude.StatusCode != 200 {
		t.Fatalf("chat: %d %v %s", resp.Prelude.StatusCode, err, answer)
	}
	var completion struct {
		Choices []struct {
			Message struct {
				Content     string `json:"content"`
				Annotations []struct {
					Type         string `json:"type"`
					FileCitation struct {
						FileID string `json:"file_id"`
					} `json:"file_citation"`
				} `json:"annotations"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(answer, &completion); err != nil || len(completion.Choices) != 1 {
		t.Fatalf("chat answer %s: %v", answer, err)
	}
	msg := completion.Choices[0].Message
	if len(msg.Annotations) == 0 || msg.Annotations[0].Type != "file_citation" || msg.Annotations[0].FileCitation.FileID != fileID ||
		!strings.Contains(msg.Content, "five year warranty") {
		t.Errorf("chat message %+v, want the warranty paragraph cited as %s", msg, fileID)
	}

	// The sample events: the tenant's files listed; a job for a file no
	// longer attached is dropped (not failed), as a late duplicate delivery is.
	var listed struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if st := k.decode(lambdatest.DecodeAPIResponse(t, k.knowledge.InvokeFile(t, "../../events/knowledge-list-files.json")), &listed); st != 200 || len(listed.Data) != len(knowledgeDocs) {
		t.Errorf("events/knowledge-list-files.json: %d %+v, want the %d files", st, listed, len(knowledgeDocs))
	}
	var dropped events.SQSEventResponse
	if err := json.Unmarshal(k.ingest.InvokeFile(t, "../../events/ingest-job.json"), &dropped); err != nil || len(dropped.BatchItemFailures) != 0 {
		t.Errorf("events/ingest-job.json: %+v %v, want no failures", dropped, err)
	}

	// Another tenant sees none of it, on every kind of route.
	for _, c := range []struct{ method, route string }{
		{"GET", "/v1/files/{id}"}, {"GET", "/v1/files/{id}/content"}, {"DELETE", "/v1/files/{id}"},
	} {
		if st := k.call(otherKey, c.method, c.route, map[string]string{"id": fileID}, nil, nil); st != 404 {
			t.Errorf("globex %s %s: %d, want 404", c.method, c.route, st)
		}
	}
	for _, c := range []struct {
		method, route string
		body          any
	}{{"GET", storeRoute, nil}, {"POST", storeRoute + "/search", map[string]any{"query": "warranty"}}, {"GET", storeFiles, nil}, {"DELETE", storeRoute, nil}} {
		if st := k.call(otherKey, c.method, c.route, ids, c.body, nil); st != 404 {
			t.Errorf("globex %s %s: %d, want 404", c.method, c.route, st)
		}
	}

	// The file's content comes back whole through API Gateway's encoding.
	res := k.knowledge.InvokeAPI(t, apiEvent(eventKey, "GET", "/v1/files/{id}/content", map[string]string{"id": fileID}, "", nil, false))
	if content := res.Body; res.StatusCode != 200 || res.IsBase64Encoded || content != knowledgeDocs["warranty.txt"] {
		t.Errorf("content: %d base64=%v %q", res.StatusCode, res.IsBase64Encoded, content)
	}

	// A file whose every delivery fails ends failed at the last one, and its
	// message leaves the queue (nothing for the dead-letter queue).
	_, broken := k.upload(eventKey, "broken.txt", []byte("Returns of opened items are refused."))
	brokenID := broken["id"].(string)
	if st := k.call(eventKey, "POST", storeFiles, ids, map[string]any{"file_id": brokenID}, &sf); st != 200 {
		t.Fatalf("attach: %d", st)
	}
	for delivery := 1; delivery <= 3; delivery++ {
		for range 3 {
			k.s3.FailNext("GetObject", "InternalError", 500)
		}
		d, f := k.deliver()
		if want := map[bool]int{true: 0, false: 1}[delivery == 3]; d != 1 || f != want {
			t.Fatalf("delivery %d: %d delivered, %d failed; want 1 and %d", delivery, d, f, want)
		}
		k.sqs.Expire()
	}
	k.call(eventKey, "GET", storeFileRoute, map[string]string{"id": storeID, "file": brokenID}, nil, &sf)
	if sf.Status != "failed" || sf.LastError == nil || sf.LastError.Code != "server_error" {
		t.Errorf("after three failed deliveries: %+v, want failed with server_error", sf)
	}
	if n := len(k.sqs.Messages(k.queue)); n != 0 {
		t.Errorf("%d messages left on the queue", n)
	}

	// Detaching removes the file's vectors; deleting the store, its index.
	deletes := k.vectors.Calls("DeleteVectors")
	if st := k.call(eventKey, "DELETE", storeFileRoute, map[string]string{"id": storeID, "file": fileID}, nil, nil); st != 200 {
		t.Errorf("detach: %d", st)
	}
	if k.vectors.Calls("DeleteVectors") == deletes {
		t.Error("detaching called no DeleteVectors")
	}
	found.Data = nil
	if st := k.call(eventKey, "POST", storeRoute+"/search", ids, map[string]any{"query": "warranty blender motor"}, &found); st != 200 || len(found.Data) != 2 {
		t.Errorf("search after detaching: %d %+v, want the two other files", st, found)
	}
	for _, d := range found.Data {
		if d.FileID == fileID {
			t.Errorf("search after detaching finds the detached file: %+v", d)
		}
	}
	if st := k.call(eventKey, "DELETE", storeRoute, ids, nil, nil); st != 200 || k.vectors.Calls("DeleteIndex") != 1 {
		t.Errorf("delete store: %d, %d DeleteIndex calls", st, k.vectors.Calls("DeleteIndex"))
	}
	if st := k.call(eventKey, "DELETE", "/v1/files/{id}", map[string]string{"id": fileID}, nil, nil); st != 200 {
		t.Errorf("delete file: %d", st)
	}
	if n := len(k.s3.Requests("DeleteObject")); n != 1 {
		t.Errorf("%d DeleteObject calls, want 1", n)
	}
	if _, ok := k.s3.Object(filesBucket, strings.Replace(key, key[strings.LastIndex(key, "/")+1:], fileID, 1)); ok {
		t.Error("the deleted file is still in the files bucket")
	}
}

// lose takes the queue's visible messages as if SQS had lost them (received
// and deleted, the ingestion function never invoked); it returns how many.
func (k *awsKnowledge) lose() int {
	k.t.Helper()
	ev := k.sqs.Event(k.queue, 10)
	k.sqs.Ack(k.queue, events.SQSEventResponse{}, ev)
	return len(ev.Records)
}

// sweep invokes the ingestion function with the hourly schedule's event.
func (k *awsKnowledge) sweep() map[string]int {
	k.t.Helper()
	var res map[string]int
	if err := json.Unmarshal(k.ingest.InvokeFile(k.t, "../../events/ingest-sweep.json"), &res); err != nil {
		k.t.Fatalf("sweep: %v\n%s", err, k.ingest.Output())
	}
	return res
}

// TestIngestionSweepOnAWS: a job whose message is lost (a crash between
// attaching and queueing, or a message gone to the dead-letter queue) is sent
// again by the hourly sweep once it is INGEST_STALE_AFTER old, and ingested;
// a job lost again fails its file, so no file stays in progress for ever; a
// job whose file was detached meanwhile is dropped.
func TestIngestionSweepOnAWS(t *testing.T) {
	t.Parallel()
	const stale = 2 * time.Second
	k := startAWSKnowledge(t, map[string]string{"INGEST_STALE_AFTER": stale.String()})
	var store map[string]any
	if st := k.call(eventKey, "POST", "/v1/vector_stores", nil, map[string]any{"name": "sweep"}, &store); st != 200 {
		t.Fatalf("create store: %d", st)
	}
	ids := map[string]string{"id": store["id"].(string)}
	attach := func(name string) string {
		t.Helper()
		_, f := k.upload(eventKey, name, []byte(knowledgeDocs[name]))
		var sf storeFile
		if st := k.call(eventKey, "POST", storeFiles, ids, map[string]any{"file_id": f["id"]}, &sf); st != 200 {
			t.Fatalf("attach %s: %d", name, st)
		}
		return f["id"].(string)
	}
	status := func(id string) storeFile {
		t.Helper()
		var sf storeFile
		k.call(eventKey, "GET", storeFileRoute, map[string]string{"id": ids["id"], "file": id}, nil, &sf)
		return sf
	}
	once, twice, detached := attach("warranty.txt"), attach("refunds.txt"), attach("shipping.txt")
	if n := k.lose(); n != 3 {
		t.Fatalf("%d messages lost, want 3", n)
	}
	if r := k.sweep(); r["resent"] != 0 {
		t.Errorf("a sweep before the jobs are stale: %v, want nothing resent", r)
	}
	if st := k.call(eventKey, "DELETE", storeFileRoute, map[string]string{"id": ids["id"], "file": detached}, nil, nil); st != 200 {
		t.Fatalf("detach: %d", st)
	}
	time.Sleep(stale + 200*time.Millisecond)
	if r := k.sweep(); r["resent"] != 2 || r["dropped"] != 1 || r["failed"] != 0 {
		t.Fatalf("first sweep: %v, want 2 resent and the detached file's job dropped", r)
	}
	// once's message arrives and is ingested; twice's is lost again.
	msgs := k.sqs.Event(k.queue, 10)
	if len(msgs.Records) != 2 {
		t.Fatalf("%d messages after the sweep, want 2", len(msgs.Records))
	}
	var keep events.SQSEvent
	for _, r := range msgs.Records {
		if strings.Contains(r.Body, once) {
			keep.Records = append(keep.Records, r)
		}
	}
	b, _ := json.Marshal(keep)
	var resp events.SQSEventResponse
	if err := json.Unmarshal(k.ingest.Invoke(t, b), &resp); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("delivery of the resent job: %+v %v", resp, err)
	}
	k.sqs.Ack(k.queue, events.SQSEventResponse{}, msgs) // twice's message is lost with it
	if sf := status(once); sf.Status != "completed" {
		t.Errorf("the resent file: %+v, want completed", sf)
	}
	if sf := status(twice); sf.Status != "in_progress" {
		t.Errorf("the file lost twice, before the next sweep: %+v, want in_progress", sf)
	}
	time.Sleep(stale + 200*time.Millisecond)
	if r := k.sweep(); r["failed"] != 1 || r["resent"] != 0 {
		t.Fatalf("second sweep: %v, want the file lost twice failed", r)
	}
	if sf := status(twice); sf.Status != "failed" || sf.LastError == nil || sf.LastError.Code != "server_error" {
		t.Errorf("the file lost twice: %+v, want failed with server_error", sf)
	}
	if r := k.sweep(); r["failed"]+r["resent"]+r["dropped"]+r["purged"] != 0 {
		t.Errorf("a sweep with nothing left: %v", r)
	}
	if n := len(k.sqs.Messages(k.queue)); n != 0 {
		t.Errorf("%d messages left", n)
	}

	// Deleting the tenant (what DELETE /admin/tenants/acme does): the next
	// sweep deletes its files' bytes and its stores' indexes.
	if err := k.store.DeleteTenant(t.Context(), "acme", time.Now(), time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if r := k.sweep(); r["purged"] != 1 {
		t.Fatalf("sweep after deleting the tenant: %v, want 1 purged", r)
	}
	for _, id := range []string{once, twice, detached} {
		for _, req := range k.s3.Requests("PutObject") {
			if strings.HasSuffix(req.Path, "/"+id) {
				if _, ok := k.s3.Object(filesBucket, strings.TrimPrefix(req.Path, "/"+filesBucket+"/")); ok {
					t.Errorf("file %s of the deleted tenant is still in the files bucket", id)
				}
			}
		}
	}
	if n := k.vectors.Calls("DeleteIndex"); n != 1 {
		t.Errorf("%d DeleteIndex calls after deleting the tenant, want 1 (its one store)", n)
	}
	if r := k.sweep(); r["purged"] != 0 {
		t.Errorf("a second sweep purged again: %v", r)
	}
}
