package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tollgate/tollgate/shared/apierr"
	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/session"
)

// call is a decoded and validated chat request, whichever API it came from: the
// provider-neutral chat.Request (without a model: each attempt copies it and
// sets its own), and what only the gateway acts on.
type call struct {
	req          chat.Request // MaxTokens 0: DEFAULT_MAX_OUTPUT_TOKENS
	native       bool         // POST /chat rather than /v1/chat/completions
	model        string       // the model the client asked for, if any
	stream       bool
	includeUsage bool // OpenAI stream_options.include_usage
	sessionID    string
	// legacyFunctions: the request used functions/function_call, so the answer
	// uses function_call too.
	legacyFunctions bool
	resp            *respCall  // set for POST /v1/responses
	retrieval       *retrieval // the vector stores to search first (retrieval.go)
}

// openAIRequest is OpenAI's Chat Completions request. Parameters Tollgate does not
// serve at all are listed in unsupported and refused with a 400; the ones a
// particular provider cannot honour are checked against the model (capabilities).
type openAIRequest struct {
	Model         string            `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Stream        *bool             `json:"stream"`
	StreamOptions *struct {
		IncludeUsage       *bool `json:"include_usage"`
		IncludeObfuscation *bool `json:"include_obfuscation"`
	} `json:"stream_options"`
	MaxTokens           *int64             `json:"max_tokens"`
	MaxCompletionTokens *int64             `json:"max_completion_tokens"`
	Temperature         *float64           `json:"temperature"`
	TopP                *float64           `json:"top_p"`
	Stop                json.RawMessage    `json:"stop"`
	User                string             `json:"user"`
	SafetyIdentifier    string             `json:"safety_identifier"`
	N                   *int64             `json:"n"`
	Tools               []json.RawMessage  `json:"tools"`
	ToolChoice          json.RawMessage    `json:"tool_choice"`
	ParallelToolCalls   *bool              `json:"parallel_tool_calls"`
	Functions           []json.RawMessage  `json:"functions"`
	FunctionCall        json.RawMessage    `json:"function_call"`
	ResponseFormat      json.RawMessage    `json:"response_format"`
	ReasoningEffort     *string            `json:"reasoning_effort"`
	Seed                *float64           `json:"seed"`
	PresencePenalty     *float64           `json:"presence_penalty"`
	FrequencyPenalty    *float64           `json:"frequency_penalty"`
	LogitBias           map[string]float64 `json:"logit_bias"`
	Logprobs            *bool              `json:"logprobs"`
	TopLogprobs         *int64             `json:"top_logprobs"`
	Metadata            map[string]string  `json:"metadata"`
	Store               *bool              `json:"store"`
	ServiceTier         *string            `json:"service_tier"`
	Prediction          json.RawMessage    `json:"prediction"`
}

// unsupported maps OpenAI parameters the gateway refuses to what to say about them.
var unsupported = map[string]string{
	"audio": "audio output", "modalities": "non-text modalities", "web_search_options": "web search",
	"prompt_cache_key": "prompt cache keys", "prompt_cache_retention": "prompt cache retention", "verbosity": "verbosity",
}

func invalid(code, param, format string, args ...any) error {
	return apierr.InvalidParam(code, param, fmt.Sprintf(format, args...))
}

// decodeOpenAI parses and validates a /v1/chat/completions body.
func decodeOpenAI(body []byte) (*call, error) {
	var req openAIRequest
	if err := strictDecode(body, &req); err != nil {
		return nil, err
	}
	c := &call{model: req.Model, req: chat.Request{User: req.User, Temperature: req.Temperature, TopP: req.TopP,
		ParallelToolCalls: req.ParallelToolCalls, Metadata: req.Metadata, Store: req.Store,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty}}
	r := &c.req
	if r.User == "" {
		r.User = req.SafetyIdentifier
	}
	if req.Stream != nil {
		c.stream = *req.Stream
	}
	if req.StreamOptions != nil {
		if !c.stream {
			return nil, invalid("invalid_value", "stream_options", "stream_options is only allowed when stream is true")
		}
		c.includeUsage = req.StreamOptions.IncludeUsage != nil && *req.StreamOptions.IncludeUsage
	}
	if req.N != nil {
		if *req.N < 1 || *req.N > maxChoices {
			return nil, invalid("invalid_value", "n", "n must be an integer from 1 to %d", maxChoices)
		}
		r.N = int(*req.N)
	}
	var err error
	if r.Messages, err = decodeMessages(req.Messages, "messages"); err != nil {
		return nil, err
	}
	mt, param := req.MaxCompletionTokens, "max_completion_tokens"
	if mt == nil {
		mt, param = req.MaxTokens, "max_tokens"
	}
	if r.MaxTokens, err = maxTokens(mt, param); err != nil {
		return nil, err
	}
	if r.Stop, err = decodeStop(req.Stop); err != nil {
		return nil, err
	}
	if err := c.decodeTools(&req); err != nil {
		return nil, err
	}
	if r.ResponseFormat, err = decodeResponseFormat(req.ResponseFormat, "response_format", false); err != nil {
		return nil, err
	}
	if req.ReasoningEffort != nil {
		if r.ReasoningEffort, err = reasoningEffort(*req.ReasoningEffort, "reasoning_effort"); err != nil {
			return nil, err
		}
	}
	if err := decodeSampling(&req, r); err != nil {
		return nil, err
	}
	if req.ServiceTier != nil {
		switch *req.ServiceTier {
		case "auto", "default", "flex", "scale", "priority":
			r.ServiceTier = *req.ServiceTier
		default:
			return nil, invalid("invalid_value", "service_tier", "service_tier must be auto, default, flex, scale or priority")
		}
	}
	if r.Prediction, err = decodePrediction(req.Prediction); err != nil {
		return nil, err
	}
	if err := validateMetadata(r.Metadata, "metadata"); err != nil {
		return nil, err
	}
	c.searchOnlyChoice()
	return c, validate(r, openAINames)
}

// maxChoices bounds n, as OpenAI does.
const maxChoices = 128

// decodeSampling takes seed, the penalties, logit_bias and logprobs.
func decodeSampling(req *openAIRequest, r *chat.Request) error {
	if err := sampling(r); err != nil {
		return err
	}
	if req.Seed != nil {
		s := *req.Seed
		if s != math.Trunc(s) || s < math.MinInt64 || s > math.MaxInt64 {
			return invalid("invalid_type", "seed", "seed must be an integer")
		}
		v := int64(s)
		r.Seed = &v
	}
	for name, p := range map[string]*float64{"presence_penalty": r.PresencePenalty, "frequency_penalty": r.FrequencyPenalty} {
		if p != nil && (*p < -2 || *p > 2) {
			return invalid("invalid_value", name, "%s must be between -2 and 2", name)
		}
	}
	if req.LogitBias != nil {
		r.LogitBias = make(map[string]int, len(req.LogitBias))
		for tok, b := range req.LogitBias {
			if !isDigits(tok) {
				return invalid("invalid_value", "logit_bias", "logit_bias keys must be token ids (integers as strings); got %q", clip(tok))
			}
			if b != math.Trunc(b) || b < -100 || b > 100 {
				return invalid("invalid_value", "logit_bias", "logit_bias values must be integers from -100 to 100")
			}
			r.LogitBias[tok] = int(b)
		}
	}
	if req.Logprobs != nil {
		r.Logprobs = *req.Logprobs
	}
	if req.TopLogprobs != nil {
		if *req.TopLogprobs < 0 || *req.TopLogprobs > 20 {
			return invalid("invalid_value", "top_logprobs", "top_logprobs must be an integer from 0 to 20")
		}
		if !r.Logprobs {
			return invalid("invalid_value", "top_logprobs", "top_logprobs requires logprobs to be true")
		}
		v := int(*req.TopLogprobs)
		r.TopLogprobs = &v
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// decodePrediction takes OpenAI's {"type":"content","content": string or text parts}.
func decodePrediction(raw json.RawMessage) (string, error) {
	if isNull(raw) {
		return "", nil
	}
	var p struct {
		Type    string          `json:"type"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &p); err != nil || p.Type != "content" {
		return "", invalid("invalid_value", "prediction", `prediction must be {"type":"content","content":...}`)
	}
	parts, err := decodeContent(p.Content, "prediction.content", textOnly)
	if err != nil {
		return "", err
	}
	return chat.JoinText(parts), nil
}

