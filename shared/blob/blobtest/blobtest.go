// Package blobtest is the conformance test of blob.Store, run against every
// implementation so that they agree on what the interface leaves to prose:
// bytes kept exactly, ErrNotFound for a missing key, a missing key's Delete
// being no error, and the keys refused.
package blobtest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/tollgate/tollgate/shared/blob"
)

// BadKeys are keys every Store refuses.
var BadKeys = []string{"", "/abs", "..", "a/../b", "a/./b", "a//b", "a/", "./a", `a\b`, "a\x00b"}

// Run runs the conformance tests, each on a new, empty store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte("0123456789abcdef\x00\xff"), 5<<20/18+1)[:5<<20]
	for name, data := range map[string][]byte{"every byte": all, "5 MiB": big, "empty": {}} {
		t.Run("round trip "+name, func(t *testing.T) {
			s := newStore(t)
			key := "tenants/t1/files/file-abc"
			if err := s.Put(t.Context(), key, data, "application/octet-stream"); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(t.Context(), key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("Get = %d bytes, %v; want the %d put", len(got), err, len(data))
			}
		})
	}
	t.Run("overwrite and neighbours", func(t *testing.T) {
		s := newStore(t)
		put := func(key, v string) {
			if err := s.Put(t.Context(), key, []byte(v), "text/plain"); err != nil {
				t.Fatal(err)
			}
		}
		put("tenants/t1/files/a", "one")
		put("tenants/t1/files/a", "two")
		put("tenants/t2/files/a", "other tenant")
		for key, want := range map[string]string{"tenants/t1/files/a": "two", "tenants/t2/files/a": "other tenant"} {
			if got, err := s.Get(t.Context(), key); err != nil || string(got) != want {
				t.Errorf("Get(%q) = %q, %v; want %q", key, got, err, want)
			}
		}
	})
	t.Run("missing and deleted", func(t *testing.T) {
		s := newStore(t)
		key := "tenants/t1/files/gone"
		if _, err := s.Get(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get of a missing key: %v, want ErrNotFound", err)
		}
		if err := s.Delete(t.Context(), key); err != nil {
			t.Errorf("Delete of a missing key: %v", err)
		}
		if err := s.Put(t.Context(), key, []byte("x"), ""); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(t.Context(), key); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
			t.Errorf("Get after Delete: %v, want ErrNotFound", err)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		s := newStore(t)
		for _, key := range BadKeys {
			if err := s.Put(t.Context(), key, []byte("x"), ""); err == nil {
				t.Errorf("Put(%q) succeeded", key)
			}
			if _, err := s.Get(t.Context(), key); err == nil || errors.Is(err, blob.ErrNotFound) {
				t.Errorf("Get(%q) = %v, want a bad-key error", key, err)
			}
			if err := s.Delete(t.Context(), key); err == nil {
				t.Errorf("Delete(%q) succeeded", key)
			}
		}
	})
}
