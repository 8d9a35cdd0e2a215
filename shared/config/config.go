// Package config reads Tollgate's configuration from environment variables, once,
// at start, and reports every problem at once, each naming its variable.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/model"
	"github.com/tollgate/tollgate/shared/money"
)

// Config is the validated configuration of one process.
type Config struct {
	TableName              string        // TABLE_NAME
	Models                 model.Catalog // MODELS: the catalog this deployment serves
	Prices                 money.Table   // MODEL_PRICES over the shipped defaults: USD per million tokens by provider/model
	DefaultModel           model.Name    // DEFAULT_MODEL
	DefaultEmbeddingModel  model.Name    // DEFAULT_EMBEDDING_MODEL; zero: the first embedding model of MODELS
	ModelOverride          model.Name    // MODEL_OVERRIDE; zero when unset
	DefaultMaxOutputTokens int           // DEFAULT_MAX_OUTPUT_TOKENS
	MaxRequestBytes        int64         // MAX_REQUEST_BYTES
	KeyCacheTTL            time.Duration // KEY_CACHE_TTL
	TenantCacheTTL         time.Duration // TENANT_CACHE_TTL
	OpenAIBaseURL          string        // OPENAI_BASE_URL
	OpenAIAPIKey           string        // OPENAI_API_KEY (secret: never log)
	OpenAIMaxTokensParam   string        // OPENAI_MAX_TOKENS_PARAM: max_tokens or max_completion_tokens
	UnsupportedParams      string        // UNSUPPORTED_PARAMS: refuse (default) or drop
	ImageFetchHosts        []string      // IMAGE_FETCH_HOSTS: hosts whose https image URLs Tollgate fetches
	ImageFetchMaxBytes     int64         // IMAGE_FETCH_MAX_BYTES
	ImageFetchTimeout      time.Duration // IMAGE_FETCH_TIMEOUT
	AdminAPIKey            string        // ADMIN_API_KEY (secret: never log)
	AdminAuth              string        // ADMIN_AUTH: "key" (default) or "iam"
	FirstTokenTimeout      time.Duration // FIRST_TOKEN_TIMEOUT
	StreamIdleTimeout      time.Duration // STREAM_IDLE_TIMEOUT
	KeepAliveInterval      time.Duration // KEEPALIVE_INTERVAL
	AttemptTimeout         time.Duration // ATTEMPT_TIMEOUT
	RequestTimeout         time.Duration // REQUEST_TIMEOUT
	DynamoDBAttemptTimeout time.Duration // DYNAMODB_ATTEMPT_TIMEOUT: one DynamoDB HTTP attempt
	DynamoDBTimeout        time.Duration // DYNAMODB_TIMEOUT: one DynamoDB call, its retries included
	SettleWindow           time.Duration // SETTLE_WINDOW: how long a failed settlement is retried
	CheckpointTokens       int           // STREAM_CHECKPOINT_TOKENS: output tokens between checkpoints of a stream (0: none)
	SessionIdleTTL         time.Duration // SESSION_IDLE_TTL
	SessionMaxAge          time.Duration // SESSION_MAX_AGE
	SessionHistoryTokens   int           // SESSION_HISTORY_TOKENS
	ResponseRetention      time.Duration // RESPONSE_RETENTION: how long stored Responses API answers are kept
	UsageRecordRetention   time.Duration // USAGE_RECORD_RETENTION: how long per-request usage records are kept
	SerialAdmission        bool          // ADMISSION_ORDER=serial: admit before the provider call, not beside it
	MetricsEnabled         bool          // METRICS_ENABLED
	MetricsNamespace       string        // METRICS_NAMESPACE
	MetricsPerTenant       bool          // METRICS_PER_TENANT
	FileMaxBytes           int64         // FILE_MAX_BYTES: the largest file an upload may be
	FileStorageQuota       int64         // FILE_STORAGE_QUOTA: a tenant's stored files, in bytes, unless its configuration says otherwise (0: none)
	FilesBucket            string        // FILES_BUCKET: the S3 bucket of uploaded files; "" keeps them under LOCAL_DATA_DIR
	VectorBucket           string        // VECTOR_BUCKET: the S3 Vectors bucket; "" keeps vectors in the embedded database under LOCAL_DATA_DIR
	IngestQueueURL         string        // INGEST_QUEUE_URL: the SQS queue of ingestion jobs; "" runs them in-process
	IngestMaxReceives      int           // INGEST_MAX_RECEIVES: the delivery of a job that is its last try, the queue's maxReceiveCount (default 3)
	IngestStaleAfter       time.Duration // INGEST_STALE_AFTER: an ingestion unfinished this long after it was queued is swept: sent again once, then failed (default 12h)
	LocalDataDir           string        // LOCAL_DATA_DIR: where the local server keeps files and vectors (default .local)
	Port                   int           // PORT (local server)
	Host                   string        // HOST: the local server's listen address (default 127.0.0.1)
	ReadTimeout            time.Duration // READ_TIMEOUT: the local server's bound on reading a request (headers and body)
	WriteTimeout           time.Duration // WRITE_TIMEOUT: the local server's bound on each write of a response
	IdleTimeout            time.Duration // IDLE_TIMEOUT: the local server closes keep-alive connections idle this long
	LogLevel               slog.Level    // LOG_LEVEL
	Version                string        // TOLLGATE_VERSION, reported by /health
}