// validateMetadata applies OpenAI's limits: 16 pairs, keys of at most 64 and
// values of at most 512 characters.
func validateMetadata(m map[string]string, param string) error {
	if len(m) > 16 {
		return invalid("invalid_value", param, "%s may hold at most 16 key-value pairs", param)
	}
	for k, v := range m {
		if len(k) > 64 || len(v) > 512 {
			return invalid("invalid_value", param, "%s keys are at most 64 and values at most 512 characters", param)
		}
	}
	return nil
}

func reasoningEffort(v, param string) (string, error) {
	switch v {
	case "none", "minimal", "low", "medium", "high", "xhigh":
		return v, nil
	}
	return "", invalid("invalid_value", param, "%s must be none, minimal, low, medium, high or xhigh", param)
}

// strictDecode decodes one JSON object into v, refusing unknown and unsupported
// fields with a 400 that names them.
func strictDecode(body []byte, v any) error { return strictDecodeAs(body, v, unsupported) }

// strictDecodeAs is strictDecode with the fields one API refuses as unsupported
// (name: what to say about them).
func strictDecodeAs(body []byte, v any, unsupported map[string]string) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return invalid("invalid_type", typeErr.Field, "%s must be %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if what, ok := unsupported[name]; ok {
			return invalid("unsupported_parameter", name, "%s: %s is not supported by this gateway", name, what)
		}
		return invalid("unknown_parameter", name, "unrecognized request argument supplied: %s", name)
	}
	return invalid("invalid_json", "", "the request body is not a valid JSON object: %v", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func maxTokens(v *int64, param string) (int, error) {
	if v == nil {
		return 0, nil
	}
	if *v < 1 || *v > math.MaxInt32 {
		return 0, invalid("invalid_value", param, "%s must be a positive integer", param)
	}
	return int(*v), nil
}

func decodeStop(raw json.RawMessage) ([]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil || len(many) > 4 {
		return nil, invalid("invalid_value", "stop", "stop must be a string or an array of at most 4 strings")
	}
	return many, nil
}

func sampling(r *chat.Request) error {
	if r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2) {
		return invalid("invalid_value", "temperature", "temperature must be between 0 and 2")
	}
	if r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1) {
		return invalid("invalid_value", "top_p", "top_p must be between 0 and 1")
	}
	return nil
}

