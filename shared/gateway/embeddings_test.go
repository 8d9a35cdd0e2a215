package gateway

import (
	"errors"
	"strings"
	"testing"

	"github.com/tollgate/tollgate/shared/apierr"
)

func TestDecodeEmbeddings(t *testing.T) {
	for body, want := range map[string]struct {
		inputs, tokens int
		base64         bool
		dims           int
	}{
		`{"input":"a"}`: {inputs: 1},
		`{"input":["a","b"],"encoding_format":"base64"}`:    {inputs: 2, base64: true},
		`{"input":[1,2,3],"dimensions":256}`:                {tokens: 1, dims: 256},
		`{"input":[[1],[2,3]],"model":"echo/e","user":"u"}`: {tokens: 2},
	} {
		c, err := decodeEmbeddings([]byte(body))
		if err != nil || len(c.req.Inputs) != want.inputs || len(c.req.Tokens) != want.tokens || c.base64 != want.base64 || c.req.Dimensions != want.dims {
			t.Errorf("decodeEmbeddings(%s) = %+v, %v", body, c, err)
		}
	}
}

// FuzzDecodeEmbeddings: any body decodes into 1 to 2048 non-empty inputs or is
// refused with a 400, never a panic or another kind of error.
func FuzzDecodeEmbeddings(f *testing.F) {
	for _, s := range []string{`{"input":"a"}`, `{"input":["a","b"],"encoding_format":"base64","dimensions":8}`,
		`{"input":[1,2]}`, `{"input":[[1],[2]]}`, `{"input":[]}`, `{"input":[""]}`, `{"input":null}`, `{"input":[1,"a"]}`,
		`{"input":"a","dimensions":1e40}`, `{"input":[-1]}`, `{"input":"` + strings.Repeat("x", 100) + `"} {}`, "\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := decodeEmbeddings(body)
		if err != nil {
			var e *apierr.Error
			if !errors.As(err, &e) || e.Kind != apierr.Invalid {
				t.Fatalf("error %T %v is not a 400 apierr", err, err)
			}
			return
		}
		if n := c.req.Len(); n < 1 || n > maxEmbeddingInputs {
			t.Fatalf("accepted %d inputs", n)
		}
		for _, s := range c.req.Inputs {
			if s == "" {
				t.Fatal("accepted an empty input")
			}
		}
		for _, tk := range c.req.Tokens {
			if len(tk) == 0 {
				t.Fatal("accepted an empty token array")
			}
		}
	})
}
