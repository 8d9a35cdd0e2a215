// Package sqstest is a fake Amazon SQS that speaks the wire protocol of
// aws-sdk-go-v2/service/sqs v1.53.0, so that the real client reaches it
// through BaseEndpoint: AWS JSON 1.0 (awsJson1_0 with awsQueryCompatible),
// every request a POST / with Content-Type application/x-amz-json-1.0,
// X-Amz-Target AmazonSQS.<Operation> and a JSON body of the operation's
// input members (QueueUrl, MessageBody, …). Answers are JSON of the output
// members; errors are {"__type": "com.amazonaws.sqs#<Shape>", "message": …}
// with an x-amzn-query-error header "<query code>;Sender" (or ";Receiver"),
// which the SDK reads as the error's code: the code and status of a modeled
// error come from the SDK's own schemas (QueueDoesNotExist is 400
// AWS.SimpleQueueService.NonExistentQueue), so the client decodes it into its
// types (errors.As(err, new(*types.QueueDoesNotExist))). SQS's common errors
// (InvalidParameterValue, MissingParameter, …) are not modeled; the fake
// gives them the same shape.
//
// It serves SendMessage, ReceiveMessage and DeleteMessage on queues made with
// CreateQueue, named by the QueueUrl http://<host>/<Account>/<name>. Each
// request must carry a SigV4 Authorization header scoped to sqs in Region
// with an X-Amz-Date of the scope's day; the signature itself is not checked.
// Like the service it refuses a message body that is empty, over
// MaxBodyBytes or holds characters outside SQS's allowed set, and a
// MaxNumberOfMessages outside 1 to 10; it answers MD5OfMessageBody and
// MD5OfBody, which the SDK verifies.
//
// Time does not pass: WaitTimeSeconds and VisibilityTimeout are accepted and
// ignored. A received message stays invisible until it is deleted or Expire
// ends every visibility timeout. Of the system attributes only
// ApproximateReceiveCount (the deliveries so far) is kept. Event and Ack play
// Lambda's event source mapping, with ReportBatchItemFailures.
package sqstest

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	smithy "github.com/aws/smithy-go"
	"github.com/aws/smithy-go/traits"
)

// The fake's identity.
const (
	Region          = "us-east-1"
	Account         = "123456789012"
	AccessKeyID     = "AKIDSQSTEST"
	SecretAccessKey = "sqstest-secret"
)

// The service's limits.
const (
	MaxBodyBytes = 262144 // a queue's default MaximumMessageSize
	MaxReceive   = 10     // messages per ReceiveMessage
	maxRequest   = 4 << 20
)

// Request is a request the fake received.
type Request struct {
	Op     string // e.g. "SendMessage"
	Body   []byte
	Status int
}

// Message is a message in a queue.
type Message struct {
	ID, Body      string
	ReceiveCount  int    // deliveries so far
	InFlight      bool   // received, neither deleted nor expired
	ReceiptHandle string // of the last delivery
}

// Handler is the fake as an http.Handler. Its methods are safe for concurrent
// use.
type Handler struct {
	mu       sync.Mutex
	host     string
	queues   map[string][]*Message // by name, in order sent
	handles  map[string]string     // every receipt handle issued → message id
	requests []Request
	fail     map[string][]*apiError
	corrupt  bool
	seq      int
}

// NewHandler returns a fake without queues whose queue URLs name host
// localhost (New's name its listener).
func NewHandler() *Handler {
	return &Handler{host: "localhost", queues: map[string][]*Message{}, handles: map[string]string{}, fail: map[string][]*apiError{}}
}

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// CreateQueue makes an empty standard queue (one that exists is kept) and
// returns its URL. It panics on a name SQS refuses.
func (h *Handler) CreateQueue(name string) string {
	if !queueNameRE.MatchString(name) {
		panic("sqstest: invalid queue name " + strconv.Quote(name))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.queues[name]; !ok {
		h.queues[name] = nil
	}
	return "http://" + h.host + "/" + Account + "/" + name
}

// Messages returns copies of the messages in the queue at queueURL.
func (h *Handler) Messages(queueURL string) []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Message
	for _, m := range h.mustQueue(queueURL) {
		out = append(out, *m)
	}
	return out
}

// Expire makes every in-flight message visible again, as if its visibility
// timeout had passed.
func (h *Handler) Expire() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, q := range h.queues {
		for _, m := range q {
			m.InFlight = false
		}
	}
}

// CorruptMD5 makes the fake answer wrong MD5s of message bodies (on) or
// right ones.
func (h *Handler) CorruptMD5(on bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.corrupt = on
}

// Calls returns how many requests for op the fake received.
func (h *Handler) Calls(op string) int { return len(h.Requests(op)) }

