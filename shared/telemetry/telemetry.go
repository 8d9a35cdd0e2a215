// Package telemetry writes CloudWatch metrics as Embedded Metric Format (EMF) log
// lines: one JSON line per chat request on stdout, which CloudWatch Logs turns
// into metrics with no API call on the request path. Locally the same lines go to
// stdout. See docs/operations.md.
package telemetry

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Writer serialises whole lines from several writers (the logger and the metrics)
// onto one output, so lines never interleave.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer onto w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes p as one unit.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// Request is what one chat request contributes to the metrics.
type Request struct {
	Time             time.Time
	TenantID         string
	Model            string // provider/model that answered or was tried; "none" before routing
	InputTokens      int
	OutputTokens     int
	Latency          time.Duration
	TimeToFirstToken time.Duration // 0 when no token was produced
	Attempts         int
	Fallbacks        int // attempts beyond the first
	ProviderErrors   int // failed attempts, plus a failure mid-stream
	BudgetRefused    bool
	RateLimited      bool
	RequestID        string
	TraceID          string
}

// Metrics emits EMF records.
type Metrics struct {
	Namespace string
	PerTenant bool // add the {TenantId, Model} dimension set (one custom metric series per tenant)
	Out       io.Writer
}

// Metric names and units, the contract of the dashboard and alarms in template.yaml.
var definitions = []metricDef{
	{"Requests", "Count"}, {"InputTokens", "Count"}, {"OutputTokens", "Count"},
	{"LatencyMs", "Milliseconds"}, {"TimeToFirstTokenMs", "Milliseconds"},
	{"Attempts", "Count"}, {"Fallbacks", "Count"}, {"ProviderErrors", "Count"},
	{"BudgetRefusals", "Count"}, {"RateLimited", "Count"},
}

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// record is one EMF document: metadata, dimension values, metric values and
// searchable context (request and trace ids, which are not dimensions).
type record struct {
	AWS                metadata `json:"_aws"`
	TenantID           string   `json:"TenantId"`
	Model              string   `json:"Model"`
	Requests           int      `json:"Requests"`
	InputTokens        int      `json:"InputTokens"`
	OutputTokens       int      `json:"OutputTokens"`
	LatencyMs          float64  `json:"LatencyMs"`
	TimeToFirstTokenMs *float64 `json:"TimeToFirstTokenMs,omitempty"`
	Attempts           int      `json:"Attempts"`
	Fallbacks          int      `json:"Fallbacks"`
	ProviderErrors     int      `json:"ProviderErrors"`
	BudgetRefusals     int      `json:"BudgetRefusals"`
	RateLimited        int      `json:"RateLimited"`
	RequestID          string   `json:"requestId"`
	TraceID            string   `json:"traceId,omitempty"`
}

// Emit writes r as one EMF line. It never fails the request: an output error is
// returned for the caller to log.
func (m *Metrics) Emit(r Request) error {
	dims := [][]string{{"Model"}, {}}
	if m.PerTenant {
		dims = [][]string{{"TenantId", "Model"}, {"Model"}, {}}
	}
	defs := definitions
	rec := record{
		AWS: metadata{Timestamp: r.Time.UnixMilli(), CloudWatchMetrics: []directive{{
			Namespace: m.Namespace, Dimensions: dims, Metrics: defs,
		}}},
		TenantID: r.TenantID, Model: r.Model, Requests: 1,
		InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
		LatencyMs: ms(r.Latency), Attempts: r.Attempts, Fallbacks: r.Fallbacks,
		ProviderErrors: r.ProviderErrors, BudgetRefusals: b2i(r.BudgetRefused), RateLimited: b2i(r.RateLimited),
		RequestID: r.RequestID, TraceID: r.TraceID,
	}
	if r.TimeToFirstToken > 0 {
		v := ms(r.TimeToFirstToken)
		rec.TimeToFirstTokenMs = &v
	} else {
		// A metric named in the directive but absent from the record is skipped by
		// CloudWatch; leave it out of the directive too, to keep the document exact.
		rec.AWS.CloudWatchMetrics[0].Metrics = withoutTTFT
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	_, err = m.Out.Write(append(b, '\n'))
	return err
}

var withoutTTFT = func() []metricDef {
	var out []metricDef
	for _, d := range definitions {
		if d.Name != "TimeToFirstTokenMs" {
			out = append(out, d)
		}
	}
	return out
}()

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
