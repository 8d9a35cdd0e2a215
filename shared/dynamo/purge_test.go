package dynamo_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/dynamo/dynamotest"
	"github.com/tollgate/tollgate/shared/responses"
	"github.com/tollgate/tollgate/shared/session"
	"github.com/tollgate/tollgate/shared/tenant"
)

// fill gives tenant cfg one of every kind of item: a key, a session with two
// turns, a stored response, a settled request's usage and a ledger day.
func fill(t *testing.T, st *dynamo.Store, cfg tenant.Config) {
	t.Helper()
	ctx := context.Background()
	k, secret := tenant.IssueKey(&cfg, "k", t0)
	if err := st.CreateKey(ctx, k, tenant.HashKey(secret)); err != nil {
		t.Fatal(err)
	}
	exp := session.Expiry{Idle: 24 * time.Hour, MaxAge: 30 * 24 * time.Hour}
	msgs := []session.Message{{Role: "user", Content: "secret of " + cfg.ID, CreatedAt: t0}, {Role: "assistant", Content: "ok", CreatedAt: t0}}
	if err := st.AppendTurn(ctx, cfg.Scope(), "s1", nil, msgs, t0, exp); err != nil {
		t.Fatal(err)
	}
	known, err := st.LoadSession(ctx, cfg.Scope(), "s1", t0, exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.AppendTurn(ctx, cfg.Scope(), "s1", &known, msgs, t0, exp); err != nil {
		t.Fatal(err)
	}
	id := responses.ID(responses.NewKey())
	if err := st.PutResponse(ctx, &responses.Stored{ID: id, TenantID: cfg.Scope(), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		Object: []byte(`{"id":"` + id + `"}`), Input: []byte(`[]`)}); err != nil {
		t.Fatal(err)
	}
	adm, err := st.Admit(ctx, budget.Admission{TenantID: cfg.Scope(), RequestID: "r-" + cfg.ID, Now: t0,
		Budget: budget.Limits{Daily: 1000, MinOutput: 1}, Prompt: 10, MaxOutput: 10, Lease: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Settle(ctx, adm.Reservation, budget.Charge{Input: 5, Output: 5, Model: "echo/echo-1"}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutDay(ctx, cfg.Scope(), budget.DayStats{Date: "2026-11-24", Requests: 1}, t0); err != nil {
		t.Fatal(err)
	}
}

// items returns every item's pk and sk, and the tenant of key items, sorted.
func items(t *testing.T, st *dynamo.Store, db *dynamodb.Client) []string {
	t.Helper()
	var out []string
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(st.Table())})
	for p.HasMorePages() {
		res, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range res.Items {
			s := it["pk"].(*types.AttributeValueMemberS).Value + " " + it["sk"].(*types.AttributeValueMemberS).Value
			if v, ok := it["tenantId"].(*types.AttributeValueMemberS); ok && strings.HasPrefix(s, "KEY#") {
				s = "KEY of " + v.Value
			}
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// of returns the items of tenant id (any incarnation): its partitions and keys.
func of(all []string, id string) []string {
	var out []string
	for _, s := range all {
		if s == "KEY of "+id || strings.HasPrefix(s, "TENANT#"+id+" ") || strings.HasPrefix(s, "TENANT#"+id+".") ||
			strings.HasPrefix(s, "TENANT#"+id+"#") {
			out = append(out, s)
		}
	}
	return out
}

func TestDeleteTenantPurgesEverything(t *testing.T) {
	t.Parallel()
	srv := dynamotest.Require(t, ddb)
	st := srv.NewStore(t)
	ctx := context.Background()
	put := func(id string) tenant.Config {
		cfg, _, err := st.PutTenant(ctx, tenant.Config{ID: id}, nil, t0)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	acme, neighbour := put("acme"), put("acme-b") // a neighbour whose id extends acme's
	if acme.Incarnation == "" {
		t.Fatal("a new tenant has no incarnation")
	}
	fill(t, st, acme)
	fill(t, st, neighbour)
	before := items(t, st, srv.Client())
	if n := len(of(before, "acme")); n != 9 {
		t.Fatalf("acme has %d items before the delete, want 9 (configuration, key, usage, usage record, day, session, 2 turns, response):\n%s", n, strings.Join(before, "\n"))
	}

	if err := st.DeleteTenant(ctx, "acme", t0, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	after := items(t, st, srv.Client())
	if left := of(after, "acme"); len(left) != 0 {
		t.Errorf("left after deleting acme:\n%s", strings.Join(left, "\n"))
	}
	if a, b := of(before, "acme-b"), of(after, "acme-b"); strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("the neighbour's items changed:\nbefore %v\nafter %v", a, b)
	}
	ps, err := st.Purges(ctx)
	if err != nil || len(ps) != 1 || ps[0].Scope != acme.Scope() || ps[0].TenantID != "acme" || !ps[0].SweepAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("Purges = %+v, %v; want acme's marker", ps, err)
	}

	again := put("acme")
	if again.Incarnation == "" || again.Scope() == acme.Scope() {
		t.Fatalf("re-created acme has scope %q, its predecessor %q", again.Scope(), acme.Scope())
	}
	if again.Version != 1 {
		t.Errorf("re-created acme has version %d, want 1", again.Version)
	}
	// What a request of the deleted tenant still running writes lands in the
	// old scope, which the next purge deletes and the new tenant never sees.
	fill(t, st, acme)
	if n, err := st.Purge(ctx, acme.Scope()); err != nil || n != 8 {
		t.Errorf("Purge of late writes = %d, %v; want 8 items", n, err)
	}
	if left := of(items(t, st, srv.Client()), "acme"); len(left) != 1 || left[0] != "TENANT#acme CONFIG" {
		t.Errorf("acme after the second purge: %v, want only the new configuration", left)
	}
	if err := st.EndPurge(ctx, acme.Scope()); err != nil {
		t.Fatal(err)
	}
	if ps, err := st.Purges(ctx); err != nil || len(ps) != 0 {
		t.Errorf("Purges after EndPurge = %+v, %v", ps, err)
	}
	if err := st.DeleteTenant(ctx, "nobody", t0, t0); !errors.Is(err, tenant.ErrNotFound) {
		t.Errorf("DeleteTenant(nobody) = %v, want ErrNotFound", err)
	}
}

// TestTenantBeforeIncarnations: a tenant stored before incarnations existed keeps
// its data where it is (scope = id) through updates, and its deletion purges that
// partition, sparing the configuration item of whoever holds the id next.
func TestTenantBeforeIncarnations(t *testing.T) {
	t.Parallel()
	srv := dynamotest.Require(t, ddb)
	st := srv.NewStore(t)
	ctx := context.Background()
	if _, err := srv.Client().PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(st.Table()), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "TENANT#old"}, "sk": &types.AttributeValueMemberS{Value: "CONFIG"},
		"tenantId": &types.AttributeValueMemberS{Value: "old"}, "config": &types.AttributeValueMemberS{Value: `{"models":{},"tokenBudget":{},"rateLimit":{}}`},
		"version": &types.AttributeValueMemberN{Value: "3"}, "createdAt": &types.AttributeValueMemberS{Value: t0.Format(time.RFC3339Nano)},
		"gsi1pk": &types.AttributeValueMemberS{Value: "TENANTS"}, "gsi1sk": &types.AttributeValueMemberS{Value: "old"},
	}}); err != nil {
		t.Fatal(err)
	}
	v := int64(3)
	cfg, created, err := st.PutTenant(ctx, tenant.Config{ID: "old", Name: "Old"}, &v, t0)
	if err != nil || created || cfg.Incarnation != "" || cfg.Scope() != "old" || cfg.Version != 4 {
		t.Fatalf("update of an old tenant = %+v, %v, %v; want version 4, no incarnation", cfg, created, err)
	}
	if cfg, _, err = st.PutTenant(ctx, tenant.Config{ID: "old", Name: "Old again"}, nil, t0); err != nil || cfg.Incarnation != "" {
		t.Fatalf("unconditional update of an old tenant = %+v, %v; want no incarnation", cfg, err)
	}
	fill(t, st, cfg)
	if err := st.DeleteTenant(ctx, "old", t0, t0); err != nil {
		t.Fatal(err)
	}
	if left := of(items(t, st, srv.Client()), "old"); len(left) != 0 {
		t.Errorf("left after deleting old:\n%s", strings.Join(left, "\n"))
	}
	again, _, err := st.PutTenant(ctx, tenant.Config{ID: "old"}, nil, t0)
	if err != nil || again.Incarnation == "" {
		t.Fatalf("re-created old = %+v, %v; want a new incarnation", again, err)
	}
	if _, err := st.Purge(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetTenant(ctx, "old"); err != nil {
		t.Errorf("a purge of the old scope took the new tenant's configuration: %v", err)
	}
}
