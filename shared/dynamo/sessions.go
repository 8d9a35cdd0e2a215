package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/session"
)

// Session items (see docs/architecture.md, "Sessions"):
//
//	meta:  pk TENANT#<tenant>, sk SESSION#<id>; gen, createdAt, updatedAt, turns,
//	       ttl; gsi1pk TENANT#<tenant>#SESSIONS, gsi1sk <updatedAt>#<id> (listing,
//	       newest first)
//	turn:  pk TENANT#<tenant>#SESSION#<id>, sk TURN#<gen>#<seq, 10 digits>;
//	       messages (JSON), ttl
//
// A turn (the request's messages and the answer) is one item written with
// attribute_not_exists, so two requests can never take the same turn number and
// never interleave. The generation (creation time in ns) separates a session
// recreated after expiry from the turns of its expired predecessor, which DynamoDB
// TTL deletes later (and dynalite never does).
func sessionSK(id string) string         { return "SESSION#" + id }
func turnPK(tenantID, id string) string  { return tenantPK(tenantID) + "#SESSION#" + id }
func turnPrefix(gen int64) string        { return "TURN#" + strconv.FormatInt(gen, 10) + "#" }
func turnSK(gen, seq int64) string       { return fmt.Sprintf("%s%010d", turnPrefix(gen), seq) }
func sessionsGSI(tenantID string) string { return tenantPK(tenantID) + "#SESSIONS" }

// LoadSession reads a live session and its turns, oldest first; an expired or
// absent session is session.ErrNotFound.
func (s *Store) LoadSession(ctx context.Context, tenantID, id string, now time.Time, exp session.Expiry) (session.Session, error) {
	meta, err := s.sessionMeta(ctx, tenantID, id)
	if err != nil {
		return session.Session{}, err
	}
	if !exp.Alive(meta, now) {
		return session.Session{}, session.ErrNotFound
	}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                aws.String(s.table),
		KeyConditionExpression:   aws.String("#pk = :pk AND begins_with(#sk, :prefix)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(turnPK(tenantID, id)), ":prefix": str(turnPrefix(meta.Gen)),
		},
		ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return session.Session{}, fmt.Errorf("dynamo: load session turns: %w", err)
		}
		for _, it := range res.Items {
			var msgs []session.Message
			if err := json.Unmarshal([]byte(getS(it, "messages")), &msgs); err != nil {
				return session.Session{}, fmt.Errorf("dynamo: decode session turn: %w", err)
			}
			meta.Turns = append(meta.Turns, session.Turn{Seq: getN(it, "seq"), Messages: msgs})
		}
	}
	return meta, nil
}

func (s *Store) sessionMeta(ctx context.Context, tenantID, id string) (session.Session, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: key(tenantPK(tenantID), sessionSK(id)), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return session.Session{}, fmt.Errorf("dynamo: load session: %w", err)
	}
	if res.Item == nil {
		return session.Session{}, session.ErrNotFound
	}
	return decodeSession(tenantID, res.Item), nil
}

func decodeSession(tenantID string, it map[string]types.AttributeValue) session.Session {
	return session.Session{
		TenantID: tenantID, ID: getS(it, "sessionId"), Gen: getN(it, "gen"),
		CreatedAt: getTime(it, "createdAt"), UpdatedAt: getTime(it, "updatedAt"),
	}
}

// maxAppendTries bounds appends racing other appends to the same session: each
// lost race moves on to the next turn number, so it takes as many tries as there
// are concurrent writers.
const maxAppendTries = 100