// Defaults.
const (
	DefaultModels          = "echo/echo-1"
	DefaultMaxOutputTokens = 4096
	DefaultMaxRequestBytes = 6 << 20 // Lambda's synchronous request limit
	DefaultCacheTTL        = 30 * time.Second
	DefaultPort            = 8080
	DefaultTableName       = "tollgate"
	DefaultOpenAIBaseURL   = "https://api.openai.com/v1"
	// DefaultFileMaxBytes keeps an upload's multipart body within Lambda's 6 MB
	// synchronous request limit after API Gateway's base64 encoding.
	DefaultFileMaxBytes     = 4 << 20
	DefaultFileStorageQuota = 1 << 30
)

// Load reads the configuration through getenv (os.Getenv in main, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		TableName:     or(getenv("TABLE_NAME"), DefaultTableName),
		OpenAIBaseURL: strings.TrimRight(or(getenv("OPENAI_BASE_URL"), DefaultOpenAIBaseURL), "/"),
		OpenAIAPIKey:  getenv("OPENAI_API_KEY"),
		AdminAPIKey:   getenv("ADMIN_API_KEY"),
		Version:       or(getenv("TOLLGATE_VERSION"), "dev"),
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("config: %s: "+format, append([]any{name}, args...)...))
	}

	var names []model.Name
	kinds := map[model.Name]model.Kind{}
	for _, s := range strings.Split(or(getenv("MODELS"), DefaultModels), ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		n, k, err := model.ParseEntry(s)
		if err != nil {
			bad("MODELS", "%v", err)
			continue
		}
		names, kinds[n] = append(names, n), k
	}
	c.Models = model.NewCatalog(names, kinds)
	if c.Models.Len() == 0 && len(errs) == 0 {
		bad("MODELS", "must name at least one provider/model")
	}
	catalogued := func(name, v string) model.Name {
		if v == "" {
			return model.Name{}
		}
		n, err := model.Parse(v)
		if err != nil {
			bad(name, "%v", err)
			return model.Name{}
		}
		if !c.Models.Has(n) {
			bad(name, "%q is not in MODELS", v)
		} else if k := c.Models.Kind(n); k != model.Chat {
			bad(name, "%q is an %s model, not a chat model", v, k)
		}
		return n
	}
	if t, err := money.ParseTable(getenv("MODEL_PRICES")); err != nil {
		bad("MODEL_PRICES", "%v", err)
	} else {
		c.Prices = money.Merge(money.Defaults(), t)
	}
	c.ModelOverride = catalogued("MODEL_OVERRIDE", getenv("MODEL_OVERRIDE"))
	c.DefaultModel = catalogued("DEFAULT_MODEL", getenv("DEFAULT_MODEL"))
	if v := getenv("DEFAULT_EMBEDDING_MODEL"); v != "" {
		if n, err := model.Parse(v); err != nil {
			bad("DEFAULT_EMBEDDING_MODEL", "%v", err)
		} else if k := c.Models.Kind(n); k != model.Embedding {
			bad("DEFAULT_EMBEDDING_MODEL", "%q is not an embedding model of MODELS", v)
		} else {
			c.DefaultEmbeddingModel = n
		}
	}
	if chat := c.Models.OfKind(model.Chat); getenv("DEFAULT_MODEL") == "" && len(chat) > 0 {
		c.DefaultModel = chat[0]
	}

	c.DefaultMaxOutputTokens = intVar(getenv, "DEFAULT_MAX_OUTPUT_TOKENS", DefaultMaxOutputTokens, 1, 1<<20, bad)
	c.MaxRequestBytes = int64(intVar(getenv, "MAX_REQUEST_BYTES", DefaultMaxRequestBytes, 1024, 1<<30, bad))
	c.Port = intVar(getenv, "PORT", DefaultPort, 1, 65535, bad)
	c.Host = or(getenv("HOST"), "127.0.0.1")
	c.ReadTimeout = durationVar(getenv, "READ_TIMEOUT", 30*time.Second, bad)
	c.WriteTimeout = durationVar(getenv, "WRITE_TIMEOUT", 30*time.Second, bad)
	c.IdleTimeout = durationVar(getenv, "IDLE_TIMEOUT", 120*time.Second, bad)
	c.KeyCacheTTL = durationVar(getenv, "KEY_CACHE_TTL", DefaultCacheTTL, bad)
	c.TenantCacheTTL = durationVar(getenv, "TENANT_CACHE_TTL", DefaultCacheTTL, bad)
	c.FirstTokenTimeout = durationVar(getenv, "FIRST_TOKEN_TIMEOUT", 30*time.Second, bad)
	c.StreamIdleTimeout = durationVar(getenv, "STREAM_IDLE_TIMEOUT", 60*time.Second, bad)
	c.KeepAliveInterval = durationVar(getenv, "KEEPALIVE_INTERVAL", 15*time.Second, bad)
	c.AttemptTimeout = durationVar(getenv, "ATTEMPT_TIMEOUT", 120*time.Second, bad)
	c.RequestTimeout = durationVar(getenv, "REQUEST_TIMEOUT", 840*time.Second, bad)
	c.DynamoDBAttemptTimeout = durationVar(getenv, "DYNAMODB_ATTEMPT_TIMEOUT", 5*time.Second, bad)
	c.DynamoDBTimeout = durationVar(getenv, "DYNAMODB_TIMEOUT", 10*time.Second, bad)
	c.SettleWindow = durationVar(getenv, "SETTLE_WINDOW", 20*time.Second, bad)
	c.CheckpointTokens = intVar(getenv, "STREAM_CHECKPOINT_TOKENS", 1000, 0, 1<<24, bad)
	c.SessionIdleTTL = durationVar(getenv, "SESSION_IDLE_TTL", 24*time.Hour, bad)
	c.SessionMaxAge = durationVar(getenv, "SESSION_MAX_AGE", 30*24*time.Hour, bad)
	c.SessionHistoryTokens = intVar(getenv, "SESSION_HISTORY_TOKENS", 8000, 1, 1<<24, bad)
	c.ResponseRetention = durationVar(getenv, "RESPONSE_RETENTION", 30*24*time.Hour, bad)
	c.UsageRecordRetention = durationVar(getenv, "USAGE_RECORD_RETENTION", 90*24*time.Hour, bad)
	switch v := or(getenv("ADMISSION_ORDER"), "parallel"); v {
	case "parallel":
	case "serial":
		c.SerialAdmission = true
	default:
		bad("ADMISSION_ORDER", "%q is neither parallel nor serial", v)
	}
	for _, h := range strings.Split(getenv("IMAGE_FETCH_HOSTS"), ",") {
		switch h = strings.ToLower(strings.TrimSpace(h)); {
		case h == "":
		case !validHost(h):
			bad("IMAGE_FETCH_HOSTS", "%q is not a host name (with an optional :port)", h)
		default:
			c.ImageFetchHosts = append(c.ImageFetchHosts, h)
		}
	}
	c.ImageFetchMaxBytes = int64(intVar(getenv, "IMAGE_FETCH_MAX_BYTES", 5<<20, 1024, 20<<20, bad))
	c.ImageFetchTimeout = durationVar(getenv, "IMAGE_FETCH_TIMEOUT", 5*time.Second, bad)
	c.FileMaxBytes = int64(intVar(getenv, "FILE_MAX_BYTES", DefaultFileMaxBytes, 1, 512<<20, bad))
	c.FileStorageQuota = int64(intVar(getenv, "FILE_STORAGE_QUOTA", DefaultFileStorageQuota, 0, 1<<50, bad))
	c.FilesBucket, c.VectorBucket, c.IngestQueueURL = getenv("FILES_BUCKET"), getenv("VECTOR_BUCKET"), getenv("INGEST_QUEUE_URL")
	if arn, ok := strings.CutPrefix(c.VectorBucket, "arn:"); ok {
		// The template passes the vector bucket's ARN (CloudFormation knows no
		// attribute with its name): arn:<partition>:s3vectors:<region>:<account>:bucket/<name>.
		parts := strings.SplitN(arn, ":", 5)
		name, found := "", false
		if len(parts) == 5 && parts[1] == "s3vectors" {
			name, found = strings.CutPrefix(parts[4], "bucket/")
		}
		if !found || name == "" || strings.Contains(name, "/") {
			bad("VECTOR_BUCKET", "%q is neither a vector bucket's name nor its ARN", c.VectorBucket)
		}
		c.VectorBucket = name
	}
	c.IngestMaxReceives = intVar(getenv, "INGEST_MAX_RECEIVES", 3, 1, 1000, bad)
	c.IngestStaleAfter = durationVar(getenv, "INGEST_STALE_AFTER", 12*time.Hour, bad)
	c.LocalDataDir = or(getenv("LOCAL_DATA_DIR"), ".local")
	for name, d := range map[string]time.Duration{"FIRST_TOKEN_TIMEOUT": c.FirstTokenTimeout, "STREAM_IDLE_TIMEOUT": c.StreamIdleTimeout,
		"KEEPALIVE_INTERVAL": c.KeepAliveInterval, "ATTEMPT_TIMEOUT": c.AttemptTimeout, "REQUEST_TIMEOUT": c.RequestTimeout,
		"SESSION_IDLE_TTL": c.SessionIdleTTL, "SESSION_MAX_AGE": c.SessionMaxAge, "RESPONSE_RETENTION": c.ResponseRetention, "USAGE_RECORD_RETENTION": c.UsageRecordRetention, "READ_TIMEOUT": c.ReadTimeout, "DYNAMODB_ATTEMPT_TIMEOUT": c.DynamoDBAttemptTimeout, "DYNAMODB_TIMEOUT": c.DynamoDBTimeout, "SETTLE_WINDOW": c.SettleWindow, "WRITE_TIMEOUT": c.WriteTimeout,
		"IDLE_TIMEOUT": c.IdleTimeout, "IMAGE_FETCH_TIMEOUT": c.ImageFetchTimeout, "INGEST_STALE_AFTER": c.IngestStaleAfter} {
		if d == 0 {
			bad(name, "must be greater than zero")
		}
	}

	if v := getenv("LOG_LEVEL"); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad("LOG_LEVEL", "%q is not one of debug, info, warn, error", v)
		}
	}
	c.MetricsNamespace = or(getenv("METRICS_NAMESPACE"), "Tollgate")
	c.MetricsEnabled = boolVar(getenv, "METRICS_ENABLED", true, bad)
	c.MetricsPerTenant = boolVar(getenv, "METRICS_PER_TENANT", true, bad)
	switch c.UnsupportedParams = or(getenv("UNSUPPORTED_PARAMS"), "refuse"); c.UnsupportedParams {
	case "refuse", "drop":
	default:
		bad("UNSUPPORTED_PARAMS", "%q must be refuse or drop", c.UnsupportedParams)
	}
	switch c.OpenAIMaxTokensParam = or(getenv("OPENAI_MAX_TOKENS_PARAM"), "max_tokens"); c.OpenAIMaxTokensParam {
	case "max_tokens", "max_completion_tokens":
	default:
		bad("OPENAI_MAX_TOKENS_PARAM", "%q must be max_tokens or max_completion_tokens", c.OpenAIMaxTokensParam)
	}
	switch c.AdminAuth = or(getenv("ADMIN_AUTH"), "key"); c.AdminAuth {
	case "key", "iam":
	default:
		bad("ADMIN_AUTH", "%q must be key or iam", c.AdminAuth)
	}
	if !validTableName(c.TableName) {
		bad("TABLE_NAME", "%q must be 3-255 characters of [A-Za-z0-9_.-]", c.TableName)
	}
	// The URL may carry credentials (a proxy's user:password): an error shows
	// it without them.
	if u, err := url.Parse(c.OpenAIBaseURL); err != nil || u.Host == "" {
		bad("OPENAI_BASE_URL", "must be an http:// or https:// URL with a host")
	} else if u.Scheme != "http" && u.Scheme != "https" {
		bad("OPENAI_BASE_URL", "%q must start with http:// or https://", u.Redacted())
	}
	return c, errors.Join(errs...)
}