// Requests returns the requests for op ("" for all) received so far, in order.
func (h *Handler) Requests(op string) []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Request
	for _, r := range h.requests {
		if op == "" || r.Op == op {
			r.Body = slices.Clone(r.Body)
			out = append(out, r)
		}
	}
	return out
}

// FailNext makes the next request for op answer errorType (a shape name such
// as "QueueDoesNotExist" or a common error such as "ServiceUnavailable") with
// message. Calls queue up.
func (h *Handler) FailNext(op, errorType, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if message == "" {
		message = "sqstest: scripted " + errorType
	}
	h.fail[op] = append(h.fail[op], errf(errorType, "%s", message))
}

// Event receives up to max visible messages of the queue at queueURL, as the
// event source mapping does, and returns them as the SQS event Lambda passes
// the function.
func (h *Handler) Event(queueURL string, max int) events.SQSEvent {
	if max < 1 {
		panic("sqstest: Event of fewer than 1 message")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	name := queueName(queueURL)
	var ev events.SQSEvent
	for _, m := range h.receive(h.mustQueue(queueURL), max) {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId: m.ID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, Md5OfBody: h.md5(m.Body),
			Attributes:        map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.ReceiveCount)},
			MessageAttributes: map[string]events.SQSMessageAttribute{},
			EventSource:       "aws:sqs", EventSourceARN: "arn:aws:sqs:" + Region + ":" + Account + ":" + name, AWSRegion: Region,
		})
	}
	return ev
}

