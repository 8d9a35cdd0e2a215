package template_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/telemetry"
)

// emitted is what the code's metrics look like in CloudWatch: the metric names
// and the dimension sets of one EMF record.
type emitted struct {
	Metrics    map[string]string // name -> unit
	Dimensions [][]string        // dimension sets
}

// emittedMetrics emits one chat request's metrics with telemetry.Metrics, as the
// chat function does, and reads back the EMF directive.
func emittedMetrics(t *testing.T, perTenant bool) emitted {
	t.Helper()
	var buf bytes.Buffer
	mt := &telemetry.Metrics{Namespace: "Probe", PerTenant: perTenant, Out: &buf}
	err := mt.Emit(telemetry.Request{Time: time.Now(), TenantID: "acme", Model: "echo/echo-1", Latency: time.Second,
		TimeToFirstToken: time.Millisecond, Attempts: 1, InputTokens: 1, OutputTokens: 1})
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		AWS struct {
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil || len(rec.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("EMF line %s: %v", buf.Bytes(), err)
	}
	d := rec.AWS.CloudWatchMetrics[0]
	out := emitted{Metrics: map[string]string{}, Dimensions: d.Dimensions}
	for _, x := range d.Metrics {
		out.Metrics[x.Name] = x.Unit
	}
	return out
}

// The metrics of issue 7, with their units: the dashboard and alarms rely on them.
var wantMetrics = map[string]string{
	"Requests": "Count", "InputTokens": "Count", "OutputTokens": "Count",
	"LatencyMs": "Milliseconds", "TimeToFirstTokenMs": "Milliseconds",
	"Attempts": "Count", "Fallbacks": "Count", "ProviderErrors": "Count",
	"BudgetRefusals": "Count", "RateLimited": "Count",
}

// metricRef is one metric a dashboard widget or alarm reads.
type metricRef struct {
	Namespace, Name string
	Dims            map[string]string
	Stat            string
	Search          bool // from a SEARCH expression: Dims has the dimension names only
}

var searchExpr = regexp.MustCompile(`^SEARCH\('\{([^}]*)\} MetricName="([A-Za-z0-9]+)"', '([A-Za-z0-9.]+)', \d+\)$`)

// dashboardMetrics returns the metrics of a dashboard body's widgets.
func dashboardMetrics(t *testing.T, body string) ([]metricRef, int) {
	t.Helper()
	var d struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Region  string
				Stat    string
				Metrics [][]any
				Alarms  []string
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, body)
	}
	var out []metricRef
	for i, w := range d.Widgets {
		if w.Type == "metric" && w.Properties.Region == "" {
			t.Errorf("widget %d has no region", i)
		}
		for _, line := range w.Properties.Metrics {
			if len(line) == 0 {
				continue
			}
			opts, _ := line[len(line)-1].(map[string]any)
			if expr, ok := opts["expression"].(string); ok {
				mt := searchExpr.FindStringSubmatch(expr)
				if mt == nil {
					t.Errorf("widget %d: expression %q is not a SEARCH this test understands", i, expr)
					continue
				}
				schema := strings.Split(mt[1], ",")
				r := metricRef{Namespace: schema[0], Name: mt[2], Stat: mt[3], Dims: map[string]string{}, Search: true}
				for _, dim := range schema[1:] {
					r.Dims[dim] = ""
				}
				out = append(out, r)
				continue
			}
			var strs []string
			for _, x := range line {
				if s, ok := x.(string); ok {
					strs = append(strs, s)
				}
			}
			if len(strs) < 2 || len(strs)%2 != 0 || slices.Contains(strs, ".") {
				t.Errorf("widget %d: metric %v: want [namespace, name, dimension, value, ..., {options}] without \".\"", i, line)
				continue
			}
			r := metricRef{Namespace: strs[0], Name: strs[1], Dims: map[string]string{}, Stat: w.Properties.Stat}
			for j := 2; j < len(strs); j += 2 {
				r.Dims[strs[j]] = strs[j+1]
			}
			if s, ok := opts["stat"].(string); ok {
				r.Stat = s
			}
			out = append(out, r)
		}
	}
	return out, len(d.Widgets)
}

