package budget_test

import (
	"fmt"
	"testing"
)

// TestConcurrentEmbeddingBudgetAcrossProcesses is the budget proof for
// embeddings: 200 requests at once over two processes against a daily budget
// that fits only some; never over the budget, the charge the sum of the
// reported usage, no reservation left, and no request charged more than it
// reserved.
func TestConcurrentEmbeddingBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	if ddb == nil {
		t.Skip("dynalite not installed")
	}
	table := ddb.NewTable(t)
	procs := startLogged(t, 2, table, "info", "MODELS=echo/echo-1,echo/echo-embed-1")
	const daily = 3000
	admin(t, procs[0].URL, "PUT", "/admin/tenants/acme", map[string]any{"tokenBudget": map[string]any{"daily": daily, "monthly": 1_000_000}})
	key := admin(t, procs[0].URL, "POST", "/admin/tenants/acme/keys", nil)["key"].(string)

	results := burst(200, func(i int) outcome {
		return postTo(t, procs[i%2].URL+"/v1/embeddings", key, map[string]any{
			"input": []string{fmt.Sprintf("request %d embeds this sentence", i), "and a second, shorter one"}})
	})
	admitted := proveBudget(t, table, daily, results)
	lines := requestLines(t, procs)
	for _, r := range admitted {
		l := lines[r.id]
		in, _ := l["inputTokens"].(float64)
		reserved, _ := l["reservedTokens"].(float64)
		if l == nil || int64(in) != r.total || reserved <= 0 || in > reserved || l["api"] != "embeddings" {
			t.Errorf("request %s: line %v, reported %d", r.id, l, r.total)
		}
	}
}
