package budget_test

import (
	"fmt"
	"testing"
)

// TestConcurrentResponsesBudgetAcrossProcesses is the budget proof for the
// Responses API: 200 stored responses at once over two processes against a
// daily budget that fits only some; never over the budget, the charge the sum
// of the reported usage, no reservation left, and each admitted request logged
// as a responses request charged no more than it reserved.
func TestConcurrentResponsesBudgetAcrossProcesses(t *testing.T) {
	t.Parallel()
	if ddb == nil {
		t.Skip("dynalite not installed")
	}
	table := ddb.NewTable(t)
	procs := startLogged(t, 2, table, "info")
	const daily = 4000
	admin(t, procs[0].URL, "PUT", "/admin/tenants/acme", map[string]any{"tokenBudget": map[string]any{"daily": daily, "monthly": 1_000_000}})
	key := admin(t, procs[0].URL, "POST", "/admin/tenants/acme/keys", nil)["key"].(string)

	results := burst(200, func(i int) outcome {
		return postTo(t, procs[i%2].URL+"/v1/responses", key, map[string]any{
			"instructions": "Answer in a few words.", "max_output_tokens": 12,
			"input": fmt.Sprintf("request %d asks the model a question of some length", i)})
	})
	admitted := proveBudget(t, table, daily, results)
	lines := requestLines(t, procs)
	for _, r := range admitted {
		l := lines[r.id]
		in, _ := l["inputTokens"].(float64)
		out, _ := l["outputTokens"].(float64)
		reserved, _ := l["reservedTokens"].(float64)
		if l == nil || int64(in+out) != r.total || reserved <= 0 || in+out > reserved || l["api"] != "responses" {
			t.Errorf("request %s: line %v, reported %d", r.id, l, r.total)
		}
	}
}