// Providers reports, for each provider the catalog uses, whether it is configured:
// echo is built in, bedrock uses the function's IAM role, and openai needs a key or
// a base URL of its own (a local server such as Ollama or vLLM needs no key). It
// reveals no secret.
func (c Config) Providers() map[string]bool {
	p := map[string]bool{}
	for _, m := range c.Models.Names() {
		p[m.Provider] = m.Provider != model.OpenAI || c.OpenAIAPIKey != "" || c.OpenAIBaseURL != DefaultOpenAIBaseURL
	}
	return p
}

// validHost reports whether h is a DNS name or IP address, with an optional
// port, and nothing else (no scheme, path or user info).
func validHost(h string) bool {
	u, err := url.Parse("https://" + h)
	return err == nil && u.Host == h && u.User == nil && u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.Hostname() != ""
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func intVar(getenv func(string) string, name string, def, lo, hi int, bad func(string, string, ...any)) int {
	v := getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		bad(name, "%q must be an integer from %d to %d", v, lo, hi)
		return def
	}
	return n
}

func boolVar(getenv func(string) string, name string, def bool, bad func(string, string, ...any)) bool {
	switch v := getenv(name); v {
	case "":
		return def
	case "true", "false":
		return v == "true"
	default:
		bad(name, "%q must be true or false", v)
		return def
	}
}

func durationVar(getenv func(string) string, name string, def time.Duration, bad func(string, string, ...any)) time.Duration {
	v := getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		bad(name, "%q must be a non-negative duration such as 30s", v)
		return def
	}
	return d
}

func validTableName(s string) bool {
	if len(s) < 3 || len(s) > 255 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}
