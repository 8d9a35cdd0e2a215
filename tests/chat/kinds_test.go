package chat_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
)

// TestModelKinds: the catalog holds chat and embedding models; /v1/models lists
// both, and a chat request for an embedding model is a 400 that says so, on
// both APIs, reaching no provider.
func TestModelKinds(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": catalog + ",echo/echo-embed-1,openai/bge-m3#embedding"})
	key := g.tenant("kinds", nil)

	r := g.do("GET", "/v1/models", key, nil)
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil || r.Status != http.StatusOK {
		t.Fatalf("GET /v1/models: %d %s", r.Status, r.Body)
	}
	var ids []string
	for _, d := range list.Data {
		ids = append(ids, d.ID)
	}
	if !slices.Contains(ids, "echo/echo-embed-1") || !slices.Contains(ids, "openai/bge-m3") || !slices.Contains(ids, "echo/echo-1") {
		t.Errorf("models %v, want the chat and the embedding models", ids)
	}

	wantError(t, g.do("POST", "/v1/chat/completions", key, map[string]any{"model": "echo/echo-embed-1", "messages": userMessage("hi")}),
		http.StatusBadRequest, "wrong_model_kind", "model")
	wantError(t, g.do("POST", "/chat", key, map[string]any{"modelId": "openai/bge-m3", "messages": userMessage("hi")}),
		http.StatusBadRequest, "wrong_model_kind", "modelId")
	if n := len(g.OpenAI.Requests()); n != 0 {
		t.Errorf("the provider saw %d requests", n)
	}

	// A tenant's default must be a chat model.
	r = g.do("PUT", "/admin/tenants/kinds", adminKey, map[string]any{"name": "kinds", "models": map[string]any{"default": "openai/bge-m3"}})
	wantError(t, r, http.StatusBadRequest, "invalid_tenant_config", "models.default")
}