func TestDashboard(t *testing.T) {
	tmpl := loadTemplate(t)
	dashboards := resources(tmpl, "AWS::CloudWatch::Dashboard")
	if len(dashboards) != 1 {
		t.Fatalf("%d dashboards, want 1", len(dashboards))
	}
	var db m
	for _, d := range dashboards {
		db = d
	}
	if ref(get(db, "Properties", "DashboardName")) != "AWS::StackName" {
		t.Errorf("DashboardName = %v, want the stack name", get(db, "Properties", "DashboardName"))
	}
	body := sub(get(db, "Properties", "DashboardBody"))
	if body == "" {
		t.Fatal("DashboardBody is not a !Sub string")
	}
	e := newEvaluator(t, tmpl, nil)
	resolved, _ := e.value(t, get(db, "Properties", "DashboardBody")) // fails the test on unknown references
	refs, n := dashboardMetrics(t, resolved.(string))
	if n < 6 {
		t.Errorf("%d widgets", n)
	}

	ns := e.params["MetricsNamespace"]
	code := emittedMetrics(t, false)
	if diff := cmp.Diff(wantMetrics, code.Metrics); diff != "" {
		t.Errorf("the code's metrics differ from issue 7's (-want +code):\n%s", diff)
	}
	emittedSet := func(dims map[string]string) bool {
		return slices.ContainsFunc(code.Dimensions, func(set []string) bool {
			return len(set) == len(dims) && !slices.ContainsFunc(set, func(d string) bool { _, ok := dims[d]; return !ok })
		})
	}
	for _, r := range refs {
		if r.Namespace != ns {
			continue
		}
		if _, ok := code.Metrics[r.Name]; !ok {
			t.Errorf("the dashboard reads %s/%s, which the code does not emit", r.Namespace, r.Name)
		}
		if !emittedSet(r.Dims) {
			t.Errorf("the dashboard reads %s with dimensions %v, a set the code does not emit with per-tenant metrics off (%v)", r.Name, keys(r.Dims), code.Dimensions)
		}
	}

	has := func(namespace, name string, dims map[string]string, stat string) bool {
		return slices.ContainsFunc(refs, func(r metricRef) bool {
			return r.Namespace == namespace && r.Name == name && cmp.Equal(dims, r.Dims) && (stat == "" || r.Stat == stat)
		})
	}
	api := map[string]string{"ApiName": e.ref(t, "AWS::StackName"), "Stage": e.params["StageName"]}
	if apiName, _ := e.value(t, get(tmpl, "Resources", "GatewayApi", "Properties", "Name")); apiName != api["ApiName"] {
		t.Fatalf("GatewayApi's Name %v is not the ApiName the dashboard uses (%s)", apiName, api["ApiName"])
	}
	byModel := map[string]string{"Model": ""}
	want := []struct {
		what                  string
		namespace, name, stat string
		dims                  map[string]string
	}{
		{"API 4XX", "AWS/ApiGateway", "4XXError", "", api},
		{"API 5XX", "AWS/ApiGateway", "5XXError", "", api},
		{"p99 latency by model", ns, "LatencyMs", "p99", byModel},
		{"p99 time to first token by model", ns, "TimeToFirstTokenMs", "p99", byModel},
		{"input tokens by model", ns, "InputTokens", "Sum", byModel},
		{"output tokens by model", ns, "OutputTokens", "Sum", byModel},
		{"budget refusals", ns, "BudgetRefusals", "Sum", map[string]string{}},
		{"rate limiting", ns, "RateLimited", "Sum", map[string]string{}},
		{"provider errors", ns, "ProviderErrors", "Sum", map[string]string{}},
		{"fallbacks", ns, "Fallbacks", "Sum", map[string]string{}},
		{"budget-reset DLQ depth", "AWS/SQS", "ApproximateNumberOfMessagesVisible", "", map[string]string{"QueueName": e.getAtt(t, "BudgetResetDeadLetterQueue", "QueueName")}},
	}
	for id := range resources(tmpl, "AWS::Serverless::Function") {
		want = append(want, struct {
			what                  string
			namespace, name, stat string
			dims                  map[string]string
		}{id + " errors", "AWS/Lambda", "Errors", "Sum", map[string]string{"FunctionName": e.ref(t, id)}})
	}
	for _, w := range want {
		if !has(w.namespace, w.name, w.dims, w.stat) {
			t.Errorf("the dashboard does not show %s (%s %s %v %s)", w.what, w.namespace, w.name, w.dims, w.stat)
		}
	}
}

