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

	"github.com/tollgate/tollgate/shared/responses"
	"github.com/tollgate/tollgate/shared/session"
)

// Stored responses (see docs/architecture.md, "Stored responses"): one item per
// response, pk TENANT#<tenant>, sk RESPONSE#<id>; response (the Response object,
// JSON), input (its input items, JSON), conversation (the turns a later
// previous_response_id continues, JSON), createdAt, ttl. The tenant in the
// partition key makes another tenant's id simply absent.
func responseSK(id string) string { return "RESPONSE#" + id }

// PutResponse stores r (a new response id: it never overwrites).
func (s *Store) PutResponse(ctx context.Context, r *responses.Stored) error {
	turns := make([][]session.Message, len(r.Conversation))
	for i, t := range r.Conversation {
		turns[i] = t.Messages
	}
	conv, err := json.Marshal(turns)
	if err != nil {
		return fmt.Errorf("dynamo: store response: %w", err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK: str(tenantPK(r.TenantID)), attrSK: str(responseSK(r.ID)),
			"response": str(string(r.Object)), "input": str(string(r.Input)), "conversation": str(string(conv)),
			"createdAt": timeAttr(r.CreatedAt), attrTTL: num(r.ExpiresAt.Unix()),
		},
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if err != nil {
		return fmt.Errorf("dynamo: store response %s: %w", r.ID, err)
	}
	return nil
}

// GetResponse reads a live response of the tenant; an absent or expired one
// (DynamoDB TTL deletes late, dynalite never) is responses.ErrNotFound.
func (s *Store) GetResponse(ctx context.Context, tenantID, id string, now time.Time) (responses.Stored, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(tenantPK(tenantID), responseSK(id)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return responses.Stored{}, fmt.Errorf("dynamo: load response: %w", err)
	}
	it := res.Item
	if it == nil || getN(it, attrTTL) <= now.Unix() {
		return responses.Stored{}, responses.ErrNotFound
	}
	r := responses.Stored{
		ID: id, TenantID: tenantID, CreatedAt: getTime(it, "createdAt"), ExpiresAt: time.Unix(getN(it, attrTTL), 0),
		Object: []byte(getS(it, "response")), Input: []byte(getS(it, "input")),
	}
	var turns [][]session.Message
	if err := json.Unmarshal([]byte(getS(it, "conversation")), &turns); err != nil {
		return responses.Stored{}, fmt.Errorf("dynamo: decode response %s: %w", id, err)
	}
	for i, msgs := range turns {
		r.Conversation = append(r.Conversation, session.Turn{Seq: int64(i + 1), Messages: msgs})
	}
	return r, nil
}

// DeleteResponse deletes a live response of the tenant; an absent or expired one
// is responses.ErrNotFound.
func (s *Store) DeleteResponse(ctx context.Context, tenantID, id string, now time.Time) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(tenantPK(tenantID), responseSK(id)),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #ttl > :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return responses.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("dynamo: delete response %s: %w", id, err)
	}
	return nil
}
