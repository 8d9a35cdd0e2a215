package tenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
)

// FieldError is a validation failure of one field of a tenant configuration.
type FieldError struct {
	Path    string // e.g. "tokenBudget.daily"; "" for the document itself
	Message string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Message
	}
	return e.Path + ": " + e.Message
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)

// ValidID reports whether id is a valid tenant id: [a-z0-9][a-z0-9-]{1,62}.
func ValidID(id string) bool { return idPattern.MatchString(id) }

// ParseConfig decodes and validates the admin API's JSON form of a tenant
// configuration against the deployment's catalog. Unknown fields are rejected; the
// read-only fields tenantId, createdAt and updatedAt are accepted and ignored, so a
// GET response can be edited and sent back. version, when present, is returned so
// the caller can apply it as an expected version. Every error is a *FieldError.
func ParseConfig(data []byte, catalog model.Catalog) (cfg Config, version *int64, err error) {
	if !json.Valid(data) {
		return Config{}, nil, &FieldError{"", "the body is not valid JSON"}
	}
	top, err := object(data, "")
	if err != nil {
		return Config{}, nil, err
	}
	for k, v := range top {
		switch k {
		case "name":
			err = str(v, k, &cfg.Name)
		case "models":
			err = parseModels(v, &cfg.Models)
		case "tokenBudget":
			err = parseBudget(v, &cfg.TokenBudget)
		case "costBudget":
			err = parseCostBudget(v, &cfg.CostBudget)
		case "rateLimit":
			err = parseRateLimit(v, &cfg.RateLimit)
		case "knowledge":
			err = parseKnowledge(v, &cfg.Knowledge)
		case "version":
			if isNull(v) {
				continue
			}
			var n int64
			if err = count(v, k, &n); err == nil {
				if n < 1 {
					err = &FieldError{k, "must be a positive integer"}
				}
				version = &n
			}
		case "tenantId", "createdAt", "updatedAt":
			// read-only; ignored
		default:
			err = &FieldError{k, "unknown field " + strconv.Quote(k)}
		}
		if err != nil {
			return Config{}, nil, err
		}
	}
	if err := cfg.Validate(catalog); err != nil {
		return Config{}, nil, err
	}
	return cfg, version, nil
}

// Validate checks the semantic rules: names are catalogued provider/model names,
// the default and fallbacks are allowed chat models, and the name is short
// enough.
func (c *Config) Validate(catalog model.Catalog) error {
	if len(c.Name) > 256 {
		return &FieldError{"name", "must be at most 256 characters"}
	}
	check := func(path, s string) error {
		n, err := model.Parse(s)
		if err != nil {
			return &FieldError{path, err.Error()}
		}
		if !catalog.Has(n) {
			return &FieldError{path, fmt.Sprintf("model %q is not in this deployment's catalog (MODELS)", s)}
		}
		return nil
	}
	for i, s := range c.Models.Allowed {
		if err := check(fmt.Sprintf("models.allowed[%d]", i), s); err != nil {
			return err
		}
	}
	allowed := func(path, s string) error {
		if err := check(path, s); err != nil {
			return err
		}
		n, _ := model.Parse(s)
		if !c.Allows(n, catalog) {
			return &FieldError{path, fmt.Sprintf("model %q is not in models.allowed", s)}
		}
		if k := catalog.Kind(n); k != model.Chat {
			return &FieldError{path, fmt.Sprintf("model %q is an %s model, not a chat model", s, k)}
		}
		return nil
	}
	if c.Models.Default != "" {
		if err := allowed("models.default", c.Models.Default); err != nil {
			return err
		}
	}
	for i, s := range c.Models.Fallbacks {
		if err := allowed(fmt.Sprintf("models.fallbacks[%d]", i), s); err != nil {
			return err
		}
	}
	embeddingModel := func(path, s string) error {
		if err := check(path, s); err != nil {
			return err
		}
		n, _ := model.Parse(s)
		switch {
		case !c.Allows(n, catalog):
			return &FieldError{path, fmt.Sprintf("model %q is not in models.allowed", s)}
		case catalog.Kind(n) != model.Embedding:
			return &FieldError{path, fmt.Sprintf("model %q is a %s model, not an embedding model", s, catalog.Kind(n))}
		}
		return nil
	}
	if s := c.Models.EmbeddingDefault; s != "" {
		if err := embeddingModel("models.embeddingDefault", s); err != nil {
			return err
		}
	}
	for i, s := range c.Models.EmbeddingFallbacks {
		if err := embeddingModel(fmt.Sprintf("models.embeddingFallbacks[%d]", i), s); err != nil {
			return err
		}
	}
	return nil
}

