package bedrocktest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// invoke answers InvokeModel for the embedding models Tollgate calls, as Bedrock
// does (Bedrock user guide, "Amazon Titan Text Embeddings" and "Cohere Embed
// v3/v4"): Amazon Titan Text Embeddings V2 ({"inputText","dimensions",
// "normalize"} → {"embedding","inputTextTokenCount","embeddingsByType"}) and
// Cohere Embed ({"texts","input_type","embedding_types","output_dimension"} →
// {"id","embeddings":{"float":[...]},"response_type":"embeddings_by_type",
// "texts"}). Both send X-Amzn-Bedrock-Input-Token-Count, counting one token per
// word. Vectors are deterministic unit vectors of the text. A model's Script
// with an ErrorType or Status answers that error; other models are refused
// with a ValidationException, as Bedrock refuses a body it does not know.
func (h *Handler) invoke(w http.ResponseWriter, r *http.Request, modelID string, body []byte, readErr error) {
	script, latency, id := h.record(Request{ModelID: modelID, Invoke: true, Body: body, TraceID: r.Header.Get("X-Amzn-Trace-Id")})
	if !h.sleep(r.Context(), latency) {
		return
	}
	if script.ErrorType != "" || script.Status != 0 {
		status := cmp.Or(script.Status, errorStatus(script.ErrorType))
		writeError(w, id, status, script.ErrorType, cmp.Or(script.Message, "bedrocktest: scripted "+cmp.Or(script.ErrorType, http.StatusText(status))))
		return
	}
	if readErr != nil {
		writeError(w, id, http.StatusBadRequest, "ValidationException", "bedrocktest: unreadable body")
		return
	}
	var (
		out    any
		tokens int
		msg    string
	)
	switch m := strings.ToLower(modelID); {
	case strings.Contains(m, "amazon.titan-embed-text-v2"):
		out, tokens, msg = titan(body)
	case strings.Contains(m, "cohere.embed"):
		out, tokens, msg = cohere(body, id, strings.Contains(m, "embed-v4"))
	default:
		msg = "bedrocktest: InvokeModel is served for Titan Text Embeddings V2 and Cohere Embed only, not " + modelID
	}
	if msg != "" {
		writeError(w, id, http.StatusBadRequest, "ValidationException", msg)
		return
	}
	w.Header().Set("X-Amzn-Requestid", id)
	w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(tokens))
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func titan(body []byte) (any, int, string) {
	var in struct {
		InputText  *string `json:"inputText"`
		Dimensions *int    `json:"dimensions"`
		Normalize  *bool   `json:"normalize"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, 0, "Malformed input request: " + err.Error()
	}
	switch {
	case in.InputText == nil || *in.InputText == "":
		return nil, 0, "Malformed input request: #: required key [inputText] not found"
	case utf8.RuneCountInString(*in.InputText) > 50_000:
		return nil, 0, "Malformed input request: #/inputText: expected maxLength: 50000"
	}
	dims := 1024
	if in.Dimensions != nil {
		if !slices.Contains([]int{256, 512, 1024}, *in.Dimensions) {
			return nil, 0, fmt.Sprintf("Malformed input request: #/dimensions: %d is not a valid enum value", *in.Dimensions)
		}
		dims = *in.Dimensions
	}
	v := unitVector(*in.InputText, dims)
	n := len(strings.Fields(*in.InputText))
	return map[string]any{"embedding": v, "inputTextTokenCount": n, "embeddingsByType": map[string]any{"float": v}}, n, ""
}

func cohere(body []byte, id string, v4 bool) (any, int, string) {
	var in struct {
		Texts           []string `json:"texts"`
		InputType       string   `json:"input_type"`
		EmbeddingTypes  []string `json:"embedding_types"`
		OutputDimension *int     `json:"output_dimension"`
		Truncate        string   `json:"truncate"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return nil, 0, "Malformed input request: " + err.Error()
	}
	switch {
	case len(in.Texts) == 0 || len(in.Texts) > 96:
		return nil, 0, "Malformed input request: #/texts: expected 1 to 96 texts"
	case !slices.Contains([]string{"search_document", "search_query", "classification", "clustering"}, in.InputType):
		return nil, 0, "Malformed input request: #/input_type: " + strconv.Quote(in.InputType) + " is not a valid enum value"
	case len(in.EmbeddingTypes) != 1 || in.EmbeddingTypes[0] != "float":
		return nil, 0, "bedrocktest: only embedding_types [\"float\"] is served"
	case !v4 && in.OutputDimension != nil:
		return nil, 0, "Malformed input request: extraneous key [output_dimension] is not permitted"
	}
	dims := 1024
	if v4 {
		dims = 1536
		if in.OutputDimension != nil {
			if !slices.Contains([]int{256, 512, 1024, 1536}, *in.OutputDimension) {
				return nil, 0, fmt.Sprintf("Malformed input request: #/output_dimension: %d is not a valid enum value", *in.OutputDimension)
			}
			dims = *in.OutputDimension
		}
	}
	vectors := make([][]float32, len(in.Texts))
	n := 0
	for i, t := range in.Texts {
		if !v4 && utf8.RuneCountInString(t) > 2048 {
			return nil, 0, fmt.Sprintf("Malformed input request: #/texts/%d: expected maxLength: 2048", i)
		}
		vectors[i] = unitVector(in.InputType+":"+t, dims)
		n += len(strings.Fields(t))
	}
	return map[string]any{"id": id, "embeddings": map[string]any{"float": vectors}, "response_type": "embeddings_by_type", "texts": in.Texts}, n, ""
}

// unitVector is a deterministic unit vector of text.
func unitVector(text string, dims int) []float32 {
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		h := fnv.New32a()
		fmt.Fprintf(h, "%d:%s", i, text)
		x := float64(h.Sum32()%2000)/1000 - 1
		v[i] = float32(x)
		norm += x * x
	}
	if norm == 0 {
		v[0], norm = 1, 1
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / math.Sqrt(norm))
	}
	return v
}
