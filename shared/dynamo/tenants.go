package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/tenant"
)

// Tenant items: pk TENANT#<id>, sk CONFIG, listed through gsi1 (gsi1pk TENANTS,
// gsi1sk <id>). The configuration itself is a JSON document in attribute "config";
// version, createdAt and updatedAt are attributes of their own so conditions can
// test them.
const (
	skConfig       = "CONFIG"
	gsiTenantsList = "TENANTS"
)

// attrIncarnation holds tenant.Config.Incarnation on the configuration item and
// tenant.Key.Incarnation on a key item.
const attrIncarnation = "incarnation"

// tenantPK is the partition of a tenant's configuration (by id) and of its data
// (by scope, tenant.Config.Scope).
func tenantPK(idOrScope string) string { return "TENANT#" + idOrScope }

// storedConfig is the part of tenant.Config kept in the "config" document.
type storedConfig struct {
	Name        string            `json:"name,omitempty"`
	Models      tenant.Models     `json:"models"`
	TokenBudget tenant.Budget     `json:"tokenBudget"`
	CostBudget  tenant.CostBudget `json:"costBudget"`
	RateLimit   tenant.RateLimit  `json:"rateLimit"`
	Knowledge   tenant.Knowledge  `json:"knowledge,omitzero"`
}

// PutTenant creates or replaces a tenant's configuration. With expected set, the
// write applies only when the stored version equals *expected, else it returns
// tenant.ErrVersionConflict (also when the tenant does not exist). Without it, the
// write is a create-or-replace. created reports a new tenant. An update keeps the
// tenant's incarnation; a creation gives it a new one (tenant.Config.Scope), so
// an id created again after a deletion starts empty.
func (s *Store) PutTenant(ctx context.Context, cfg tenant.Config, expected *int64, now time.Time) (out tenant.Config, created bool, err error) {
	doc, err := json.Marshal(storedConfig{cfg.Name, cfg.Models, cfg.TokenBudget, cfg.CostBudget, cfg.RateLimit, cfg.Knowledge})
	if err != nil {
		return tenant.Config{}, false, fmt.Errorf("dynamo: put tenant: %w", err)
	}
	write := func(create bool) (*dynamodb.UpdateItemOutput, error) {
		in := &dynamodb.UpdateItemInput{
			TableName: aws.String(s.table),
			Key:       key(tenantPK(cfg.ID), skConfig),
			UpdateExpression: aws.String("SET #config = :config, #version = if_not_exists(#version, :zero) + :one, " +
				"#updatedAt = :now, #createdAt = if_not_exists(#createdAt, :now), #tenantId = :id, #g1pk = :g1pk, #g1sk = :id"),
			ConditionExpression: aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{
				"#config": "config", "#version": "version", "#updatedAt": "updatedAt", "#createdAt": "createdAt",
				"#tenantId": "tenantId", "#g1pk": attrGSI1PK, "#g1sk": attrGSI1SK, "#pk": attrPK,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":config": str(string(doc)), ":zero": num(0), ":one": num(1), ":now": timeAttr(now),
				":id": str(cfg.ID), ":g1pk": str(gsiTenantsList),
			},
			ReturnValues: types.ReturnValueAllNew,
		}
		switch {
		case create:
			*in.UpdateExpression += ", #inc = :inc"
			in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
			in.ExpressionAttributeNames["#inc"] = attrIncarnation
			in.ExpressionAttributeValues[":inc"] = str(tenant.NewIncarnation())
		case expected != nil:
			in.ConditionExpression = aws.String("#version = :expected")
			delete(in.ExpressionAttributeNames, "#pk")
			in.ExpressionAttributeValues[":expected"] = num(*expected)
		}
		return s.db.UpdateItem(ctx, in)
	}
	var ccf *types.ConditionalCheckFailedException
	for try := 0; try < 4; try++ {
		create := try%2 == 1 // update what exists; else create; else (created meanwhile) update
		res, err := write(create)
		if errors.As(err, &ccf) {
			if expected != nil {
				return tenant.Config{}, false, tenant.ErrVersionConflict
			}
			continue
		}
		if err != nil {
			return tenant.Config{}, false, fmt.Errorf("dynamo: put tenant %s: %w", cfg.ID, err)
		}
		out, err = decodeTenant(res.Attributes)
		return out, create, err
	}
	return tenant.Config{}, false, fmt.Errorf("dynamo: put tenant %s: created and deleted concurrently, again and again", cfg.ID)
}

// GetTenant returns a tenant's configuration, or tenant.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (tenant.Config, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table),
		Key:       key(tenantPK(id), skConfig),
		// Strongly consistent: a deleted tenant must not be read back, nor an
		// old incarnation (callers cache the answer).
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return tenant.Config{}, fmt.Errorf("dynamo: get tenant %s: %w", id, err)
	}
	if res.Item == nil {
		return tenant.Config{}, tenant.ErrNotFound
	}
	return decodeTenant(res.Item)
}

// ListTenants returns up to limit tenants in id order, starting after cursor, and
// the cursor of the next page ("" on the last page).
func (s *Store) ListTenants(ctx context.Context, limit int, cursor string) ([]tenant.Config, string, error) {
	start, err := decodeCursor(cursor, attrPK, attrSK, attrGSI1PK, attrGSI1SK)
	if err != nil {
		return nil, "", err
	}
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexGSI1),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(gsiTenantsList)},
		Limit:                     aws.Int32(int32(limit)),
		ExclusiveStartKey:         start,
	})
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: list tenants: %w", err)
	}
	out := make([]tenant.Config, 0, len(res.Items))
	for _, it := range res.Items {
		c, err := decodeTenant(it)
		if err != nil {
			return nil, "", err
		}
		out = append(out, c)
	}
	return out, encodeCursor(res.LastEvaluatedKey), nil
}

func decodeTenant(item map[string]types.AttributeValue) (tenant.Config, error) {
	var sc storedConfig
	if err := json.Unmarshal([]byte(getS(item, "config")), &sc); err != nil {
		return tenant.Config{}, fmt.Errorf("dynamo: decode tenant %s: %w", getS(item, "tenantId"), err)
	}
	return tenant.Config{
		ID:          getS(item, "tenantId"),
		Name:        sc.Name,
		Models:      sc.Models,
		TokenBudget: sc.TokenBudget,
		CostBudget:  sc.CostBudget,
		RateLimit:   sc.RateLimit,
		Knowledge:   sc.Knowledge,
		Version:     getN(item, "version"),
		Incarnation: getS(item, attrIncarnation),
		CreatedAt:   getTime(item, "createdAt"),
		UpdatedAt:   getTime(item, "updatedAt"),
	}, nil
}