// Ack does what the event source mapping does with the function's answer
// resp to ev: it deletes the records that resp's BatchItemFailures does not
// name. A failure naming no record of ev fails the whole batch, as in Lambda.
// What is not deleted stays in flight until Expire.
func (h *Handler) Ack(queueURL string, resp events.SQSEventResponse, ev events.SQSEvent) {
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		if !slices.ContainsFunc(ev.Records, func(r events.SQSMessage) bool { return r.MessageId == f.ItemIdentifier }) {
			return
		}
		failed[f.ItemIdentifier] = true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mustQueue(queueURL)
	for _, r := range ev.Records {
		if !failed[r.MessageId] {
			h.delete(queueName(queueURL), r.ReceiptHandle)
		}
	}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, _ := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if readErr == nil && len(body) > maxRequest {
		readErr = fmt.Errorf("over %d bytes", maxRequest)
	}
	h.mu.Lock()
	h.seq++
	id := fmt.Sprintf("sqstest-%d", h.seq)
	h.requests = append(h.requests, Request{Op: op, Body: body})
	rec := &h.requests[len(h.requests)-1]
	out, e := h.serve(r, op, body, readErr)
	rec.Status = http.StatusOK
	if e != nil {
		rec.Status = e.status
	}
	h.mu.Unlock()

	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", id)
	if e != nil {
		fault := "Sender"
		if e.server {
			fault = "Receiver"
		}
		w.Header().Set("X-Amzn-Query-Error", e.query+";"+fault)
		w.WriteHeader(e.status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.typ, "message": e.msg})
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

// serve answers one request; h.mu is held.
func (h *Handler) serve(r *http.Request, op string, body []byte, readErr error) (any, *apiError) {
	if r.Method != http.MethodPost || r.URL.Path != "/" || r.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		return nil, errf("InvalidAction", "sqstest: expected POST / of application/x-amz-json-1.0, got %s %s of %q", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if e := checkAuth(r); e != nil {
		return nil, e
	}
	if op != "SendMessage" && op != "ReceiveMessage" && op != "DeleteMessage" {
		return nil, errf("InvalidAction", "The action %s is not valid for this endpoint.", r.Header.Get("X-Amz-Target"))
	}
	if readErr != nil {
		return nil, errf("InvalidParameterValue", "the request body: %v", readErr)
	}
	if q := h.fail[op]; len(q) > 0 {
		h.fail[op] = q[1:]
		return nil, q[0]
	}
	var in struct {
		QueueUrl, MessageBody, ReceiptHandle             *string
		MaxNumberOfMessages                              *int
		AttributeNames, MessageSystemAttributeNames      []string
		DelaySeconds, VisibilityTimeout, WaitTimeSeconds *int
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, errf("InvalidParameterValue", "malformed request body: %v", err)
	}
	if in.QueueUrl == nil {
		return nil, errf("MissingParameter", "The request must contain the parameter QueueUrl.")
	}
	msgs, e := h.queue(*in.QueueUrl)
	if e != nil {
		return nil, e
	}
	name := queueName(*in.QueueUrl)
	switch op {
	case "SendMessage":
		switch b := aws.ToString(in.MessageBody); {
		case b == "":
			return nil, errf("MissingParameter", "The request must contain the parameter MessageBody.")
		case len(b) > MaxBodyBytes:
			return nil, errf("InvalidParameterValue", "One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", MaxBodyBytes)
		case strings.IndexFunc(b, badRune) >= 0:
			return nil, errf("InvalidMessageContents", "Invalid characters found.")
		}
		if d := in.DelaySeconds; d != nil && (*d < 0 || *d > 900) {
			return nil, errf("InvalidParameterValue", "Value %d for parameter DelaySeconds is invalid. Reason: must be between 0 and 900, if provided.", *d)
		}
		m := &Message{ID: uuid(), Body: *in.MessageBody}
		h.queues[name] = append(msgs, m)
		return map[string]string{"MD5OfMessageBody": h.md5(m.Body), "MessageId": m.ID}, nil
	case "ReceiveMessage":
		n := 1
		if in.MaxNumberOfMessages != nil {
			n = *in.MaxNumberOfMessages
		}
		if n < 1 || n > MaxReceive {
			return nil, errf("InvalidParameterValue", "Value %d for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", n)
		}
		if v := in.VisibilityTimeout; v != nil && (*v < 0 || *v > 43200) {
			return nil, errf("InvalidParameterValue", "Value %d for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided.", *v)
		}
		if w := in.WaitTimeSeconds; w != nil && (*w < 0 || *w > 20) {
			return nil, errf("InvalidParameterValue", "Value %d for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided.", *w)
		}
		names := append(in.AttributeNames, in.MessageSystemAttributeNames...)
		count := slices.Contains(names, "All") || slices.Contains(names, "ApproximateReceiveCount")
		out := []map[string]any{}
		for _, m := range h.receive(msgs, n) {
			o := map[string]any{"MessageId": m.ID, "ReceiptHandle": m.ReceiptHandle, "MD5OfBody": h.md5(m.Body), "Body": m.Body}
			if count {
				o["Attributes"] = map[string]string{"ApproximateReceiveCount": strconv.Itoa(m.ReceiveCount)}
			}
			out = append(out, o)
		}
		if len(out) == 0 {
			return struct{}{}, nil
		}
		return map[string]any{"Messages": out}, nil
	default: // DeleteMessage
		rh := aws.ToString(in.ReceiptHandle)
		if rh == "" {
			return nil, errf("MissingParameter", "The request must contain the parameter ReceiptHandle.")
		}
		if _, ok := h.handles[rh]; !ok {
			return nil, errf("ReceiptHandleIsInvalid", "The input receipt handle %q is not a valid receipt handle.", rh)
		}
		h.delete(name, rh)
		return struct{}{}, nil
	}
}

// receive delivers up to n visible messages of msgs; h.mu is held.
func (h *Handler) receive(msgs []*Message, n int) []*Message {
	var out []*Message
	for _, m := range msgs {
		if len(out) == n {
			break
		}
		if !m.InFlight {
			m.InFlight, m.ReceiveCount, m.ReceiptHandle = true, m.ReceiveCount+1, randHex(32)
			h.handles[m.ReceiptHandle] = m.ID
			out = append(out, m)
		}
	}
	return out
}

// delete deletes the message whose last receipt handle is rh, if it is still
// in queue name; an older handle deletes nothing (SQS: "the request succeeds,
// but the message might not be deleted"); h.mu is held.
func (h *Handler) delete(name, rh string) {
	h.queues[name] = slices.DeleteFunc(h.queues[name], func(m *Message) bool { return m.ReceiptHandle == rh })
}

// queue returns the messages of the queue queueURL names; h.mu is held.
func (h *Handler) queue(queueURL string) ([]*Message, *apiError) {
	u, err := url.Parse(queueURL)
	var parts []string
	if err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		parts = strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	}
	if len(parts) != 2 {
		return nil, errf("InvalidAddress", "The address %s is not valid for this endpoint.", queueURL)
	}
	msgs, ok := h.queues[parts[1]]
	if parts[0] != Account || !ok {
		return nil, errf("QueueDoesNotExist", "The specified queue does not exist.")
	}
	return msgs, nil
}

func (h *Handler) mustQueue(queueURL string) []*Message {
	msgs, e := h.queue(queueURL)
	if e != nil {
		panic("sqstest: " + queueURL + ": " + e.msg)
	}
	return msgs
}

func queueName(queueURL string) string { return queueURL[strings.LastIndexByte(queueURL, '/')+1:] }

func (h *Handler) md5(body string) string {
	if h.corrupt {
		body += "corrupt"
	}
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// badRune reports a character SQS does not allow in a message: outside #x9,
// #xA, #xD, #x20 to #xD7FF, #xE000 to #xFFFD, #x10000 to #x10FFFF.
func badRune(r rune) bool {
	return !(r == 0x9 || r == 0xA || r == 0xD || 0x20 <= r && r <= 0xD7FF || 0xE000 <= r && r <= 0xFFFD || 0x10000 <= r && r <= 0x10FFFF)
}

func randHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	s := randHex(32)
	return s[:8] + "-" + s[8:12] + "-4" + s[13:16] + "-8" + s[17:20] + "-" + s[20:] // version 4, variant 1
}

// apiError is an error answer.
type apiError struct {
	status     int
	typ, query string // the __type and the x-amzn-query-error code
	server     bool
	msg        string
}

// common are SQS's errors that the service model does not define: status and
// whether the fault is the service's.
var common = map[string]struct {
	status int
	server bool
}{
	"AccessDenied": {403, false}, "IncompleteSignature": {400, false}, "InvalidAction": {400, false},
	"InvalidParameterValue": {400, false}, "MissingParameter": {400, false}, "MissingAuthenticationToken": {403, false},
	"SignatureDoesNotMatch": {403, false}, "ThrottlingException": {400, false},
	"InternalFailure": {500, true}, "ServiceUnavailable": {503, true},
}

// errf makes an error of shape or common error code; an unknown code is a
// 500 fault of the service.
func errf(code, format string, args ...any) *apiError {
	e := &apiError{status: 500, typ: "com.amazonaws.sqs#" + code, query: code, server: true, msg: fmt.Sprintf(format, args...)}
	if c, ok := common[code]; ok {
		e.status, e.server = c.status, c.server
	} else if entry, ok := sqs.TypeRegistry.LookupEntry(e.typ); ok {
		if t, ok := smithy.SchemaTrait[*traits.Error](entry.Schema); ok {
			e.server = t.Type == "server"
		}
		e.status = 400
		if e.server {
			e.status = 500
		}
		if t, ok := smithy.SchemaTrait[*traits.AWSQueryError](entry.Schema); ok {
			e.query, e.status = t.ErrorCode, t.StatusCode
		}
		if t, ok := smithy.SchemaTrait[*traits.HTTPError](entry.Schema); ok {
			e.status = t.Code
		}
	}
	return e
}

// checkAuth checks that r carries a SigV4 Authorization header scoped to sqs
// in Region, as the SDK signs every request; the signature is not verified.
func checkAuth(r *http.Request) *apiError {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errf("MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return errf("IncompleteSignature", "the Authorization header must use AWS4-HMAC-SHA256")
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[0] == "" || len(scope[1]) != 8 || scope[4] != "aws4_request" {
		return errf("IncompleteSignature", "malformed Credential %q in the Authorization header", fields["Credential"])
	}
	if scope[2] != Region || scope[3] != "sqs" {
		return errf("SignatureDoesNotMatch", "Credential should be scoped to a valid region and to service 'sqs', not %s/%s.", scope[2], scope[3])
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signed, "host") || !slices.Contains(signed, "x-amz-date") {
		return errf("IncompleteSignature", "the signed headers %q must include host and x-amz-date", fields["SignedHeaders"])
	}
	if sig := fields["Signature"]; len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "" {
		return errf("IncompleteSignature", "malformed Signature in the Authorization header")
	}
	if d := r.Header.Get("X-Amz-Date"); !strings.HasPrefix(d, scope[1]) {
		return errf("SignatureDoesNotMatch", "X-Amz-Date %q does not match the credential scope's date %s", d, scope[1])
	}
	return nil
}

// Server is a Handler served on a loopback httptest server; its queue URLs
// name the server.
type Server struct {
	*Handler
	URL string
	ts  *httptest.Server
}

// New starts a fake on a loopback port; Close stops it.
func New() *Server {
	h := NewHandler()
	ts := httptest.NewServer(h)
	h.host = ts.Listener.Addr().String()
	return &Server{Handler: h, URL: ts.URL, ts: ts}
}

// Close shuts the server down.
func (s *Server) Close() { s.ts.Close() }

// Client returns a real SQS client of the fake: see Config.
func (s *Server) Client() *sqs.Client { return sqs.NewFromConfig(Config(s.URL)) }

// Config returns an AWS configuration for the fake at baseURL: Region, static
// test credentials (requests are signed), one attempt per call, so that
// scripted errors are not retried, and HTTPClient.
func Config(baseURL string) aws.Config {
	return aws.Config{Region: Region, BaseEndpoint: aws.String(baseURL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""), HTTPClient: HTTPClient()}
}

// HTTPClient is an HTTP client for the fake that gives net/http its own copy
// of each request body: smithy-go closes the body it passed as soon as the
// response's headers arrive, and an in-process fake can answer before
// net/http has finished with it (see s3vectorstest's ownBodies).
func HTTPClient() aws.HTTPClient { return ownBodies{awshttp.NewBuildableClient()} }

type ownBodies struct{ client aws.HTTPClient }

func (c ownBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return c.client.Do(r)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r = r.Clone(r.Context())
	r.Body = io.NopCloser(bytes.NewReader(b))
	return c.client.Do(r)
}
