package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/tenant"
)

// Key items: pk KEY#<sha256 of the secret>, sk KEY, so authentication is one
// GetItem; gsi1pk TENANT#<scope>, gsi1sk KEY#<keyId> lists a tenant's keys (of
// its incarnation: tenant.Config.Scope); incarnation is the tenant incarnation
// the key opens.
const skKey = "KEY"

func keyPK(hash string) string { return "KEY#" + hash }

// CreateKey stores a new key's hash and metadata.
func (s *Store) CreateKey(ctx context.Context, k tenant.Key, hash string) error {
	item := map[string]types.AttributeValue{
		attrPK: str(keyPK(hash)), attrSK: str(skKey),
		attrGSI1PK: str(tenantPK(tenant.ScopeOf(k.TenantID, k.Incarnation))), attrGSI1SK: str("KEY#" + k.ID),
		"keyId": str(k.ID), "tenantId": str(k.TenantID), "hint": str(k.Hint),
		"createdAt": timeAttr(k.CreatedAt),
	}
	if k.Name != "" {
		item["name"] = str(k.Name)
	}
	if k.Incarnation != "" {
		item[attrIncarnation] = str(k.Incarnation)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                aws.String(s.table),
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if err != nil {
		return fmt.Errorf("dynamo: create key for %s: %w", k.TenantID, err)
	}
	return nil
}

// LookupKey resolves a key hash to its key, or tenant.ErrUnknownKey when there is
// no such key or it was revoked. It is one GetItem.
func (s *Store) LookupKey(ctx context.Context, hash string) (tenant.Key, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table),
		Key:       key(keyPK(hash), skKey),
	})
	if err != nil {
		return tenant.Key{}, fmt.Errorf("dynamo: look up key: %w", err)
	}
	if res.Item == nil {
		return tenant.Key{}, tenant.ErrUnknownKey
	}
	k := decodeKey(res.Item)
	if k.RevokedAt != nil {
		return tenant.Key{}, tenant.ErrUnknownKey
	}
	return k, nil
}

// keysOf queries the index for the keys of a tenant's scope, in key id order.
func (s *Store) keysOf(scope string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		IndexName:                aws.String(IndexGSI1),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrGSI1PK, "#sk": attrGSI1SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(tenantPK(scope)), ":prefix": str("KEY#"),
		},
	}
}

// ListKeys returns the keys of a tenant's scope, revoked ones included, in key id
// order.
func (s *Store) ListKeys(ctx context.Context, scope string) ([]tenant.Key, error) {
	var out []tenant.Key
	p := dynamodb.NewQueryPaginator(s.db, s.keysOf(scope))
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: list keys of %s: %w", scope, err)
		}
		for _, it := range res.Items {
			out = append(out, decodeKey(it))
		}
	}
	return out, nil
}

// RevokeKey marks a key of a tenant's scope revoked. It returns
// tenant.ErrUnknownKey when the scope has no such key; revoking a revoked key
// again changes nothing.
func (s *Store) RevokeKey(ctx context.Context, scope, keyID string, now time.Time) error {
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		IndexName:                aws.String(IndexGSI1),
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk = :sk"),
		ExpressionAttributeNames: map[string]string{"#pk": attrGSI1PK, "#sk": attrGSI1SK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(tenantPK(scope)), ":sk": str("KEY#" + keyID),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamo: find key %s: %w", keyID, err)
	}
	if len(res.Items) == 0 {
		return tenant.ErrUnknownKey
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(getS(res.Items[0], attrPK), skKey),
		UpdateExpression:         aws.String("SET #rev = if_not_exists(#rev, :now)"),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND #g1pk = :g1pk"),
		ExpressionAttributeNames: map[string]string{"#rev": "revokedAt", "#pk": attrPK, "#g1pk": attrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": timeAttr(now), ":g1pk": str(tenantPK(scope)),
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return tenant.ErrUnknownKey
	}
	if err != nil {
		return fmt.Errorf("dynamo: revoke key %s: %w", keyID, err)
	}
	return nil
}

func decodeKey(item map[string]types.AttributeValue) tenant.Key {
	k := tenant.Key{
		ID:          getS(item, "keyId"),
		TenantID:    getS(item, "tenantId"),
		Name:        getS(item, "name"),
		Hint:        getS(item, "hint"),
		CreatedAt:   getTime(item, "createdAt"),
		Incarnation: getS(item, attrIncarnation),
	}
	if _, ok := item["revokedAt"]; ok {
		t := getTime(item, "revokedAt")
		k.RevokedAt = &t
	}
	return k
}
