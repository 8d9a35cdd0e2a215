package knowledge_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/shared/knowledge"
)

func testJob() knowledge.Job {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	return knowledge.Job{TenantID: "acme", Scope: "acme.0123456789abcdef",
		StoreID: knowledge.NewID(knowledge.StorePrefix, t0), FileID: knowledge.NewID(knowledge.FilePrefix, t0)}
}

func TestDecodeJob(t *testing.T) {
	j := testJob()
	if got, err := knowledge.DecodeJob(j.Encode()); err != nil || got != j {
		t.Fatalf("DecodeJob(Encode) = %+v, %v; want %+v", got, err, j)
	}
	legacy := j
	legacy.Scope = legacy.TenantID // a tenant from before incarnations
	if _, err := knowledge.DecodeJob(legacy.Encode()); err != nil {
		t.Errorf("scope without incarnation: %v", err)
	}
	enc := j.Encode()
	for name, body := range map[string]string{
		"truncated":      enc[:len(enc)-1],
		"trailing":       enc + "{}",
		"unknown field":  strings.Replace(enc, `{`, `{"x":1,`, 1),
		"wrong type":     strings.Replace(enc, `"acme"`, `7`, 1),
		"missing field":  strings.Replace(enc, `"tenantId":"acme",`, ``, 1),
		"null":           `null`,
		"bad tenant":     strings.Replace(enc, `"acme"`, `"Acme"`, 1),
		"foreign scope":  strings.Replace(enc, `"acme.`, `"other.`, 1),
		"bad scope":      strings.Replace(enc, `.0123456789abcdef`, `.x`, 1),
		"bad store id":   strings.Replace(enc, `"vs_`, `"vsfb_`, 1),
		"bad file id":    strings.Replace(enc, j.FileID, j.FileID+"0", 1),
		"path in fileId": strings.Replace(enc, j.FileID, "../"+j.FileID, 1),
	} {
		if got, err := knowledge.DecodeJob(body); err == nil {
			t.Errorf("%s: DecodeJob(%s) = %+v, want an error", name, body, got)
		}
	}
}

func FuzzDecodeJob(f *testing.F) {
	enc := testJob().Encode()
	for _, s := range []string{enc, enc[:len(enc)/2], strings.Replace(enc, `{`, `{"extra":true,`, 1),
		`{"tenantId":1,"scope":[],"storeId":null,"fileId":{}}`, `{}`, `null`, `[]`, ``, enc + " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		j, err := knowledge.DecodeJob(body)
		if err != nil {
			return
		}
		again, err := knowledge.DecodeJob(j.Encode())
		if err != nil || again != j {
			t.Fatalf("DecodeJob(%q) = %+v, which encodes to %s: decodes to %+v, %v", body, j, j.Encode(), again, err)
		}
	})
}
