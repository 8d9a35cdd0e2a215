package openaitest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"io"
	"math"
	"net/http"
)

// EmbeddingRequest is a POST /embeddings body as the fake received it. Input is
// decoded as OpenAI takes it: a string, an array of strings, an array of
// tokens or an array of token arrays.
type EmbeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     int             `json:"dimensions,omitempty"`
	User           string          `json:"user,omitempty"`
}

// EmbeddingDimensions is the length of the fake's vectors when a request asks
// for none.
const EmbeddingDimensions = 8

// EmbeddingRequests returns the embeddings requests received so far, in order.
func (h *Handler) EmbeddingRequests() []EmbeddingRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]EmbeddingRequest(nil), h.embeddings...)
}

// serveEmbeddings answers POST .../embeddings as OpenAI does: one unit vector
// per input (deterministic, from the input's text), as floats or base64, with
// usage counting one token per word (a token array by its length). A model's
// Script with a Status answers that error instead.
func (h *Handler) serveEmbeddings(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	var req EmbeddingRequest
	if err == nil {
		err = json.Unmarshal(raw, &req)
	}
	if err != nil {
		writeError(w, invalid("", "", "We could not parse the JSON body of your request."), 0)
		return
	}
	h.mu.Lock()
	if h.recording {
		h.embeddings = append(h.embeddings, req)
	}
	s, ok := h.scripts[req.Model]
	if !ok {
		s = h.def
	}
	h.mu.Unlock()
	if s.Status != 0 && s.Status != http.StatusOK {
		writeError(w, scriptError(s), s.RetryAfter)
		return
	}
	texts, tokens, ok := embeddingInputs(req.Input)
	if !ok || len(texts) == 0 {
		writeError(w, invalid("input", "", "'input' must be a string, an array of strings, an array of tokens or an array of token arrays, not empty."), 0)
		return
	}
	dims := req.Dimensions
	if dims <= 0 {
		dims = EmbeddingDimensions
	}
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	data := make([]item, len(texts))
	for i, t := range texts {
		v := unitVector(t, dims)
		var e any = v
		if req.EncodingFormat == "base64" {
			e = encodeBase64(v)
		}
		data[i] = item{Object: "embedding", Index: i, Embedding: e}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// embeddingInputs returns the inputs as texts (a token array as its numbers)
// and their token count.
func embeddingInputs(raw json.RawMessage) (texts []string, tokens int, ok bool) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, Tokens(one), true
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, s := range many {
			tokens += Tokens(s)
		}
		return many, tokens, true
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil {
		b, _ := json.Marshal(toks)
		return []string{string(b)}, len(toks), true
	}
	var arrays [][]int
	if json.Unmarshal(raw, &arrays) == nil {
		for _, a := range arrays {
			b, _ := json.Marshal(a)
			texts = append(texts, string(b))
			tokens += len(a)
		}
		return texts, tokens, true
	}
	return nil, 0, false
}

func unitVector(text string, dims int) []float32 {
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		h := fnv.New32a()
		h.Write([]byte{byte(i)})
		h.Write([]byte(text))
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

// encodeBase64 is OpenAI's base64 encoding of a vector: its float32 values,
// little-endian.
func encodeBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}
