package bedrock

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/embedding"
)

// Limits of Bedrock's embedding models (Bedrock user guide, "Amazon Titan Text
// Embeddings", "Cohere Embed v3", "Cohere Embed v4").
const (
	// cohereBatch is the most texts one Cohere InvokeModel call takes.
	cohereBatch = 96
	// titanConcurrency bounds the InvokeModel calls in flight for one request
	// to Titan, which embeds one text per call.
	titanConcurrency = 8
	// titanMaxChars is Titan Text Embeddings V2's input limit (8,192 tokens,
	// 50,000 characters).
	titanMaxChars = 50_000
	// cohereMaxChars is Cohere Embed v3's limit per text (2,048 characters,
	// about 512 tokens).
	cohereMaxChars = 2048
)

type embedFamily uint8

const (
	familyNone embedFamily = iota
	familyTitan
	familyCohere
)

func embedFamilyOf(model string) embedFamily {
	switch m := strings.ToLower(model); {
	case strings.Contains(m, "amazon.titan-embed-text-v2"):
		return familyTitan
	case strings.Contains(m, "cohere.embed"):
		return familyCohere
	}
	return familyNone
}

// titanDimensions are the vector lengths Titan Text Embeddings V2 takes.
var titanDimensions = []int{256, 512, 1024}

// cohereV4Dimensions are Cohere Embed v4's output dimensions; v3 has its own
// fixed length and takes none.
var cohereV4Dimensions = []int{256, 512, 1024, 1536}

// CheckEmbedding reports what Bedrock cannot do with req, before any call: a
// model of another family, token arrays, dimensions the model does not have,
// an input over the model's limit. Params are OpenAI's.
func (c *Client) CheckEmbedding(req *embedding.Request) []chat.Issue {
	family := embedFamilyOf(req.Model)
	v4 := strings.Contains(strings.ToLower(req.Model), "embed-v4")
	var out []chat.Issue
	refuse := func(param, msg string) { out = append(out, chat.Issue{Param: param, Message: msg}) }
	if family == familyNone {
		refuse("model", "Tollgate embeds on Bedrock with Amazon Titan Text Embeddings V2 and Cohere Embed v3 and v4, not "+quote(req.Model))
		return out
	}
	if req.Tokens != nil {
		refuse("input", "Bedrock's embedding models take texts, not token arrays")
	}
	if d := req.Dimensions; d != 0 {
		switch {
		case family == familyTitan && !slices.Contains(titanDimensions, d):
			refuse("dimensions", fmt.Sprintf("Titan Text Embeddings V2 makes vectors of 256, 512 or 1024 dimensions, not %d", d))
		case family == familyCohere && !v4:
			refuse("dimensions", "Cohere Embed v3 makes vectors of its own length and takes no dimensions")
		case family == familyCohere && !slices.Contains(cohereV4Dimensions, d):
			refuse("dimensions", fmt.Sprintf("Cohere Embed v4 makes vectors of 256, 512, 1024 or 1536 dimensions, not %d", d))
		}
	}
	limit, name := titanMaxChars, "Titan Text Embeddings V2 takes at most 50,000 characters (8,192 tokens) per input"
	if family == familyCohere {
		limit, name = cohereMaxChars, "Cohere Embed takes at most 2,048 characters (about 512 tokens) per input"
		if v4 {
			limit = 0 // up to 128k tokens: left to Bedrock
		}
	}
	for i, s := range req.Inputs {
		if limit > 0 && len([]rune(s)) > limit {
			refuse(fmt.Sprintf("input[%d]", i), name)
			break
		}
	}
	return out
}

// Embed embeds req's texts with InvokeModel: Titan one text per call, with up
// to titanConcurrency calls in flight, Cohere in batches of up to 96. Vectors
// keep the inputs' order. Input tokens are Titan's inputTextTokenCount, or
// Bedrock's X-Amzn-Bedrock-Input-Token-Count header for Cohere; when neither is
// there the result says Estimated.
func (c *Client) Embed(ctx context.Context, req *embedding.Request) (embedding.Result, error) {
	if is := c.CheckEmbedding(req); len(is) > 0 {
		return embedding.Result{}, badRequest(is[0].Param + ": " + is[0].Message)
	}
	if embedFamilyOf(req.Model) == familyTitan {
		return c.embedTitan(ctx, req)
	}
	return c.embedCohere(ctx, req)
}

type titanRequest struct {
	InputText  string `json:"inputText"`
	Dimensions int    `json:"dimensions,omitempty"`
	Normalize  bool   `json:"normalize"`
}

type titanResponse struct {
	Embedding           []float32 `json:"embedding"`
	InputTextTokenCount *int      `json:"inputTextTokenCount"`
}

