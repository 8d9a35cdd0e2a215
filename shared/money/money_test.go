package money_test

import (
	"encoding/json"
	"testing"

	"github.com/tollgate/tollgate/shared/money"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]money.Micros{"0": 0, "0.8": 800_000, "15": 15_000_000, "0.000125": 125, "1.5": 1_500_000, "0.00875": 8750} {
		if got, err := money.Parse(s); err != nil || got != want {
			t.Errorf("Parse(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1", "1e-3", "0.0000001", ".5", "5.", "1,5", "abc", "1000000000001", " 1"} {
		if _, err := money.Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
	for m, want := range map[money.Micros]string{0: "0.000000", 125: "0.000125", 1_500_000: "1.500000", -3: "-0.000003"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(m), got, want)
		}
	}
	var p money.Price
	if err := json.Unmarshal([]byte(`{"input":0.8,"output":"4","cachedInput":0.08}`), &p); err != nil || p.Input != 800_000 || p.Output != 4_000_000 || p.CachedInput != 80_000 {
		t.Errorf("price %+v, %v", p, err)
	}
	if b, _ := json.Marshal(p); string(b) != `{"input":0.800000,"output":4.000000,"cachedInput":0.080000}` {
		t.Errorf("marshalled %s", b)
	}
}

// TestCost: integer micro-dollars, rounded up, cached input at its own price.
func TestCost(t *testing.T) {
	haiku := money.Price{Input: 800_000, Output: 4_000_000, CachedInput: 80_000}
	// 1,000 input (200 cached) and 300 output: 800×0.8 + 200×0.08 + 300×4 = 640 + 16 + 1,200 µ$.
	if got := haiku.Cost(1000, 200, 300); got != 1856 {
		t.Errorf("Cost = %d, want 1856", got)
	}
	if got := haiku.Cost(1, 0, 0); got != 1 { // 0.8 µ$ rounds up
		t.Errorf("one token = %d, want 1 (rounded up)", got)
	}
	if got := (money.Price{Input: 20_000}).EmbeddingCost(1_000_000); got != 20_000 {
		t.Errorf("a million embedded tokens at $0.02 = %d", got)
	}
	if got := haiku.Cost(0, 0, 0); got != 0 {
		t.Errorf("nothing costs %d", got)
	}
}

func TestTable(t *testing.T) {
	over, err := money.ParseTable(`{"bedrock/anthropic.claude-3-5-haiku-20241022-v1:0":{"input":1,"output":5},"echo/echo-1":{"input":0.5,"output":1}}`)
	if err != nil {
		t.Fatal(err)
	}
	tab := money.Merge(money.Defaults(), over)
	if p, ok := tab.Lookup("bedrock/anthropic.claude-3-5-haiku-20241022-v1:0"); !ok || p.Input != 1_000_000 {
		t.Errorf("the deployment's price did not override the default: %+v", p)
	}
	if p, ok := tab.Lookup("bedrock/us.anthropic.claude-3-7-sonnet-20250219-v1:0"); !ok || p.Output != 15_000_000 {
		t.Errorf("a cross-region profile did not find its model's price: %+v %v", p, ok)
	}
	if _, ok := tab.Lookup("bedrock/mistral.unknown"); ok {
		t.Error("an unknown model has a price")
	}
	for _, bad := range []string{`[]`, `{"m":{"input":-1}}`, `{"m":{"inptu":1}}`, `{"m":{"input":1e-9}}`} {
		if _, err := money.ParseTable(bad); err == nil {
			t.Errorf("ParseTable(%s) accepted", bad)
		}
	}
	for _, e := range money.Defaults().Sorted() {
		if e.Reference == "" || (e.Input == 0 && e.Embedding == 0) {
			t.Errorf("default %+v lacks a reference or a price", e)
		}
	}
}