func TestAlarms(t *testing.T) {
	tmpl := loadTemplate(t)
	alarms := resources(tmpl, "AWS::CloudWatch::Alarm")
	code := emittedMetrics(t, false)
	actions := m{"Fn::If": []any{"HasAlarmTopic", []any{m{"Ref": "AlarmTopicArn"}}, m{"Ref": "AWS::NoValue"}}}
	// alarm describes an alarm on one metric, or on metric math over several.
	type alarm struct {
		id      string
		metrics []metricRef
		p       m
	}
	var all []alarm
	for id, a := range alarms {
		p := getMap(a, "Properties")
		for _, k := range []string{"AlarmActions", "OKActions"} {
			if !cmp.Equal(p[k], actions) {
				t.Errorf("%s: %s = %v, want %v", id, k, p[k], actions)
			}
		}
		if getString(p, "TreatMissingData") != "notBreaching" {
			t.Errorf("%s: TreatMissingData = %v; no traffic is no alarm", id, p["TreatMissingData"])
		}
		al := alarm{id: id, p: p}
		one := func(v m, stat string) metricRef {
			r := metricRef{Namespace: fmt.Sprint(v["Namespace"]), Name: getString(v, "MetricName"), Dims: map[string]string{}, Stat: stat}
			if nsRef := ref(v["Namespace"]); nsRef != "" {
				r.Namespace = "!Ref " + nsRef
			}
			for _, d := range getList(v, "Dimensions") {
				r.Dims[getString(d, "Name")] = fmt.Sprint(get(d, "Value"))
			}
			return r
		}
		if p["MetricName"] != nil {
			stat := getString(p, "Statistic") + getString(p, "ExtendedStatistic")
			al.metrics = append(al.metrics, one(p, stat))
		}
		for _, x := range getList(p, "Metrics") {
			if ms := getMap(x, "MetricStat"); ms != nil {
				al.metrics = append(al.metrics, one(getMap(ms, "Metric"), getString(ms, "Stat")))
			}
		}
		for _, r := range al.metrics {
			if r.Namespace == "!Ref MetricsNamespace" {
				if _, ok := code.Metrics[r.Name]; !ok {
					t.Errorf("%s: alarm on %s, which the code does not emit", id, r.Name)
				}
				if len(r.Dims) != 0 {
					t.Errorf("%s: alarm on %s with dimensions %v; the code's all-models set has none", id, r.Name, r.Dims)
				}
			}
		}
		all = append(all, al)
	}
	find := func(namespace, name string, dims map[string]string) *alarm {
		for i, a := range all {
			for _, r := range a.metrics {
				if r.Namespace == namespace && r.Name == name && (dims == nil || cmp.Equal(dims, r.Dims)) {
					return &all[i]
				}
			}
		}
		return nil
	}
	paramThreshold := func(what string, a *alarm) {
		if p := ref(a.p["Threshold"]); p == "" || get(tmpl, "Parameters", p, "Default") == nil {
			t.Errorf("%s alarm %s: Threshold %v, want a parameter with a default", what, a.id, a.p["Threshold"])
		}
	}
	fnDim := func(id string) map[string]string { return map[string]string{"FunctionName": fmt.Sprint(m{"Ref": id})} }
	if a := find("AWS/Lambda", "Errors", fnDim(chatFunction)); a == nil {
		t.Error("no alarm on the chat function's errors")
	} else {
		paramThreshold("chat errors", a)
	}
	if a := find("AWS/ApiGateway", "5XXError", nil); a == nil {
		t.Error("no alarm on the API's 5XX rate")
	} else {
		paramThreshold("API 5XX", a)
		if !slices.ContainsFunc(getList(a.p, "Metrics"), func(x any) bool { return get(x, "ReturnData") == true && get(x, "Expression") != nil }) {
			t.Errorf("API 5XX alarm %s: want a rate (metric math), not a count", a.id)
		}
	}
	if a := find("!Ref MetricsNamespace", "LatencyMs", nil); a == nil || a.metrics[0].Stat != "p99" {
		t.Error("no alarm on p99 LatencyMs")
	} else {
		paramThreshold("latency", a)
	}
	if a := find("!Ref MetricsNamespace", "ProviderErrors", nil); a == nil {
		t.Error("no alarm on ProviderErrors")
	} else {
		paramThreshold("provider errors", a)
	}
	zero := func(what string, a *alarm) {
		if a == nil {
			t.Errorf("no alarm on %s", what)
			return
		}
		if fmt.Sprint(a.p["Threshold"]) != "0" || a.p["ComparisonOperator"] != "GreaterThanThreshold" {
			t.Errorf("%s alarm %s: want > 0", what, a.id)
		}
	}
	zero("budget-reset errors", find("AWS/Lambda", "Errors", fnDim("BudgetResetFunction")))
	dlq := fmt.Sprint(m{"Fn::GetAtt": []any{"BudgetResetDeadLetterQueue", "QueueName"}})
	zero("the budget-reset dead-letter queue", find("AWS/SQS", "ApproximateNumberOfMessagesVisible", map[string]string{"QueueName": dlq}))
	// The API's metrics are found by its name: the stack name.
	if a := find("AWS/ApiGateway", "5XXError", nil); a != nil {
		name := fmt.Sprint(get(tmpl, "Resources", "GatewayApi", "Properties", "Name"))
		if a.metrics[0].Dims["ApiName"] != name || a.metrics[0].Dims["Stage"] != fmt.Sprint(m{"Ref": "StageName"}) {
			t.Errorf("API 5XX alarm dimensions %v, want ApiName %s and Stage !Ref StageName", a.metrics[0].Dims, name)
		}
	}
}
