package chat_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

var embedCatalog = catalog + ",echo/echo-embed-1,openai/text-embedding-3-small,bedrock/amazon.titan-embed-text-v2:0,bedrock/cohere.embed-english-v3"

func norm(v []float64) float64 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	return math.Sqrt(n)
}

// TestEmbeddings serves POST /v1/embeddings to the official Go SDK on echo and
// the OpenAI-compatible fake, floats and base64, and meters the input tokens.
func TestEmbeddings(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": embedCatalog})
	key := g.tenant("embed", nil)
	g.do("PUT", "/admin/tenants/embed", adminKey, map[string]any{"name": "embed",
		"tokenBudget": map[string]any{"daily": 100000, "monthly": 1000000}})
	client := g.sdk(key)

	// echo, by default (the catalog's first embedding model).
	resp, err := client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"the cat sat", "a dog ran", "the cat sat"}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "echo/echo-embed-1" || len(resp.Data) != 3 || resp.Usage.PromptTokens <= 0 || resp.Usage.TotalTokens != resp.Usage.PromptTokens {
		t.Fatalf("echo embeddings: %s", resp.RawJSON())
	}
	for i, d := range resp.Data {
		if d.Index != int64(i) || len(d.Embedding) != 256 || math.Abs(norm(d.Embedding)-1) > 1e-5 {
			t.Errorf("vector %d: index %d, %d dimensions, norm %v", i, d.Index, len(d.Embedding), norm(d.Embedding))
		}
	}
	for j := range resp.Data[0].Embedding {
		if resp.Data[0].Embedding[j] != resp.Data[2].Embedding[j] {
			t.Fatal("the same text got different vectors")
		}
	}
	charged := resp.Usage.PromptTokens

	// The OpenAI-compatible provider, with dimensions; base64 through raw HTTP.
	resp, err = client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{Model: "openai/text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello big world")}, Dimensions: openai.Int(16)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 1 || len(resp.Data[0].Embedding) != 16 || resp.Usage.PromptTokens != 3 {
		t.Errorf("openai embeddings: %s", resp.RawJSON())
	}
	charged += resp.Usage.PromptTokens
	got := g.OpenAI.EmbeddingRequests()
	if len(got) != 1 || got[0].Model != "text-embedding-3-small" || got[0].Dimensions != 16 || got[0].EncodingFormat != "float" ||
		string(got[0].Input) != `["hello big world"]` {
		t.Errorf("the provider received %+v", got)
	}
	r := g.do("POST", "/v1/embeddings", key, map[string]any{"model": "openai/text-embedding-3-small", "input": []string{"hello big world"},
		"encoding_format": "base64", "dimensions": 16})
	var b64 struct {
		Data []struct {
			Embedding string `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(r.Body, &b64); err != nil || r.Status != http.StatusOK || len(b64.Data) != 1 {
		t.Fatalf("base64: %d %s", r.Status, r.Body)
	}
	raw, err := base64.StdEncoding.DecodeString(b64.Data[0].Embedding)
	if err != nil || len(raw) != 16*4 {
		t.Fatalf("base64 embedding %q: %v", b64.Data[0].Embedding, err)
	}
	for j := range 16 {
		if x := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*j:])); x != float32(resp.Data[0].Embedding[j]) {
			t.Fatalf("base64 value %d = %v, the float answer says %v", j, x, resp.Data[0].Embedding[j])
		}
	}
	charged += b64.Usage.PromptTokens
	if r.Header.Get("x-tollgate-model") != "openai/text-embedding-3-small" || r.Header.Get("x-budget-remaining-daily") == "" {
		t.Errorf("headers %v", r.Header)
	}

	// Bedrock: Titan (one call per text), and Cohere with input_type.
	resp, err = client.Embeddings.New(t.Context(), openai.EmbeddingNewParams{Model: "bedrock/amazon.titan-embed-text-v2:0",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"one two", "three"}}, Dimensions: openai.Int(256)})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Data) != 2 || len(resp.Data[1].Embedding) != 256 || resp.Usage.PromptTokens != 3 {
		t.Errorf("titan embeddings: %s", resp.RawJSON())
	}
	charged += resp.Usage.PromptTokens
	r = g.do("POST", "/v1/embeddings", key, map[string]any{"model": "bedrock/cohere.embed-english-v3", "input": "where is it", "input_type": "search_query"})
	var co struct {
		Data []struct {
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int64 `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(r.Body, &co); err != nil || r.Status != http.StatusOK || len(co.Data) != 1 || len(co.Data[0].Embedding) != 1024 || co.Usage.PromptTokens != 3 {
		t.Fatalf("cohere: %d %s", r.Status, r.Body)
	}
	charged += co.Usage.PromptTokens
	br := g.Bedrock.Requests()
	if last := br[len(br)-1]; !last.Invoke || !strings.Contains(string(last.Body), `"input_type":"search_query"`) {
		t.Errorf("Bedrock received %s", last.Body)
	}

	// Every token counted is charged, and nothing else.
	r = g.do("GET", "/usage", key, nil)
	var u struct {
		Day struct{ Used, Reserved int64 } `json:"day"`
	}
	if err := json.Unmarshal(r.Body, &u); err != nil || u.Day.Used != charged || u.Day.Reserved != 0 {
		t.Errorf("GET /usage: %s, want %d tokens charged", r.Body, charged)
	}
}

// TestEmbeddingsBadInput: refusals are OpenAI-shaped 400s naming the
// parameter; none reaches a provider or costs anything, and a provider's
// failure costs nothing either.
func TestEmbeddingsBadInput(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": embedCatalog})
	key := g.tenant("embed-bad", nil)
	g.do("PUT", "/admin/tenants/embed-bad", adminKey, map[string]any{"name": "embed-bad",
		"tokenBudget": map[string]any{"daily": 100000, "monthly": 1000000}})
	many := make([]string, 2049)
	for i := range many {
		many[i] = "x"
	}
	for _, tt := range []struct {
		name        string
		body        any
		status      int
		code, param string
	}{
		{"no input", map[string]any{"model": "echo/echo-embed-1"}, 400, "missing_required_parameter", "input"},
		{"empty array", map[string]any{"input": []string{}}, 400, "invalid_value", "input"},
		{"empty string", map[string]any{"input": []string{"a", ""}}, 400, "invalid_value", "input[1]"},
		{"too many", map[string]any{"input": many}, 400, "invalid_value", "input"},
		{"wrong type", map[string]any{"input": map[string]any{"a": 1}}, 400, "invalid_type", "input"},
		{"encoding", map[string]any{"input": "a", "encoding_format": "hex"}, 400, "invalid_value", "encoding_format"},
		{"dimensions", map[string]any{"input": "a", "dimensions": 0}, 400, "invalid_value", "dimensions"},
		{"unknown field", map[string]any{"input": "a", "dimension": 8}, 400, "unknown_parameter", "dimension"},
		{"chat model", map[string]any{"input": "a", "model": "echo/echo-1"}, 400, "wrong_model_kind", "model"},
		{"unknown model", map[string]any{"input": "a", "model": "openai/text-embedding-9"}, 404, "model_not_found", "model"},
		{"input_type", map[string]any{"input": "a", "input_type": "query"}, 400, "invalid_value", "input_type"},
		{"titan dimensions", map[string]any{"input": "a", "model": "bedrock/amazon.titan-embed-text-v2:0", "dimensions": 300}, 400, "invalid_value", "dimensions"},
		{"titan tokens", map[string]any{"input": []int{1, 2}, "model": "bedrock/amazon.titan-embed-text-v2:0"}, 400, "invalid_value", "input"},
		{"cohere too long", map[string]any{"input": []string{"a", strings.Repeat("x", 2049)}, "model": "bedrock/cohere.embed-english-v3"}, 400, "invalid_value", "input[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, g.do("POST", "/v1/embeddings", key, tt.body), tt.status, tt.code, tt.param)
		})
	}
	g.OpenAI.Set("text-embedding-3-small", openaitest.Script{Status: 500, ErrorMessage: "boom"})
	r := g.do("POST", "/v1/embeddings", key, map[string]any{"model": "openai/text-embedding-3-small", "input": "a"})
	if r.Status < 500 || !strings.Contains(string(r.Body), `"error"`) {
		t.Errorf("provider failure: %d %s", r.Status, r.Body)
	}
	if n := len(g.OpenAI.EmbeddingRequests()); n != 1 {
		t.Errorf("the provider saw %d requests, want only the failing one", n)
	}
	if n := len(g.Bedrock.Requests()); n != 0 {
		t.Errorf("refused requests reached Bedrock %d times", n)
	}
	r = g.do("GET", "/usage", key, nil)
	var u struct {
		Day struct{ Used, Reserved int64 } `json:"day"`
	}
	if err := json.Unmarshal(r.Body, &u); err != nil || u.Day.Used != 0 || u.Day.Reserved != 0 {
		t.Errorf("refused and failed requests changed the usage: %s", r.Body)
	}
}

