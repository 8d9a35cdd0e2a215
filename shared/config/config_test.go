package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/config"
	"github.com/tollgate/tollgate/shared/model"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.DefaultModel.String() != "echo/echo-1" || c.Models.Len() != 1 || c.DefaultMaxOutputTokens != 4096 ||
		c.MaxRequestBytes != 6<<20 || c.Port != 8080 || c.KeyCacheTTL != 30*time.Second || c.TableName != "tollgate" ||
		c.AdminAuth != "key" {
		t.Errorf("defaults = %+v", c)
	}
}

func TestValid(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"MODELS":        " openai/gpt-4o-mini, bedrock/anthropic.claude-3-5-haiku-20241022-v1:0 ,echo/echo-1",
		"DEFAULT_MODEL": "echo/echo-1", "MODEL_OVERRIDE": "openai/gpt-4o-mini", "PORT": "9000",
		"KEY_CACHE_TTL": "0s", "LOG_LEVEL": "debug", "OPENAI_BASE_URL": "http://localhost:11434/v1/",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Models.Len() != 3 || c.Models.Names()[1].Model != "anthropic.claude-3-5-haiku-20241022-v1:0" ||
		c.ModelOverride.String() != "openai/gpt-4o-mini" || c.Port != 9000 || c.KeyCacheTTL != 0 ||
		c.OpenAIBaseURL != "http://localhost:11434/v1" {
		t.Errorf("config = %+v", c)
	}
	if p := c.Providers(); !p["openai"] || !p["bedrock"] || !p["echo"] {
		t.Errorf("Providers() = %v: a local OpenAI-compatible base URL counts as configured", p)
	}
}

// TestModelKinds: MODELS says which models embed, by their ids or a #kind
// suffix; the default chat model is the first chat model, and an embedding
// model cannot be DEFAULT_MODEL or MODEL_OVERRIDE.
func TestModelKinds(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		"MODELS": "bedrock/amazon.titan-embed-text-v2:0,openai/bge-m3#embedding,echo/echo-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	emb := c.Models.OfKind(model.Embedding)
	if len(emb) != 2 || emb[1].Model != "bge-m3" || c.DefaultModel.String() != "echo/echo-1" {
		t.Errorf("embedding models %v, default %v", emb, c.DefaultModel)
	}
	_, err = config.Load(env(map[string]string{"MODELS": "openai/bge-m3#embedding,echo/echo-1", "DEFAULT_MODEL": "openai/bge-m3",
		"MODEL_OVERRIDE": "openai/bge-m3"}))
	for _, name := range []string{"DEFAULT_MODEL", "MODEL_OVERRIDE"} {
		if err == nil || !strings.Contains(err.Error(), name+`: "openai/bge-m3" is an embedding model`) {
			t.Errorf("error %v does not refuse the embedding model as %s", err, name)
		}
	}
}

// TestVectorBucket: VECTOR_BUCKET is a vector bucket's name or its ARN (what
// the template passes), which names the bucket.
func TestVectorBucket(t *testing.T) {
	for in, want := range map[string]string{
		"tollgate-vectors": "tollgate-vectors",
		"arn:aws:s3vectors:eu-west-1:123456789012:bucket/tollgate-vectors-x1": "tollgate-vectors-x1",
		"arn:aws-cn:s3vectors:cn-north-1:123456789012:bucket/b":               "b",
	} {
		c, err := config.Load(env(map[string]string{"VECTOR_BUCKET": in}))
		if err != nil || c.VectorBucket != want {
			t.Errorf("VECTOR_BUCKET=%s: %q, %v; want %q", in, c.VectorBucket, err, want)
		}
	}
	for _, in := range []string{"arn:aws:s3:::bucket", "arn:aws:s3vectors:eu-west-1:123456789012:bucket/", "arn:aws:s3vectors:eu-west-1:123456789012:bucket/b/index/i", "arn:aws:s3vectors"} {
		if _, err := config.Load(env(map[string]string{"VECTOR_BUCKET": in})); err == nil || !strings.Contains(err.Error(), "VECTOR_BUCKET:") {
			t.Errorf("VECTOR_BUCKET=%s: %v, want an error naming it", in, err)
		}
	}
}

// TestErrorsNameTheVariable checks every bad variable is reported, all at once.
func TestErrorsNameTheVariable(t *testing.T) {
	bad := map[string]string{
		"MODELS":                    "echo/echo-1,gpt-4",
		"DEFAULT_MODEL":             "openai/gpt-4o",
		"MODEL_OVERRIDE":            "nope",
		"DEFAULT_MAX_OUTPUT_TOKENS": "0",
		"MAX_REQUEST_BYTES":         "lots",
		"PORT":                      "70000",
		"KEY_CACHE_TTL":             "30",
		"TENANT_CACHE_TTL":          "-1s",
		"LOG_LEVEL":                 "loud",
		"TABLE_NAME":                "a b",
		"OPENAI_BASE_URL":           "api.openai.com",
		"ADMIN_AUTH":                "none",
		"INGEST_MAX_RECEIVES":       "0",
	}
	_, err := config.Load(env(bad))
	if err == nil {
		t.Fatal("Load succeeded with bad variables")
	}
	for name := range bad {
		if !strings.Contains(err.Error(), name+":") {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

func TestSecretsNotInErrors(t *testing.T) {
	_, err := config.Load(env(map[string]string{"OPENAI_API_KEY": "sk-very-secret", "ADMIN_API_KEY": "adm-secret", "PORT": "x"}))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("err = %v", err)
	}
	// A base URL's userinfo is a credential too.
	for _, u := range []string{"ftp://user:pa55-secret@proxy.example/v1", "http://user:pa55-secret@[::1", "proxy.example:pa55-secret"} {
		_, err := config.Load(env(map[string]string{"OPENAI_BASE_URL": u}))
		if err == nil || !strings.Contains(err.Error(), "OPENAI_BASE_URL:") || strings.Contains(err.Error(), "pa55-secret") {
			t.Errorf("OPENAI_BASE_URL %q: err = %v", u, err)
		}
	}
}
