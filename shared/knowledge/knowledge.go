// Package knowledge is a tenant's knowledge base: uploaded files, vector stores
// of their chunks, the ingestion that fills them (extract, chunk, embed through
// the shared meter, write the vectors) and search over them. Its objects are
// OpenAI's (Files and Vector Stores APIs); storage is behind small interfaces:
// metadata in the table (Store, *dynamo.Store), file bytes in blob.Store, vectors
// in vectors.Store, one index per vector store.
package knowledge

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tollgate/tollgate/shared/chunk"
	"github.com/tollgate/tollgate/shared/tenant"
)

// Errors of the store, mapped to API errors at the edge.
var (
	ErrNotFound = errors.New("knowledge: not found")
	ErrQuota    = errors.New("knowledge: storage quota exceeded")
	ErrExists   = errors.New("knowledge: already exists")
	// ErrNotPending is returned when finishing a store file that is no longer
	// in progress (detached, or finished by another attempt).
	ErrNotPending = errors.New("knowledge: store file not in progress")
)

// NotFound is ErrNotFound naming what was not found (What: "file" or "vector
// store").
type NotFound struct{ What, ID string }

func (e *NotFound) Error() string        { return e.What + " " + e.ID + " not found" }
func (e *NotFound) Is(target error) bool { return target == ErrNotFound }

// Missing returns err as a *NotFound of what and id when it is ErrNotFound,
// else err.
func Missing(err error, what, id string) error {
	if errors.Is(err, ErrNotFound) {
		var nf *NotFound
		if errors.As(err, &nf) {
			return err
		}
		return &NotFound{What: what, ID: id}
	}
	return err
}

// File purposes accepted on upload.
var Purposes = []string{"assistants", "user_data"}

// File is an uploaded file.
type File struct {
	ID          string // file-…
	Filename    string
	Purpose     string
	ContentType string
	Bytes       int64
	CreatedAt   time.Time
}

// BlobKey is where tenant's file id keeps its bytes.
func BlobKey(tenantID, fileID string) string { return "tenants/" + tenantID + "/files/" + fileID }

// Statuses of a vector store file (and of a batch).
const (
	InProgress = "in_progress"
	Completed  = "completed"
	Failed     = "failed"
	Cancelled  = "cancelled"
)

// FileCounts are a vector store's (or batch's) files by status.
type FileCounts struct {
	InProgress, Completed, Failed, Cancelled int64
}

// Total is the number of files counted.
func (c FileCounts) Total() int64 { return c.InProgress + c.Completed + c.Failed + c.Cancelled }

// Add counts one file of status.
func (c *FileCounts) Add(status string, n int64) {
	switch status {
	case InProgress:
		c.InProgress += n
	case Completed:
		c.Completed += n
	case Failed:
		c.Failed += n
	case Cancelled:
		c.Cancelled += n
	}
}

// VectorStore is a named collection of files' chunks, searched together.
type VectorStore struct {
	ID           string // vs_…
	Name         string
	CreatedAt    time.Time
	LastActiveAt time.Time
	Metadata     map[string]string
	// ExpiresAfterDays > 0 expires the store that many days after its last
	// activity (OpenAI's expires_after with anchor last_active_at).
	ExpiresAfterDays int
	// Model is the embedding model ("provider/model") every chunk of the store
	// is embedded with, chosen when the store is made; Dims its vectors' length.
	Model      string
	Dims       int
	Counts     FileCounts
	UsageBytes int64
}

// ExpiresAt is when the store expires, or the zero time.
func (v *VectorStore) ExpiresAt() time.Time {
	if v.ExpiresAfterDays <= 0 {
		return time.Time{}
	}
	return v.LastActiveAt.Add(time.Duration(v.ExpiresAfterDays) * 24 * time.Hour)
}

// Status is OpenAI's: expired, in_progress while any file is, else completed.
func (v *VectorStore) Status(now time.Time) string {
	if e := v.ExpiresAt(); !e.IsZero() && !now.Before(e) {
		return "expired"
	}
	if v.Counts.InProgress > 0 {
		return InProgress
	}
	return Completed
}

