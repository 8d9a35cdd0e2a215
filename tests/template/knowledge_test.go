package template_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/tollgate/tollgate/shared/config"
)

// TestKnowledgeResources checks the knowledge base's resources against what
// the code assumes: the files bucket is encrypted, private, without ACLs and
// TLS-only; the vector bucket is encrypted; the ingestion queue hides a
// message for at least six times the ingestion function's timeout (Lambda's
// advice for an SQS event source), redrives to a dead-letter queue after the
// number of deliveries the function treats as final (INGEST_MAX_RECEIVES),
// feeds the function one message per run with partial batch responses, and
// its dead-letter queue has an alarm.
func TestKnowledgeResources(t *testing.T) {
	tmpl := loadTemplate(t)
	res := func(id string) m {
		r := getMap(tmpl, "Resources", id)
		if r == nil {
			t.Fatalf("no resource %s", id)
		}
		return r
	}

	files := res("FilesBucket")
	if getString(files, "Type") != "AWS::S3::Bucket" || getString(files, "DeletionPolicy") != "Retain" {
		t.Errorf("FilesBucket: %v, want an S3 bucket retained with the stack's deletion", files)
	}
	enc := getList(files, "Properties", "BucketEncryption", "ServerSideEncryptionConfiguration")
	if len(enc) != 1 || getString(enc[0], "ServerSideEncryptionByDefault", "SSEAlgorithm") == "" {
		t.Errorf("FilesBucket: encryption %v", enc)
	}
	for _, k := range []string{"BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"} {
		if get(files, "Properties", "PublicAccessBlockConfiguration", k) != true {
			t.Errorf("FilesBucket: PublicAccessBlockConfiguration.%s is not true", k)
		}
	}
	if rules := getList(files, "Properties", "OwnershipControls", "Rules"); len(rules) != 1 || getString(rules[0], "ObjectOwnership") != "BucketOwnerEnforced" {
		t.Errorf("FilesBucket: OwnershipControls %v, want BucketOwnerEnforced (no ACLs)", rules)
	}
	policy := res("FilesBucketPolicy")
	tlsOnly := false
	for _, s := range getList(policy, "Properties", "PolicyDocument", "Statement") {
		if getString(s, "Effect") == "Deny" && fmt.Sprint(get(s, "Condition", "Bool", "aws:SecureTransport")) == "false" {
			tlsOnly = true
		}
	}
	if ref(get(policy, "Properties", "Bucket")) != "FilesBucket" || !tlsOnly {
		t.Errorf("FilesBucketPolicy: %v, want the files bucket denying requests without TLS", policy)
	}
	if v := res("VectorBucket"); getString(v, "Type") != "AWS::S3Vectors::VectorBucket" || getString(v, "Properties", "EncryptionConfiguration", "SseType") == "" {
		t.Errorf("VectorBucket: %v, want an encrypted S3 Vectors bucket", v)
	}

	fn := res("IngestFunction")
	timeout, _ := fnProp(tmpl, fn, "Timeout").(int)
	queue := res("IngestQueue")
	vis, _ := get(queue, "Properties", "VisibilityTimeout").(int)
	if timeout == 0 || vis < 6*timeout {
		t.Errorf("IngestQueue: VisibilityTimeout %d s, want at least 6 × the ingestion function's %d s", vis, timeout)
	}
	if r, attr := getAtt(get(queue, "Properties", "RedrivePolicy", "deadLetterTargetArn")); r != "IngestDeadLetterQueue" || attr != "Arn" {
		t.Errorf("IngestQueue: redrive to %s.%s, want IngestDeadLetterQueue", r, attr)
	}
	receives, _ := get(queue, "Properties", "RedrivePolicy", "maxReceiveCount").(int)
	env := newEvaluator(t, tmpl, nil).env(t, fn)
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if receives == 0 || cfg.IngestMaxReceives != receives {
		t.Errorf("IngestFunction: INGEST_MAX_RECEIVES %d (%q), but the queue's maxReceiveCount is %d: the last delivery would not be final",
			cfg.IngestMaxReceives, env["INGEST_MAX_RECEIVES"], receives)
	}
	if cfg.FilesBucket == "" || cfg.VectorBucket == "" {
		t.Errorf("IngestFunction: FILES_BUCKET %q, VECTOR_BUCKET %q", cfg.FilesBucket, cfg.VectorBucket)
	}
	sqsEvents := 0
	for name := range getMap(fn, "Properties", "Events") {
		ev := getMap(fn, "Properties", "Events", name)
		if getString(ev, "Type") != "SQS" {
			continue
		}
		sqsEvents++
		if r, _ := getAtt(get(ev, "Properties", "Queue")); r != "IngestQueue" {
			t.Errorf("IngestFunction event %s reads %v, want IngestQueue", name, get(ev, "Properties", "Queue"))
		}
		if b, _ := get(ev, "Properties", "BatchSize").(int); b != 1 {
			t.Errorf("IngestFunction event %s: BatchSize %v, want 1 (a run's timeout is one file's)", name, get(ev, "Properties", "BatchSize"))
		}
		if l := getList(ev, "Properties", "FunctionResponseTypes"); len(l) != 1 || l[0] != "ReportBatchItemFailures" {
			t.Errorf("IngestFunction event %s: FunctionResponseTypes %v, want [ReportBatchItemFailures]", name, l)
		}
	}
	if sqsEvents != 1 {
		t.Errorf("IngestFunction has %d SQS events, want 1", sqsEvents)
	}
	if kenv := newEvaluator(t, tmpl, nil).env(t, res("KnowledgeFunction")); kenv["INGEST_QUEUE_URL"] == "" || kenv["FILES_BUCKET"] == "" || kenv["VECTOR_BUCKET"] == "" {
		t.Errorf("KnowledgeFunction environment %v lacks the knowledge backends", kenv)
	}

	alarmed := false
	for _, a := range resources(tmpl, "AWS::CloudWatch::Alarm") {
		for _, d := range getList(a, "Properties", "Dimensions") {
			if r, attr := getAtt(get(d, "Value")); r == "IngestDeadLetterQueue" && attr == "QueueName" &&
				getString(a, "Properties", "MetricName") == "ApproximateNumberOfMessagesVisible" {
				alarmed = true
			}
		}
	}
	if !alarmed {
		t.Error("no alarm on the ingestion dead-letter queue's visible messages")
	}
	if n, err := strconv.Atoi(fmt.Sprint(get(res("IngestDeadLetterQueue"), "Properties", "MessageRetentionPeriod"))); err != nil || n < 7*24*3600 {
		t.Errorf("IngestDeadLetterQueue keeps messages %v s, want at least a week", n)
	}
}