func (c *Client) embedTitan(ctx context.Context, req *embedding.Request) (embedding.Result, error) {
	n := len(req.Inputs)
	res := embedding.Result{Vectors: make([][]float32, n)}
	counts := make([]int, n)
	counted := make([]bool, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, titanConcurrency)
	for i, text := range req.Inputs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			body, _ := json.Marshal(titanRequest{InputText: text, Dimensions: req.Dimensions, Normalize: true})
			out, err := c.invoke(ctx, req.Model, body)
			var tr titanResponse
			if err == nil {
				if jerr := json.Unmarshal(out.Body, &tr); jerr != nil {
					err = malformed("Titan embedding", jerr)
				} else if len(tr.Embedding) == 0 {
					err = malformed("Titan embedding", errors.New("no embedding"))
				}
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
				return
			}
			res.Vectors[i] = tr.Embedding
			switch {
			case tr.InputTextTokenCount != nil:
				counts[i], counted[i] = *tr.InputTextTokenCount, true
			default:
				counts[i], counted[i] = headerTokens(out)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return embedding.Result{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return embedding.Result{}, err
	}
	for i := range n {
		res.InputTokens += counts[i]
		if !counted[i] {
			res.Estimated = true
		}
	}
	return res, nil
}

type cohereRequest struct {
	Texts           []string `json:"texts"`
	InputType       string   `json:"input_type"`
	EmbeddingTypes  []string `json:"embedding_types"`
	OutputDimension int      `json:"output_dimension,omitempty"`
}

type cohereResponse struct {
	Embeddings json.RawMessage `json:"embeddings"` // {"float": [[...]]} when embedding_types is set
}

func (c *Client) embedCohere(ctx context.Context, req *embedding.Request) (embedding.Result, error) {
	inputType := req.InputType
	if inputType == "" {
		inputType = "search_document"
	}
	var res embedding.Result
	for start := 0; start < len(req.Inputs); start += cohereBatch {
		batch := req.Inputs[start:min(start+cohereBatch, len(req.Inputs))]
		body, _ := json.Marshal(cohereRequest{Texts: batch, InputType: inputType, EmbeddingTypes: []string{"float"},
			OutputDimension: req.Dimensions})
		out, err := c.invoke(ctx, req.Model, body)
		if err != nil {
			return embedding.Result{}, err
		}
		var cr cohereResponse
		var byType struct {
			Float [][]float32 `json:"float"`
		}
		if err := json.Unmarshal(out.Body, &cr); err != nil {
			return embedding.Result{}, malformed("Cohere embeddings", err)
		}
		if err := json.Unmarshal(cr.Embeddings, &byType); err != nil || len(byType.Float) != len(batch) {
			if err == nil {
				err = fmt.Errorf("%d embeddings for %d texts", len(byType.Float), len(batch))
			}
			return embedding.Result{}, malformed("Cohere embeddings", err)
		}
		res.Vectors = append(res.Vectors, byType.Float...)
		n, ok := headerTokens(out)
		res.InputTokens += n
		if !ok {
			res.Estimated = true
		}
	}
	return res, nil
}

// invoke calls InvokeModel.
func (c *Client) invoke(ctx context.Context, model string, body []byte) (*bedrockruntime.InvokeModelOutput, error) {
	out, err := c.rt.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{
		ModelId: aws.String(model), Body: body,
		ContentType: aws.String("application/json"), Accept: aws.String("application/json"),
	})
	if err != nil {
		return nil, classify("invoke model", err)
	}
	return out, nil
}

// headerTokens reads X-Amzn-Bedrock-Input-Token-Count from the raw response.
func headerTokens(out *bedrockruntime.InvokeModelOutput) (int, bool) {
	if out == nil {
		return 0, false
	}
	raw, ok := awsmiddleware.GetRawResponse(out.ResultMetadata).(*smithyhttp.Response)
	if !ok || raw == nil {
		return 0, false
	}
	n, err := strconv.Atoi(raw.Header.Get("X-Amzn-Bedrock-Input-Token-Count"))
	return n, err == nil && n >= 0
}

// Dimensions: Titan Text Embeddings V2 makes 1024 values unless asked for 256
// or 512; Cohere Embed v3 1024 (384 for the light models); v4 1536 unless
// asked otherwise.
func (*Client) Dimensions(model string, requested int) (int, bool) {
	m := strings.ToLower(model)
	switch embedFamilyOf(model) {
	case familyTitan:
		return cmp.Or(requested, 1024), true
	case familyCohere:
		if strings.Contains(m, "embed-v4") {
			return cmp.Or(requested, 1536), true
		}
		if requested != 0 {
			return 0, false
		}
		if strings.Contains(m, "light") {
			return 384, true
		}
		return 1024, true
	}
	return 0, false
}
