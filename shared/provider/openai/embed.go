package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/embedding"
)

// wireEmbeddingRequest is the body of POST /embeddings. Vectors are always
// asked for as floats: the gateway encodes base64 for its clients itself.
type wireEmbeddingRequest struct {
	Model          string `json:"model"`
	Input          any    `json:"input"` // []string or [][]int
	EncodingFormat string `json:"encoding_format"`
	Dimensions     int    `json:"dimensions,omitempty"`
	User           string `json:"user,omitempty"`
}

type wireEmbeddings struct {
	Data []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage *struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// Embed sends req to the API's /embeddings and returns the vectors in input
// order. Errors are classified as Complete's are; an answer whose vectors do
// not match the inputs one for one is ErrUnavailable.
func (c *Client) Embed(ctx context.Context, req *embedding.Request) (embedding.Result, error) {
	body := wireEmbeddingRequest{Model: req.Model, EncodingFormat: "float", Dimensions: req.Dimensions, User: req.User}
	if req.Tokens != nil {
		body.Input = req.Tokens
	} else {
		body.Input = req.Inputs
	}
	resp, err := c.send(ctx, c.embedURL, body, "application/json")
	if err != nil {
		return embedding.Result{}, err
	}
	defer resp.Body.Close()
	var out wireEmbeddings
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxCompletionBody)).Decode(&out); err != nil {
		if ctxErr := contextError(ctx, err); ctxErr != nil {
			return embedding.Result{}, ctxErr
		}
		return embedding.Result{}, &chat.ProviderError{Class: chat.ErrUnavailable, Message: "malformed embeddings",
			Err: fmt.Errorf("openai: decode embeddings: %w", err)}
	}
	if isSet(out.Error) {
		return embedding.Result{}, inBandError(out.Error, c.apiKey)
	}
	n := req.Len()
	res := embedding.Result{Vectors: make([][]float32, n)}
	for _, d := range out.Data {
		if d.Index < 0 || d.Index >= n || res.Vectors[d.Index] != nil || len(d.Embedding) == 0 {
			return embedding.Result{}, badAnswer("embeddings that do not match the inputs")
		}
		res.Vectors[d.Index] = d.Embedding
	}
	for _, v := range res.Vectors {
		if v == nil {
			return embedding.Result{}, badAnswer("fewer embeddings than inputs")
		}
	}
	if out.Usage != nil {
		res.InputTokens = out.Usage.PromptTokens
	} else {
		res.Estimated = true
	}
	return res, nil
}

func badAnswer(msg string) error {
	return &chat.ProviderError{Class: chat.ErrUnavailable, Message: msg, Err: errors.New("openai: " + msg)}
}

// openAIDimensions are the vector lengths of OpenAI's own embedding models
// (platform docs, "Embeddings"); text-embedding-3 models shorten them on
// request. Other servers' models are unknown.
var openAIDimensions = map[string]struct {
	n         int
	shortened bool
}{
	"text-embedding-3-small": {1536, true},
	"text-embedding-3-large": {3072, true},
	"text-embedding-ada-002": {1536, false},
}

// Dimensions knows OpenAI's own embedding models only.
func (*Client) Dimensions(model string, requested int) (int, bool) {
	d, ok := openAIDimensions[model]
	switch {
	case !ok:
		return 0, false
	case requested > 0 && d.shortened:
		return requested, true
	case requested > 0 && requested != d.n:
		return 0, false
	}
	return d.n, true
}
