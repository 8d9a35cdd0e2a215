package telemetry_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/telemetry"
	"github.com/tollgate/tollgate/shared/telemetry/telemetrytest"
)

func TestEmit(t *testing.T) {
	for _, perTenant := range []bool{true, false} {
		var out bytes.Buffer
		m := &telemetry.Metrics{Namespace: "Tollgate", PerTenant: perTenant, Out: &out}
		err := m.Emit(telemetry.Request{
			Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), TenantID: "acme", Model: "openai/gpt-4o-mini",
			InputTokens: 12, OutputTokens: 30, Latency: 1500 * time.Microsecond, TimeToFirstToken: 700 * time.Microsecond,
			Attempts: 2, Fallbacks: 1, ProviderErrors: 1, RequestID: "r1", TraceID: "Root=1-x",
		})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(out.String(), "\n") != 1 {
			t.Fatalf("want one line, got %q", out.String())
		}
		doc, err := telemetrytest.Validate(out.Bytes())
		if err != nil {
			t.Fatalf("invalid EMF: %v\n%s", err, out.String())
		}
		dims := doc["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"].([]any)
		if got := len(dims); (perTenant && got != 3) || (!perTenant && got != 2) {
			t.Errorf("perTenant=%v: %d dimension sets", perTenant, got)
		}
		for name, want := range map[string]string{"InputTokens": "12", "OutputTokens": "30", "LatencyMs": "1.5",
			"TimeToFirstTokenMs": "0.7", "Attempts": "2", "Fallbacks": "1", "ProviderErrors": "1", "Requests": "1", "BudgetRefusals": "0"} {
			if got := doc[name].(json.Number).String(); got != want {
				t.Errorf("%s = %s, want %s", name, got, want)
			}
		}
	}
}

func TestValidateRejects(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"_aws":{"Timestamp":1795600800000,"CloudWatchMetrics":[{"Namespace":"T","Dimensions":[["TenantId"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]},"Requests":1}`,
		`{"_aws":{"Timestamp":1795600800000,"CloudWatchMetrics":[{"Namespace":"T","Dimensions":[[]],"Metrics":[{"Name":"Requests","Unit":"Things"}]}]},"Requests":1}`,
		`{"_aws":{"Timestamp":1795600800000,"CloudWatchMetrics":[{"Namespace":"T","Dimensions":[[]],"Metrics":[{"Name":"Requests"}]}]},"Requests":"1"}`,
		`{"_aws":{"Timestamp":17956,"CloudWatchMetrics":[{"Namespace":"T","Dimensions":[[]],"Metrics":[{"Name":"Requests"}]}]},"Requests":1}`,
	} {
		if _, err := telemetrytest.Validate([]byte(bad)); err == nil {
			t.Errorf("Validate accepted %s", bad)
		}
	}
}
