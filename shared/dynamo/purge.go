package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/tenant"
)

// Deleting a tenant (see docs/operations.md, "Deleting a tenant"). A tenant's data
// lives under its scope (tenant.Config.Scope): the partition TENANT#<scope>
// (usage, ledger days, session metadata, stored responses), one partition a
// session for its turns, and its keys (gsi1pk TENANT#<scope>). Deleting the
// configuration makes all of it unreachable at once, since a tenant created again
// under the id gets a new scope; the purge then deletes it. A purge marker,
// written before the configuration is deleted, makes the purge durable:
//
//	pk PURGES, sk <scope>; tenantId, deletedAt, sweepAt
//
// What DeleteTenant does not finish, the period-close job does (Purges, Purge);
// it purges again at sweepAt, for what requests still running at the deletion
// wrote after it, then deletes the marker.
const pkPurges = "PURGES"

// DeleteTenant deletes tenant id: its configuration, then its keys and all its
// data. It returns tenant.ErrNotFound when there is no such tenant, and an error
// wrapping tenant.ErrPurgeUnfinished when the tenant is deleted but not all its data is.
func (s *Store) DeleteTenant(ctx context.Context, id string, now, sweepAt time.Time) error {
	cfg, err := s.GetTenant(ctx, id)
	if err != nil {
		return err
	}
	scope := cfg.Scope()
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{attrPK: str(pkPurges), attrSK: str(scope),
			"tenantId": str(id), "deletedAt": timeAttr(now), "sweepAt": timeAttr(sweepAt)},
	}); err != nil {
		return fmt.Errorf("dynamo: delete tenant %s: %w", id, err)
	}
	in := &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      key(tenantPK(id), skConfig),
		ConditionExpression:      aws.String("attribute_exists(#pk) AND attribute_not_exists(#inc)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#inc": attrIncarnation},
	}
	if cfg.Incarnation != "" {
		in.ConditionExpression = aws.String("#inc = :inc")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":inc": str(cfg.Incarnation)}
		delete(in.ExpressionAttributeNames, "#pk")
	}
	_, err = s.db.DeleteItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		// Deleted (and maybe created again) meanwhile: this scope is gone either
		// way, and its marker stays for the job.
		return tenant.ErrNotFound
	}
	if err != nil {
		// Whether the delete landed is unknown: the job checks before it purges.
		return fmt.Errorf("dynamo: delete tenant %s: %w", id, err)
	}
	if _, err := s.Purge(ctx, scope); err != nil {
		return fmt.Errorf("%w: %w", tenant.ErrPurgeUnfinished, err)
	}
	return nil
}

// Purge deletes every item of a deleted tenant's scope: keys, usage, ledger days,
// sessions and their turns, stored responses. It returns how many items it
// deleted. The caller makes sure no live tenant has the scope (Purges' markers
// name only deleted ones; the job checks).
func (s *Store) Purge(ctx context.Context, scope string) (int, error) {
	n := 0
	keys, err := s.queryKeys(ctx, s.keysOf(scope))
	if err != nil {
		return n, err
	}
	if err := s.deleteKeys(ctx, keys); err != nil {
		return n, err
	}
	n += len(keys)
	// The tenant's partition; a tenant created before incarnations shares it
	// with the configuration item, which belongs to whoever holds the id now.
	// Its files and vector stores are kept: they name what lies outside the
	// table (file bytes, vector indexes), which the knowledge base's purge
	// (knowledge.Service.PurgeDeleted) deletes, then these items; a marker
	// tells it the scope.
	knowledge := false
	m, err := s.deletePartition(ctx, tenantPK(scope), func(sk string) (bool, error) {
		if sk == skConfig {
			return false, nil
		}
		if strings.HasPrefix(sk, "FILE#") || strings.HasPrefix(sk, "VS#") {
			knowledge = true
			return false, nil
		}
		if id, ok := strings.CutPrefix(sk, "SESSION#"); ok {
			k, err := s.deletePartition(ctx, turnPK(scope, id), nil)
			n += k
			if err != nil {
				return false, err
			}
		}
		return true, nil
	})
	if err == nil && knowledge {
		err = s.markKnowledgePurge(ctx, scope)
	}
	return n + m, err
}