// AppendTurn appends msgs as the next turn of the session, creating the session
// (or a new generation of an expired one) when needed. known is the session as the
// caller loaded it (nil when it found none), which saves reading it again. A
// concurrent append that took the next turn number first makes it append after
// that turn instead: no turn is lost and none interleaves with another.
func (s *Store) AppendTurn(ctx context.Context, tenantID, id string, known *session.Session, msgs []session.Message, now time.Time, exp session.Expiry) error {
	doc, err := json.Marshal(msgs)
	if err != nil {
		return fmt.Errorf("dynamo: append turn: %w", err)
	}
	var (
		cur session.Session
		seq int64 // 0: (re)load the session first
	)
	switch {
	case known != nil:
		cur, seq = *known, 1
		if n := len(cur.Turns); n > 0 {
			seq = cur.Turns[n-1].Seq + 1
		}
	default: // none was found: create it, unless another request just did
		if cur, err = s.createSession(ctx, tenantID, id, now, exp); err == nil {
			seq = 1
		} else if !errors.Is(err, session.ErrConflict) {
			return err
		}
	}
	for try := 0; try < maxAppendTries; try++ {
		if seq == 0 {
			var err error
			cur, err = s.LoadSession(ctx, tenantID, id, now, exp)
			if errors.Is(err, session.ErrNotFound) {
				cur, err = s.createSession(ctx, tenantID, id, now, exp)
				if errors.Is(err, session.ErrConflict) {
					continue // another request created it first: load that one
				}
			}
			if err != nil {
				return err
			}
			seq = 1
			if n := len(cur.Turns); n > 0 {
				seq = cur.Turns[n-1].Seq + 1
			}
		}
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: aws.String(s.table),
			Item: map[string]types.AttributeValue{
				attrPK: str(turnPK(tenantID, id)), attrSK: str(turnSK(cur.Gen, seq)),
				"seq": num(seq), "messages": str(string(doc)),
				attrTTL: num(cur.CreatedAt.Add(exp.MaxAge).Unix()),
			},
			ConditionExpression:      aws.String("attribute_not_exists(#sk)"),
			ExpressionAttributeNames: map[string]string{"#sk": attrSK},
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			seq++ // that turn number is taken: try the next
			continue
		}
		if err != nil {
			return fmt.Errorf("dynamo: append turn: %w", err)
		}
		cur.UpdatedAt = now
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           aws.String(s.table),
			Key:                 key(tenantPK(tenantID), sessionSK(id)),
			UpdateExpression:    aws.String("SET #updatedAt = :now, #g1sk = :g1sk, #ttl = :ttl, #turns = :seq"),
			ConditionExpression: aws.String("#gen = :gen AND (attribute_not_exists(#turns) OR #turns < :seq)"),
			ExpressionAttributeNames: map[string]string{
				"#updatedAt": "updatedAt", "#g1sk": attrGSI1SK, "#ttl": attrTTL, "#turns": "turns", "#gen": "gen",
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":now": timeAttr(now), ":g1sk": str(now.UTC().Format(time.RFC3339Nano) + "#" + id),
				":ttl": num(exp.ExpiresAt(cur).Unix()), ":seq": num(seq), ":gen": num(cur.Gen),
			},
		})
		if err != nil && !errors.As(err, &ccf) { // a newer turn already moved it on
			return fmt.Errorf("dynamo: touch session: %w", err)
		}
		return nil
	}
	return fmt.Errorf("dynamo: append turn to session %s: %w", id, session.ErrConflict)
}

func (s *Store) createSession(ctx context.Context, tenantID, id string, now time.Time, exp session.Expiry) (session.Session, error) {
	sess := session.Session{TenantID: tenantID, ID: id, Gen: now.UnixNano(), CreatedAt: now, UpdatedAt: now}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK: str(tenantPK(tenantID)), attrSK: str(sessionSK(id)),
			attrGSI1PK: str(sessionsGSI(tenantID)), attrGSI1SK: str(now.UTC().Format(time.RFC3339Nano) + "#" + id),
			"sessionId": str(id), "gen": num(sess.Gen), "createdAt": timeAttr(now), "updatedAt": timeAttr(now),
			attrTTL: num(exp.ExpiresAt(sess).Unix()),
		},
		// Absent, or expired: DynamoDB TTL may not have deleted it yet.
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #ttl <= :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(now.Unix())},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return session.Session{}, session.ErrConflict
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("dynamo: create session: %w", err)
	}
	return sess, nil
}

// ListSessions returns a page of the tenant's live sessions, most recently
// updated first, and the cursor of the next page ("" on the last).
func (s *Store) ListSessions(ctx context.Context, tenantID string, limit int, cursor string, now time.Time, exp session.Expiry) ([]session.Session, string, error) {
	start, err := decodeCursor(cursor, attrPK, attrSK, attrGSI1PK, attrGSI1SK)
	if err != nil {
		return nil, "", err
	}
	res, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		IndexName:                 aws.String(IndexGSI1),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrGSI1PK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionsGSI(tenantID))},
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(limit)),
		ExclusiveStartKey:         start,
	})
	if err != nil {
		return nil, "", fmt.Errorf("dynamo: list sessions: %w", err)
	}
	out := []session.Session{}
	for _, it := range res.Items {
		if sess := decodeSession(tenantID, it); exp.Alive(sess, now) {
			out = append(out, sess)
		}
	}
	return out, encodeCursor(res.LastEvaluatedKey), nil
}

// DeleteSession deletes a live session and every turn of it, of all generations.
// An absent or expired session is session.ErrNotFound.
func (s *Store) DeleteSession(ctx context.Context, tenantID, id string, now time.Time, exp session.Expiry) error {
	meta, err := s.sessionMeta(ctx, tenantID, id)
	if err != nil {
		return err
	}
	if !exp.Alive(meta, now) {
		return session.ErrNotFound
	}
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(tenantPK(tenantID), sessionSK(id)),
	}); err != nil {
		return fmt.Errorf("dynamo: delete session: %w", err)
	}
	_, err = s.deletePartition(ctx, turnPK(tenantID, id), nil)
	return err
}

// batchWrite writes reqs, resending unprocessed items a few times.
func (s *Store) batchWrite(ctx context.Context, reqs []types.WriteRequest) error {
	for try := 0; len(reqs) > 0; try++ {
		if try == 5 {
			return fmt.Errorf("dynamo: batch write: %d items left unprocessed", len(reqs))
		}
		res, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{s.table: reqs}})
		if err != nil {
			return fmt.Errorf("dynamo: batch write: %w", err)
		}
		reqs = res.UnprocessedItems[s.table]
		if len(reqs) > 0 {
			time.Sleep(time.Duration(50<<try) * time.Millisecond)
		}
	}
	return nil
}