// TestEmbeddingsFallback: when the embedding model fails, the tenant's next
// embedding model answers, but only one whose vectors have the same length.
func TestEmbeddingsFallback(t *testing.T) {
	t.Parallel()
	g := newGateway(t, map[string]string{"MODELS": embedCatalog})
	key := g.tenant("embed-fallback", map[string]any{"embeddingDefault": "openai/text-embedding-3-small",
		"embeddingFallbacks": []string{"bedrock/cohere.embed-english-v3", "echo/echo-embed-1"}})
	g.OpenAI.Set("text-embedding-3-small", openaitest.Script{Status: 503})

	// 256 dimensions: Cohere v3 cannot make them, echo can.
	r := g.do("POST", "/v1/embeddings", key, map[string]any{"input": "a text", "dimensions": 256})
	var ok struct {
		Data []struct {
			Embedding []float64 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Body, &ok); err != nil || r.Status != http.StatusOK || len(ok.Data) != 1 || len(ok.Data[0].Embedding) != 256 {
		t.Fatalf("fallback: %d %s", r.Status, r.Body)
	}
	if m, a := r.Header.Get("x-tollgate-model"), r.Header.Get("x-tollgate-attempts"); m != "echo/echo-embed-1" || a != "2" {
		t.Errorf("answered by %s after %s attempts, want echo after 2", m, a)
	}
	if n := len(g.Bedrock.Requests()); n != 0 {
		t.Errorf("Cohere, whose vectors would not match, was tried %d times", n)
	}

	// The model's own 1536 dimensions: neither fallback matches.
	r = g.do("POST", "/v1/embeddings", key, map[string]any{"input": "a text"})
	if r.Status < 500 || r.Header.Get("x-tollgate-model") != "" {
		t.Errorf("no matching fallback: %d %v %s", r.Status, r.Header, r.Body)
	}
	// A refusal by the provider is not the provider failing: no fallback.
	g.OpenAI.Set("text-embedding-3-small", openaitest.Script{Status: 400, ErrorMessage: "bad input"})
	before := len(g.Bedrock.Requests())
	r = g.do("POST", "/v1/embeddings", key, map[string]any{"input": "a text", "dimensions": 256})
	if r.Status != http.StatusBadRequest || len(g.Bedrock.Requests()) != before {
		t.Errorf("provider 400: %d %s", r.Status, r.Body)
	}
	if got := len(g.OpenAI.EmbeddingRequests()); got != 3 {
		t.Errorf("the primary saw %d requests, want 3", got)
	}

	// Fallbacks must be embedding models.
	r = g.do("PUT", "/admin/tenants/embed-fallback", adminKey, map[string]any{"name": "embed-fallback",
		"models": map[string]any{"embeddingFallbacks": []string{"echo/echo-1"}}})
	wantError(t, r, http.StatusBadRequest, "invalid_tenant_config", "models.embeddingFallbacks[0]")
}