// nativeRequest is the body of POST /chat. Messages take OpenAI's message shapes.
type nativeRequest struct {
	Messages        []json.RawMessage `json:"messages"`
	ModelID         string            `json:"modelId"`
	SessionID       *string           `json:"sessionId"`
	Stream          bool              `json:"stream"`
	MaxTokens       *int64            `json:"maxTokens"`
	Temperature     *float64          `json:"temperature"`
	TopP            *float64          `json:"topP"`
	Stop            json.RawMessage   `json:"stopSequences"`
	Tools           []json.RawMessage `json:"tools"`
	ToolChoice      json.RawMessage   `json:"toolChoice"`
	ResponseFormat  json.RawMessage   `json:"responseFormat"`
	ReasoningEffort *string           `json:"reasoningEffort"`
	Knowledge       *struct {
		VectorStoreIDs []string `json:"vectorStoreIds"`
		MaxResults     *int64   `json:"maxResults"`
	} `json:"knowledge"`
}

// decodeNative parses and validates a /chat body.
func decodeNative(body []byte) (*call, error) {
	var req nativeRequest
	if err := strictDecode(body, &req); err != nil {
		return nil, err
	}
	c := &call{native: true, model: req.ModelID, stream: req.Stream,
		req: chat.Request{Temperature: req.Temperature, TopP: req.TopP}}
	if k := req.Knowledge; k != nil {
		rv, err := decodeRetrieval(k.VectorStoreIDs, k.MaxResults, "knowledge.vectorStoreIds", "knowledge.maxResults")
		if err != nil {
			return nil, err
		}
		c.retrieval = rv
	}
	if req.SessionID != nil {
		if !session.ValidID(*req.SessionID) {
			return nil, invalid("invalid_session_id", "sessionId", "sessionId must match [A-Za-z0-9_-]{1,128}")
		}
		c.sessionID = *req.SessionID
	}
	r := &c.req
	var err error
	if r.Messages, err = decodeMessages(req.Messages, "messages"); err != nil {
		return nil, err
	}
	if r.MaxTokens, err = maxTokens(req.MaxTokens, "maxTokens"); err != nil {
		return nil, err
	}
	if r.Stop, err = decodeStop(req.Stop); err != nil {
		return nil, invalid("invalid_value", "stopSequences", "stopSequences must be a string or an array of at most 4 strings")
	}
	if r.TopP != nil && (*r.TopP < 0 || *r.TopP > 1) {
		return nil, invalid("invalid_value", "topP", "topP must be between 0 and 1")
	}
	if r.Temperature != nil && (*r.Temperature < 0 || *r.Temperature > 2) {
		return nil, invalid("invalid_value", "temperature", "temperature must be between 0 and 2")
	}
	if r.Tools, err = decodeNativeTools(req.Tools); err != nil {
		return nil, err
	}
	if r.ToolChoice, err = decodeToolChoice(req.ToolChoice, "toolChoice", true); err != nil {
		return nil, err
	}
	if r.ResponseFormat, err = decodeResponseFormat(req.ResponseFormat, "responseFormat", true); err != nil {
		return nil, err
	}
	if req.ReasoningEffort != nil {
		if r.ReasoningEffort, err = reasoningEffort(*req.ReasoningEffort, "reasoningEffort"); err != nil {
			return nil, err
		}
	}
	return c, validate(r, nativeNames)
}

// clip shortens a client's value for an error message.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