// pkKnowledgePurges holds a marker per deleted scope whose files and vector
// stores are still to be purged, sk the scope.
const pkKnowledgePurges = "KPURGES"

func (s *Store) markKnowledgePurge(ctx context.Context, scope string) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{attrPK: str(pkKnowledgePurges), attrSK: str(scope)}})
	if err != nil {
		return fmt.Errorf("dynamo: mark the knowledge purge of %s: %w", scope, err)
	}
	return nil
}

// KnowledgePurges returns the deleted scopes whose files and vector stores
// are still to be purged.
func (s *Store) KnowledgePurges(ctx context.Context) ([]string, error) {
	items, err := s.queryPrefix(ctx, pkKnowledgePurges, "")
	if err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = getS(it, attrSK)
	}
	return out, nil
}

// EndKnowledgePurge removes the scope's marker, once its files and stores are gone.
func (s *Store) EndKnowledgePurge(ctx context.Context, scope string) error {
	_, err := s.deleteItem(ctx, pkKnowledgePurges, scope)
	return err
}

// Purges lists the purge markers, oldest scope first.
func (s *Store) Purges(ctx context.Context) ([]tenant.Purge, error) {
	var out []tenant.Purge
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkPurges)},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: list purges: %w", err)
		}
		for _, it := range res.Items {
			out = append(out, tenant.Purge{TenantID: getS(it, "tenantId"), Scope: getS(it, attrSK),
				DeletedAt: getTime(it, "deletedAt"), SweepAt: getTime(it, "sweepAt")})
		}
	}
	return out, nil
}

// EndPurge deletes a purge marker.
func (s *Store) EndPurge(ctx context.Context, scope string) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(pkPurges, scope),
	}); err != nil {
		return fmt.Errorf("dynamo: end purge of %s: %w", scope, err)
	}
	return nil
}

// queryKeys returns the table keys (pk, sk) of every item in.
func (s *Store) queryKeys(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	in.ProjectionExpression = aws.String("#tpk, #tsk")
	in.ExpressionAttributeNames["#tpk"], in.ExpressionAttributeNames["#tsk"] = attrPK, attrSK
	var out []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return out, fmt.Errorf("dynamo: query %s: %w", getS(in.ExpressionAttributeValues, ":pk"), err)
		}
		for _, it := range res.Items {
			out = append(out, key(getS(it, attrPK), getS(it, attrSK)))
		}
	}
	return out, nil
}

// deletePartition deletes the items of partition pk, a page at a time; with
// filter, only those whose sort key it accepts. It returns how many it deleted.
func (s *Store) deletePartition(ctx context.Context, pk string, filter func(sk string) (bool, error)) (int, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#tpk = :pk"),
		ExpressionAttributeNames:  map[string]string{},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ProjectionExpression:      aws.String("#tpk, #tsk"),
	}
	in.ExpressionAttributeNames["#tpk"], in.ExpressionAttributeNames["#tsk"] = attrPK, attrSK
	n := 0
	p := dynamodb.NewQueryPaginator(s.db, in)
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return n, fmt.Errorf("dynamo: query %s: %w", pk, err)
		}
		var keys []map[string]types.AttributeValue
		for _, it := range res.Items {
			sk := getS(it, attrSK)
			if filter != nil {
				ok, err := filter(sk)
				if err != nil {
					return n, err
				}
				if !ok {
					continue
				}
			}
			keys = append(keys, key(pk, sk))
		}
		if err := s.deleteKeys(ctx, keys); err != nil {
			return n, err
		}
		n += len(keys)
	}
	return n, nil
}

// deleteKeys deletes the items with these table keys, 25 a batch.
func (s *Store) deleteKeys(ctx context.Context, keys []map[string]types.AttributeValue) error {
	for i := 0; i < len(keys); i += 25 {
		var reqs []types.WriteRequest
		for _, k := range keys[i:min(i+25, len(keys))] {
			reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}})
		}
		if err := s.batchWrite(ctx, reqs); err != nil {
			return err
		}
	}
	return nil
}
