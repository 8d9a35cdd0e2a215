package dynamo_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/tenant"
)

var ddb *dynamotest.Server

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m, &ddb)) }

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func TestTenantLifecycle(t *testing.T) {
	t.Parallel()
	st := dynamotest.Require(t, ddb).NewStore(t)
	ctx := context.Background()

	cfg := tenant.Config{ID: "acme", Name: "Acme", TokenBudget: tenant.Budget{Daily: 100}}
	got, created, err := st.PutTenant(ctx, cfg, nil, t0)
	if err != nil || !created || got.Version != 1 {
		t.Fatalf("PutTenant(new) = %+v, %v, %v; want version 1, created", got, created, err)
	}
	if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) {
		t.Errorf("timestamps = %v, %v; want %v", got.CreatedAt, got.UpdatedAt, t0)
	}

	stale := int64(5)
	if _, _, err := st.PutTenant(ctx, cfg, &stale, t0); !errors.Is(err, tenant.ErrVersionConflict) {
		t.Fatalf("PutTenant(stale version) err = %v, want ErrVersionConflict", err)
	}
	v1 := int64(1)
	cfg.Name = "Acme Corp"
	t1 := t0.Add(time.Hour)
	got, created, err = st.PutTenant(ctx, cfg, &v1, t1)
	if err != nil || created || got.Version != 2 || got.Name != "Acme Corp" {
		t.Fatalf("PutTenant(v1) = %+v, %v, %v; want version 2 updated", got, created, err)
	}
	if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t1) {
		t.Errorf("after update createdAt, updatedAt = %v, %v; want %v, %v", got.CreatedAt, got.UpdatedAt, t0, t1)
	}
	read, err := st.GetTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, read); diff != "" {
		t.Errorf("GetTenant differs from PutTenant's result (-put +get):\n%s", diff)
	}

	if err := st.DeleteTenant(ctx, "acme", t1, t1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetTenant(ctx, "acme"); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("GetTenant after delete err = %v, want ErrNotFound", err)
	}
	if err := st.DeleteTenant(ctx, "acme", t1, t1); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("second DeleteTenant err = %v, want ErrNotFound", err)
	}
}

func TestListTenantsPaginates(t *testing.T) {
	t.Parallel()
	st := dynamotest.Require(t, ddb).NewStore(t)
	ctx := context.Background()
	want := []string{"t-a", "t-b", "t-c", "t-d", "t-e"}
	for _, id := range want {
		if _, _, err := st.PutTenant(ctx, tenant.Config{ID: id}, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		ts, next, err := st.ListTenants(ctx, 2, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range ts {
			got = append(got, c.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listed tenants (-want +got):\n%s", diff)
	}
	if _, _, err := st.ListTenants(ctx, 2, "not-a-cursor"); err == nil {
		t.Error("ListTenants(bad cursor) succeeded, want error")
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	st := dynamotest.Require(t, ddb).NewStore(t)
	ctx := context.Background()
	id, secret := tenant.NewKey()
	k := tenant.Key{ID: id, TenantID: "acme", Hint: secret[len(secret)-4:], CreatedAt: t0, Incarnation: "0123456789abcdef"}
	if err := st.CreateKey(ctx, k, tenant.HashKey(secret)); err != nil {
		t.Fatal(err)
	}
	got, err := st.LookupKey(ctx, tenant.HashKey(secret))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(k, got); diff != "" {
		t.Errorf("LookupKey (-want +got):\n%s", diff)
	}
	if _, err := st.LookupKey(ctx, tenant.HashKey(secret+"x")); !errors.Is(err, tenant.ErrUnknownKey) {
		t.Errorf("LookupKey(unknown) err = %v, want ErrUnknownKey", err)
	}
	for _, scope := range []string{"other", "acme", "acme.fedcba9876543210"} { // another tenant, another incarnation
		if err := st.RevokeKey(ctx, scope, id, t0); !errors.Is(err, tenant.ErrUnknownKey) {
			t.Errorf("RevokeKey(%s) err = %v, want ErrUnknownKey", scope, err)
		}
	}
	if err := st.RevokeKey(ctx, "acme.0123456789abcdef", id, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.LookupKey(ctx, tenant.HashKey(secret)); !errors.Is(err, tenant.ErrUnknownKey) {
		t.Errorf("LookupKey(revoked) err = %v, want ErrUnknownKey", err)
	}
	keys, err := st.ListKeys(ctx, "acme.0123456789abcdef")
	if err != nil || len(keys) != 1 || keys[0].RevokedAt == nil {
		t.Errorf("ListKeys = %+v, %v; want one revoked key", keys, err)
	}
}