func parseModels(data json.RawMessage, m *Models) error {
	obj, err := object(data, "models")
	if err != nil || obj == nil {
		return err
	}
	for k, v := range obj {
		path := "models." + k
		switch k {
		case "default":
			err = str(v, path, &m.Default)
		case "embeddingDefault":
			err = str(v, path, &m.EmbeddingDefault)
		case "embeddingFallbacks":
			err = strs(v, path, &m.EmbeddingFallbacks)
		case "fallbacks":
			err = strs(v, path, &m.Fallbacks)
		case "allowed":
			err = strs(v, path, &m.Allowed)
		case "unsupportedParams":
			if err = str(v, path, &m.UnsupportedParams); err == nil && !ValidUnsupportedParams(m.UnsupportedParams) {
				err = &FieldError{path, `must be "refuse" or "drop"`}
			}
		default:
			err = &FieldError{path, "unknown field " + strconv.Quote(k)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseBudget(data json.RawMessage, b *Budget) error {
	obj, err := object(data, "tokenBudget")
	if err != nil || obj == nil {
		return err
	}
	for k, v := range obj {
		path := "tokenBudget." + k
		switch k {
		case "daily":
			err = count(v, path, &b.Daily)
		case "monthly":
			err = count(v, path, &b.Monthly)
		case "minOutputTokens":
			err = count(v, path, &b.MinOutputTokens)
		default:
			err = &FieldError{path, "unknown field " + strconv.Quote(k)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseKnowledge(data json.RawMessage, k *Knowledge) error {
	obj, err := object(data, "knowledge")
	if err != nil || obj == nil {
		return err
	}
	for f, v := range obj {
		path := "knowledge." + f
		switch f {
		case "storageBytes":
			var n int64
			if isNull(v) {
				k.StorageBytes = 0
				continue
			}
			if err = json.Unmarshal(v, &n); err != nil || n < -1 {
				err = &FieldError{path, "must be an integer ≥ -1 (-1: unlimited, 0: the deployment's quota)"}
			}
			k.StorageBytes = n
		case "vectorStoreIds":
			var ids []string
			if err = json.Unmarshal(v, &ids); err != nil {
				err = &FieldError{path, "must be an array of vector store ids"}
			} else if len(ids) > 10 {
				err = &FieldError{path, "must hold at most 10 vector store ids"}
			}
			for i, id := range ids {
				if err == nil && (!strings.HasPrefix(id, "vs_") || len(id) > 64) {
					err = &FieldError{fmt.Sprintf("%s[%d]", path, i), fmt.Sprintf("%q is not a vector store id", id)}
				}
			}
			k.VectorStoreIDs = ids
		case "maxResults":
			err = count(v, path, &k.MaxResults)
			if err == nil && k.MaxResults > 50 {
				err = &FieldError{path, "must be at most 50"}
			}
		default:
			err = &FieldError{path, "unknown field " + strconv.Quote(f)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func parseCostBudget(data json.RawMessage, b *CostBudget) error {
	obj, err := object(data, "costBudget")
	if err != nil || obj == nil {
		return err
	}
	for k, v := range obj {
		path := "costBudget." + k
		switch k {
		case "daily":
			err = dollars(v, path, &b.Daily)
		case "monthly":
			err = dollars(v, path, &b.Monthly)
		default:
			err = &FieldError{path, "unknown field " + strconv.Quote(k)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// dollars reads an amount of US dollars, a JSON number with at most six
// decimal places, exactly.
func dollars(v json.RawMessage, path string, dst *money.Micros) error {
	if isNull(v) {
		*dst = 0
		return nil
	}
	var num json.Number
	if v = bytes.TrimSpace(v); len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &num) != nil {
		return &FieldError{path, "must be a non-negative number of US dollars"}
	}
	m, err := money.Parse(num.String())
	if err != nil {
		return &FieldError{path, "must be a non-negative number of US dollars with at most 6 decimal places"}
	}
	*dst = m
	return nil
}

func parseRateLimit(data json.RawMessage, r *RateLimit) error {
	obj, err := object(data, "rateLimit")
	if err != nil || obj == nil {
		return err
	}
	for k, v := range obj {
		path := "rateLimit." + k
		switch k {
		case "requestsPerMinute":
			err = count(v, path, &r.RequestsPerMinute)
		case "tokensPerMinute":
			err = count(v, path, &r.TokensPerMinute)
		default:
			err = &FieldError{path, "unknown field " + strconv.Quote(k)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// object decodes a JSON object; null gives a nil map. Duplicate keys are rejected,
// since which one wins is not something a client should have to guess.
func object(data json.RawMessage, path string) (map[string]json.RawMessage, error) {
	if isNull(data) && path != "" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return nil, &FieldError{path, "must be a JSON object"}
	}
	obj := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, &FieldError{path, "malformed JSON"}
		}
		k, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, &FieldError{join(path, k), "malformed JSON"}
		}
		if _, dup := obj[k]; dup {
			return nil, &FieldError{join(path, k), "appears twice"}
		}
		obj[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, &FieldError{path, "malformed JSON"}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FieldError{path, "unexpected data after the JSON object"}
	}
	return obj, nil
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func str(v json.RawMessage, path string, dst *string) error {
	if isNull(v) {
		*dst = ""
		return nil
	}
	if err := json.Unmarshal(v, dst); err != nil {
		return &FieldError{path, "must be a string"}
	}
	return nil
}

func strs(v json.RawMessage, path string, dst *[]string) error {
	if isNull(v) {
		*dst = nil
		return nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil {
		return &FieldError{path, "must be an array of strings"}
	}
	out := make([]string, len(raw))
	for i, r := range raw {
		if err := str(r, fmt.Sprintf("%s[%d]", path, i), &out[i]); err != nil {
			return err
		}
		if out[i] == "" {
			return &FieldError{fmt.Sprintf("%s[%d]", path, i), "must not be empty"}
		}
	}
	*dst = out
	return nil
}

// count decodes a non-negative integer; null means 0 (unlimited).
func count(v json.RawMessage, path string, dst *int64) error {
	if isNull(v) {
		*dst = 0
		return nil
	}
	var num json.Number // also accepts a quoted number, hence the check of v[0]
	if v = bytes.TrimSpace(v); len(v) == 0 || v[0] == '"' || json.Unmarshal(v, &num) != nil {
		return &FieldError{path, "must be a non-negative integer"}
	}
	n, err := strconv.ParseInt(num.String(), 10, 64)
	if err != nil {
		// 1e3 or 12.0 are numbers, but not the integers this field counts.
		return &FieldError{path, "must be a non-negative integer"}
	}
	if n < 0 {
		return &FieldError{path, "must not be negative"}
	}
	if n > 1<<53 {
		return &FieldError{path, "is too large"}
	}
	*dst = n
	return nil
}