// LastError is why a store file failed: Code one of server_error,
// unsupported_file, invalid_file, budget_exceeded.
type LastError struct {
	Code    string
	Message string
}

// StoreFile is a file attached to a vector store.
type StoreFile struct {
	StoreID    string
	FileID     string
	BatchID    string // vsfb_… when a batch attached it
	Status     string
	LastError  *LastError
	Attributes map[string]any
	Chunking   chunk.Strategy
	CreatedAt  time.Time
	// Chunks is the number of chunks indexed (when completed); UsageBytes what
	// they take: their text and their vectors.
	Chunks     int
	UsageBytes int64
}

// Batch is a set of files attached together.
type Batch struct {
	ID        string // vsfb_…
	StoreID   string
	FileIDs   []string
	CreatedAt time.Time
}

// Job is one file's ingestion into one store: what the queue carries.
type Job struct {
	TenantID string `json:"tenantId"`
	Scope    string `json:"scope"` // the tenant's scope when the job was made
	StoreID  string `json:"storeId"`
	FileID   string `json:"fileId"`
}

// Encode is j as a queue message body: JSON.
func (j Job) Encode() string {
	b, _ := json.Marshal(j) // four strings: cannot fail
	return string(b)
}

// DecodeJob decodes a queue message body Encode made, refusing unknown
// fields, trailing data, a missing field, and ids of the wrong shape: a
// tenant id tenant.ValidID refuses, a scope other than the tenant id alone or
// followed by "." and an incarnation (16 lowercase hex digits, as
// tenant.NewIncarnation makes), a store or file id ValidID refuses.
func DecodeJob(body string) (Job, error) {
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	var j Job
	if err := dec.Decode(&j); err != nil {
		return Job{}, fmt.Errorf("knowledge: job: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Job{}, errors.New("knowledge: job: data after the object")
	}
	for _, f := range []struct{ name, v string }{{"tenantId", j.TenantID}, {"scope", j.Scope}, {"storeId", j.StoreID}, {"fileId", j.FileID}} {
		if f.v == "" {
			return Job{}, fmt.Errorf("knowledge: job: missing %s", f.name)
		}
	}
	if !tenant.ValidID(j.TenantID) {
		return Job{}, fmt.Errorf("knowledge: job: tenantId %q is not a tenant id", clip(j.TenantID))
	}
	if inc, ok := strings.CutPrefix(j.Scope, j.TenantID+"."); j.Scope != j.TenantID && !(ok && validIncarnation(inc)) {
		return Job{}, fmt.Errorf("knowledge: job: scope %q is not a scope of tenant %s", clip(j.Scope), j.TenantID)
	}
	if !ValidID(StorePrefix, j.StoreID) {
		return Job{}, fmt.Errorf("knowledge: job: storeId %q is not a vector store id", clip(j.StoreID))
	}
	if !ValidID(FilePrefix, j.FileID) {
		return Job{}, fmt.Errorf("knowledge: job: fileId %q is not a file id", clip(j.FileID))
	}
	return j, nil
}

func validIncarnation(s string) bool {
	return len(s) == 16 && strings.Trim(s, "0123456789abcdef") == ""
}

// JobRecord is a recorded ingestion not finished: the job, when it was
// queued (or last sent again), and how many times a sweep sent it again.
type JobRecord struct {
	Job
	At      time.Time
	Resends int
}

// NewID returns a fresh id: prefix, the time in milliseconds as 12 hex digits
// (so ids sort by creation), then 16 random hex digits.
func NewID(prefix string, now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return fmt.Sprintf("%s%012x%s", prefix, now.UnixMilli(), hex.EncodeToString(b[:]))
}

// ValidID reports whether id has prefix and the shape NewID makes: what an
// id in a path or a body must be before it names a key.
func ValidID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 28 {
		return false
	}
	for _, c := range rest {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Id prefixes.
const (
	FilePrefix  = "file-"
	StorePrefix = "vs_"
	BatchPrefix = "vsfb_"
)
