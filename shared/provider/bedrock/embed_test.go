package bedrock_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/embedding"
	"github.com/tollgate/tollgate/shared/provider/bedrock/bedrocktest"
)

const (
	titan    = "amazon.titan-embed-text-v2:0"
	cohereV3 = "cohere.embed-english-v3"
	cohereV4 = "cohere.embed-v4:0"
)

func unit(t *testing.T, v []float32) {
	t.Helper()
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if math.Abs(math.Sqrt(n)-1) > 1e-4 {
		t.Errorf("vector norm %v, want 1", math.Sqrt(n))
	}
}

// TestEmbedTitan: Titan embeds one text per InvokeModel call; the client fans
// out and keeps the inputs' order, and counts Titan's inputTextTokenCount.
func TestEmbedTitan(t *testing.T) {
	srv, c := newClient(t)
	inputs := make([]string, 20)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("text number %d", i)
	}
	res, err := c.Embed(t.Context(), &embedding.Request{Model: titan, Inputs: inputs, Dimensions: 256})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Vectors) != 20 || res.InputTokens != 60 || res.Estimated {
		t.Fatalf("%d vectors, %d tokens (estimated %v)", len(res.Vectors), res.InputTokens, res.Estimated)
	}
	texts := map[string]bool{}
	for _, r := range srv.Requests() {
		var body struct {
			InputText  string `json:"inputText"`
			Dimensions int    `json:"dimensions"`
			Normalize  bool   `json:"normalize"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil || !r.Invoke || r.ModelID != titan || body.Dimensions != 256 || !body.Normalize {
			t.Errorf("request %+v: %s", r, r.Body)
		}
		texts[body.InputText] = true
	}
	if len(texts) != 20 {
		t.Errorf("Bedrock saw %d distinct texts, want 20", len(texts))
	}
	// Order: each vector is the one Titan gives its own text alone.
	for _, i := range []int{0, 7, 19} {
		one, err := c.Embed(t.Context(), &embedding.Request{Model: titan, Inputs: []string{inputs[i]}, Dimensions: 256})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(one.Vectors[0]) != fmt.Sprint(res.Vectors[i]) {
			t.Errorf("vector %d is not the one of its text", i)
		}
		unit(t, res.Vectors[i])
	}
}

// TestEmbedCohere: Cohere embeds up to 96 texts per call, with input_type
// search_document unless the request says otherwise, and counts the tokens
// Bedrock's X-Amzn-Bedrock-Input-Token-Count header reports.
func TestEmbedCohere(t *testing.T) {
	srv, c := newClient(t)
	inputs := make([]string, 100)
	for i := range inputs {
		inputs[i] = "doc " + fmt.Sprint(i)
	}
	res, err := c.Embed(t.Context(), &embedding.Request{Model: cohereV3, Inputs: inputs})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Vectors) != 100 || len(res.Vectors[0]) != 1024 || res.InputTokens != 200 || res.Estimated {
		t.Fatalf("%d vectors of %d, %d tokens", len(res.Vectors), len(res.Vectors[0]), res.InputTokens)
	}
	reqs := srv.Requests()
	var sizes []int
	for _, r := range reqs {
		var body struct {
			Texts     []string `json:"texts"`
			InputType string   `json:"input_type"`
		}
		_ = json.Unmarshal(r.Body, &body)
		if body.InputType != "search_document" {
			t.Errorf("input_type %q", body.InputType)
		}
		sizes = append(sizes, len(body.Texts))
	}
	if fmt.Sprint(sizes) != "[96 4]" {
		t.Errorf("batches %v, want [96 4]", sizes)
	}
	unit(t, res.Vectors[99])

	q, err := c.Embed(t.Context(), &embedding.Request{Model: cohereV4, Inputs: []string{"doc 0"}, InputType: "search_query", Dimensions: 512})
	if err != nil || len(q.Vectors[0]) != 512 {
		t.Fatalf("v4 query: %v", err)
	}
	last := srv.Requests()[len(srv.Requests())-1]
	if !strings.Contains(string(last.Body), `"input_type":"search_query"`) || !strings.Contains(string(last.Body), `"output_dimension":512`) {
		t.Errorf("v4 request %s", last.Body)
	}
}

// TestCheckEmbedding: what Bedrock's embedding models cannot take is refused
// before any call, naming the parameter.
func TestCheckEmbedding(t *testing.T) {
	srv, c := newClient(t)
	for _, tt := range []struct {
		req   embedding.Request
		param string
	}{
		{embedding.Request{Model: "amazon.nova-2-multimodal-embeddings-v1:0", Inputs: []string{"a"}}, "model"},
		{embedding.Request{Model: titan, Tokens: [][]int{{1, 2}}}, "input"},
		{embedding.Request{Model: titan, Inputs: []string{"a"}, Dimensions: 300}, "dimensions"},
		{embedding.Request{Model: cohereV3, Inputs: []string{"a"}, Dimensions: 512}, "dimensions"},
		{embedding.Request{Model: cohereV4, Inputs: []string{"a"}, Dimensions: 100}, "dimensions"},
		{embedding.Request{Model: cohereV3, Inputs: []string{"a", strings.Repeat("x", 2049)}}, "input[1]"},
		{embedding.Request{Model: titan, Inputs: []string{strings.Repeat("x", 50_001)}}, "input[0]"},
	} {
		is := c.CheckEmbedding(&tt.req)
		if len(is) == 0 || is[0].Param != tt.param || is[0].Droppable {
			t.Errorf("CheckEmbedding(%s, dims %d) = %v, want a refusal of %s", tt.req.Model, tt.req.Dimensions, is, tt.param)
		}
		_, err := c.Embed(t.Context(), &tt.req)
		var pe *chat.ProviderError
		if !errors.As(err, &pe) || pe.Class != chat.ErrBadRequest {
			t.Errorf("Embed = %v, want a bad request", err)
		}
	}
	if len(c.CheckEmbedding(&embedding.Request{Model: cohereV4, Inputs: []string{strings.Repeat("x", 5000)}, Dimensions: 1024})) != 0 {
		t.Error("Cohere v4 takes long texts and 1024 dimensions")
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("refused requests reached Bedrock %d times", n)
	}
}

// TestEmbedErrors: Bedrock's errors are classified as for chat.
func TestEmbedErrors(t *testing.T) {
	srv, c := newClient(t)
	srv.Set(titan, bedrocktest.Script{ErrorType: "ThrottlingException"})
	_, err := c.Embed(t.Context(), &embedding.Request{Model: titan, Inputs: []string{"a", "b", "c"}})
	var pe *chat.ProviderError
	if !errors.As(err, &pe) || pe.Class != chat.ErrRateLimited {
		t.Errorf("Embed = %v, want rate limited", err)
	}
}

func TestEmbeddingDimensions(t *testing.T) {
	_, c := newClient(t)
	for _, tt := range []struct {
		model     string
		requested int
		want      int
		ok        bool
	}{
		{titan, 0, 1024, true}, {titan, 256, 256, true},
		{cohereV3, 0, 1024, true}, {"cohere.embed-english-light-v3", 0, 384, true}, {cohereV3, 512, 0, false},
		{cohereV4, 0, 1536, true}, {"us.Cohere.Embed-V4:0", 512, 512, true},
		{"amazon.titan-embed-text-v1", 0, 0, false},
	} {
		if n, ok := c.Dimensions(tt.model, tt.requested); n != tt.want || ok != tt.ok {
			t.Errorf("Dimensions(%s, %d) = %d, %v; want %d, %v", tt.model, tt.requested, n, ok, tt.want, tt.ok)
		}
	}
}
