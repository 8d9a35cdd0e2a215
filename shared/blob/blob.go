// Package blob keeps the bytes of uploaded files: in a directory locally
// (Dir), or in an Amazon S3 bucket (package s3blob). Keys are the caller's,
// tenant-prefixed ("tenants/<id>/files/<file id>"), so one tenant's objects
// share a prefix that a policy can name.
package blob

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Store keeps objects by key.
type Store interface {
	Put(ctx context.Context, key string, data []byte, contentType string) error
	// Get returns the object's bytes, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes the object; a missing one is no error.
	Delete(ctx context.Context, key string) error
}

// ErrNotFound is wrapped by Get for a key that holds nothing.
var ErrNotFound = errors.New("blob: not found")

// ValidKey reports whether key is relative, clean and free of "..", the
// keys every Store takes. Dir needs it to stay inside its root; the other
// stores refuse the same keys so that a key that works in one works in all.
func ValidKey(key string) bool {
	return key != "" && !strings.HasPrefix(key, "/") && filepath.ToSlash(filepath.Clean(key)) == key &&
		!strings.Contains(key, "..") && !strings.ContainsAny(key, "\\\x00")
}

// Dir keeps objects as files under a directory (the local server's .local/files).
type Dir struct{ root string }

// NewDir returns a Dir at root; root is made on the first Put.
func NewDir(root string) *Dir { return &Dir{root: root} }

func (d *Dir) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("blob: bad key %q", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put writes the object whole or not at all (a temporary file renamed).
func (d *Dir) Put(_ context.Context, key string, data []byte, _ string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// Get reads the object.
func (d *Dir) Get(_ context.Context, key string) ([]byte, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: get %s: %w", key, err)
	}
	return b, nil
}

// Delete removes the object.
func (d *Dir) Delete(_ context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}
