package blob_test

import (
	"testing"

	"github.com/tollgate/tollgate/shared/blob"
	"github.com/tollgate/tollgate/shared/blob/blobtest"
)

func TestDir(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return blob.NewDir(t.TempDir()) })
}
