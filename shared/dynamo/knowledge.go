package dynamo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/knowledge"
)

// Knowledge-base items (see docs/architecture.md, "Knowledge bases"):
//
//	file:        pk TENANT#<t>, sk FILE#<file id>; doc (JSON), bytes
//	storage:     pk TENANT#<t>, sk STORAGE; bytes (what the tenant's files take, reserved before each upload)
//	store:       pk TENANT#<t>, sk VS#<store id>; doc (JSON), active (last activity, ns)
//	store file:  pk TENANT#<t>, sk VSF#<store id>#<file id>; doc (JSON), status, lastError (JSON),
//	             planned (chunks an ingestion is writing), chunks, usage
//	batch:       pk TENANT#<t>, sk VSB#<store id>#<batch id>; doc (JSON)
//	job:         pk INGEST, sk <t>#<store id>#<file id>; tenant, scope, store, file, at: an ingestion not yet finished
//
// No write spans two items (dynalite has no transactions): every sequence of
// writes is ordered so that a crash between two leaves nothing visible half
// done, and every write may be repeated (see package knowledge).
const (
	skStorage = "STORAGE"
	pkIngest  = "INGEST"
)

func fileSK(id string) string               { return "FILE#" + id }
func storeSK(id string) string              { return "VS#" + id }
func storeFilePrefix(storeID string) string { return "VSF#" + storeID + "#" }
func storeFileSK(storeID, fileID string) string {
	return storeFilePrefix(storeID) + fileID
}
func batchSK(storeID, batchID string) string { return "VSB#" + storeID + "#" + batchID }
func jobSK(j knowledge.Job) string           { return j.TenantID + "#" + j.StoreID + "#" + j.FileID }

// ReserveStorage adds n bytes to the tenant's stored bytes when the total stays
// within quota (quota ≤ 0: no limit), else returns knowledge.ErrQuota.
func (s *Store) ReserveStorage(ctx context.Context, tenantID string, n, quota int64) error {
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       key(tenantPK(tenantID), skStorage),
		UpdateExpression:          aws.String("ADD #b :n"),
		ExpressionAttributeNames:  map[string]string{"#b": "bytes"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n)},
	}
	if quota > 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(#b) OR #b <= :room")
		in.ExpressionAttributeValues[":room"] = num(quota - n)
		if n > quota {
			return knowledge.ErrQuota
		}
	}
	_, err := s.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return knowledge.ErrQuota
	}
	if err != nil {
		return fmt.Errorf("dynamo: reserve storage: %w", err)
	}
	return nil
}

// ReleaseStorage subtracts n bytes from the tenant's stored bytes.
func (s *Store) ReleaseStorage(ctx context.Context, tenantID string, n int64) error {
	return s.ReserveStorage(ctx, tenantID, -n, 0)
}

func (s *Store) putDoc(ctx context.Context, pk, sk string, doc any, extra map[string]types.AttributeValue, mustBeNew bool) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("dynamo: encode %s: %w", sk, err)
	}
	item := map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk), "doc": str(string(b))}
	for k, v := range extra {
		item[k] = v
	}
	in := &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}
	if mustBeNew {
		in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
		in.ExpressionAttributeNames = map[string]string{"#pk": attrPK}
	}
	_, err = s.db.PutItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return knowledge.ErrExists
	}
	if err != nil {
		return fmt.Errorf("dynamo: put %s: %w", strings.SplitN(sk, "#", 2)[0], err)
	}
	return nil
}

func (s *Store) getItem(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: key(pk, sk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("dynamo: get %s: %w", strings.SplitN(sk, "#", 2)[0], err)
	}
	if res.Item == nil {
		return nil, knowledge.ErrNotFound
	}
	return res.Item, nil
}

func decodeDoc(item map[string]types.AttributeValue, v any) error {
	if err := json.Unmarshal([]byte(getS(item, "doc")), v); err != nil {
		return fmt.Errorf("dynamo: decode %s: %w", getS(item, attrSK), err)
	}
	return nil
}

// queryPrefix returns every item of pk whose sort key begins with prefix, in
// key order.
func (s *Store) queryPrefix(ctx context.Context, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pk)},
		ConsistentRead:            aws.Bool(true),
	}
	if prefix != "" {
		in.KeyConditionExpression = aws.String("#pk = :pk AND begins_with(#sk, :prefix)")
		in.ExpressionAttributeNames["#sk"] = attrSK
		in.ExpressionAttributeValues[":prefix"] = str(prefix)
	}
	p := dynamodb.NewQueryPaginator(s.db, in)
	var out []map[string]types.AttributeValue
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: query %s: %w", strings.TrimSuffix(prefix, "#"), err)
		}
		out = append(out, res.Items...)
	}
	return out, nil
}

// deleteItem deletes an item and returns what it held (nil when none).
func (s *Store) deleteItem(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	res, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: key(pk, sk),
		ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		return nil, fmt.Errorf("dynamo: delete %s: %w", strings.SplitN(sk, "#", 2)[0], err)
	}
	return res.Attributes, nil
}

// PutFile stores a file's metadata (its bytes are in the blob store).
func (s *Store) PutFile(ctx context.Context, tenantID string, f knowledge.File) error {
	return s.putDoc(ctx, tenantPK(tenantID), fileSK(f.ID), f, map[string]types.AttributeValue{"bytes": num(f.Bytes)}, true)
}

// GetFile reads a file's metadata.
func (s *Store) GetFile(ctx context.Context, tenantID, id string) (knowledge.File, error) {
	var f knowledge.File
	it, err := s.getItem(ctx, tenantPK(tenantID), fileSK(id))
	if err == nil {
		err = decodeDoc(it, &f)
	}
	return f, err
}

// ListFiles returns the tenant's files, oldest first.
func (s *Store) ListFiles(ctx context.Context, tenantID string) ([]knowledge.File, error) {
	items, err := s.queryPrefix(ctx, tenantPK(tenantID), "FILE#")
	if err != nil {
		return nil, err
	}
	out := make([]knowledge.File, 0, len(items))
	for _, it := range items {
		var f knowledge.File
		if err := decodeDoc(it, &f); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// DeleteFile deletes a file's metadata and returns it; ok is false when there
// was none.
func (s *Store) DeleteFile(ctx context.Context, tenantID, id string) (f knowledge.File, ok bool, err error) {
	old, err := s.deleteItem(ctx, tenantPK(tenantID), fileSK(id))
	if err != nil || old == nil {
		return f, false, err
	}
	return f, true, decodeDoc(old, &f)
}

// storeDoc is what a store item's doc holds: the store without what is kept
// apart (counts are the store files', activity its own attribute).
type storeDoc struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	CreatedAt        time.Time         `json:"createdAt"`
	Metadata         map[string]string `json:"metadata,omitempty"`
	ExpiresAfterDays int               `json:"expiresAfterDays,omitempty"`
	Model            string            `json:"model"`
	Dims             int               `json:"dims,omitempty"`
}

// PutStore writes a vector store (without its counts): creates it when isNew,
// else replaces it when it exists (knowledge.ErrNotFound when not).
func (s *Store) PutStore(ctx context.Context, tenantID string, v knowledge.VectorStore, isNew bool) error {
	doc := storeDoc{ID: v.ID, Name: v.Name, CreatedAt: v.CreatedAt, Metadata: v.Metadata, ExpiresAfterDays: v.ExpiresAfterDays, Model: v.Model, Dims: v.Dims}
	extra := map[string]types.AttributeValue{"active": num(v.LastActiveAt.UnixNano())}
	if isNew {
		return s.putDoc(ctx, tenantPK(tenantID), storeSK(v.ID), doc, extra, true)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(tenantPK(tenantID), storeSK(v.ID)),
		UpdateExpression:          aws.String("SET #doc = :doc, #active = :active"),
		ConditionExpression:       aws.String("attribute_exists(#doc)"),
		ExpressionAttributeNames:  map[string]string{"#doc": "doc", "#active": "active"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":doc": str(string(b)), ":active": extra["active"]},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return knowledge.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("dynamo: update vector store: %w", err)
	}
	return nil
}

// TouchStore sets a store's last activity to at, when later than what it holds.
func (s *Store) TouchStore(ctx context.Context, tenantID, id string, at time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(tenantPK(tenantID), storeSK(id)),
		UpdateExpression:          aws.String("SET #active = :at"),
		ConditionExpression:       aws.String("attribute_exists(#doc) AND #active < :at"),
		ExpressionAttributeNames:  map[string]string{"#doc": "doc", "#active": "active"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(at.UnixNano())},
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("dynamo: touch vector store: %w", err)
	}
	return nil
}

func decodeStore(it map[string]types.AttributeValue) (knowledge.VectorStore, error) {
	var d storeDoc
	if err := decodeDoc(it, &d); err != nil {
		return knowledge.VectorStore{}, err
	}
	return knowledge.VectorStore{ID: d.ID, Name: d.Name, CreatedAt: d.CreatedAt, Metadata: d.Metadata,
		ExpiresAfterDays: d.ExpiresAfterDays, Model: d.Model, Dims: d.Dims,
		LastActiveAt: time.Unix(0, getN(it, "active")).UTC()}, nil
}

// GetStore reads a vector store, without its counts.
func (s *Store) GetStore(ctx context.Context, tenantID, id string) (knowledge.VectorStore, error) {
	it, err := s.getItem(ctx, tenantPK(tenantID), storeSK(id))
	if err != nil {
		return knowledge.VectorStore{}, err
	}
	return decodeStore(it)
}

// ListStores returns the tenant's vector stores, oldest first, without counts.
func (s *Store) ListStores(ctx context.Context, tenantID string) ([]knowledge.VectorStore, error) {
	items, err := s.queryPrefix(ctx, tenantPK(tenantID), "VS#")
	if err != nil {
		return nil, err
	}
	out := make([]knowledge.VectorStore, 0, len(items))
	for _, it := range items {
		v, err := decodeStore(it)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// DeleteStore deletes a vector store's item; ok is false when there was none.
func (s *Store) DeleteStore(ctx context.Context, tenantID, id string) (ok bool, err error) {
	old, err := s.deleteItem(ctx, tenantPK(tenantID), storeSK(id))
	return old != nil, err
}

// storeFileDoc is what a store file item's doc holds: what never changes.
type storeFileDoc struct {
	StoreID    string         `json:"storeId"`
	FileID     string         `json:"fileId"`
	BatchID    string         `json:"batchId,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	MaxTokens  int            `json:"maxTokens"`
	Overlap    int            `json:"overlap"`
	CreatedAt  time.Time      `json:"createdAt"`
}

type lastErrorDoc struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// PutStoreFile attaches a file to a store, in progress; knowledge.ErrExists
// when it is attached already.
func (s *Store) PutStoreFile(ctx context.Context, tenantID string, f knowledge.StoreFile) error {
	doc := storeFileDoc{StoreID: f.StoreID, FileID: f.FileID, BatchID: f.BatchID, Attributes: f.Attributes,
		MaxTokens: f.Chunking.MaxTokens, Overlap: f.Chunking.OverlapTokens, CreatedAt: f.CreatedAt}
	return s.putDoc(ctx, tenantPK(tenantID), storeFileSK(f.StoreID, f.FileID), doc,
		map[string]types.AttributeValue{"status": str(knowledge.InProgress)}, true)
}

func decodeStoreFile(it map[string]types.AttributeValue) (knowledge.StoreFile, error) {
	var d storeFileDoc
	if err := decodeDoc(it, &d); err != nil {
		return knowledge.StoreFile{}, err
	}
	f := knowledge.StoreFile{StoreID: d.StoreID, FileID: d.FileID, BatchID: d.BatchID, Attributes: d.Attributes,
		CreatedAt: d.CreatedAt, Status: getS(it, "status"), Chunks: int(max(getN(it, "chunks"), getN(it, "planned"))),
		UsageBytes: getN(it, "usage")}
	f.Chunking.MaxTokens, f.Chunking.OverlapTokens = d.MaxTokens, d.Overlap
	if e := getS(it, "lastError"); e != "" {
		var le lastErrorDoc
		if err := json.Unmarshal([]byte(e), &le); err == nil {
			f.LastError = &knowledge.LastError{Code: le.Code, Message: le.Message}
		}
	}
	return f, nil
}

// GetStoreFile reads one attached file. Chunks is the most chunks it may have
// in the index: those written, or those an unfinished ingestion planned.
func (s *Store) GetStoreFile(ctx context.Context, tenantID, storeID, fileID string) (knowledge.StoreFile, error) {
	it, err := s.getItem(ctx, tenantPK(tenantID), storeFileSK(storeID, fileID))
	if err != nil {
		return knowledge.StoreFile{}, err
	}
	return decodeStoreFile(it)
}

// ListStoreFiles returns every file attached to a store, in file id order.
func (s *Store) ListStoreFiles(ctx context.Context, tenantID, storeID string) ([]knowledge.StoreFile, error) {
	items, err := s.queryPrefix(ctx, tenantPK(tenantID), storeFilePrefix(storeID))
	if err != nil {
		return nil, err
	}
	out := make([]knowledge.StoreFile, 0, len(items))
	for _, it := range items {
		f, err := decodeStoreFile(it)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// PlanStoreFile records, before an ingestion writes any vector, how many
// chunks it will write, so that detaching the file meanwhile deletes them all;
// knowledge.ErrNotPending when the file is no longer in progress.
func (s *Store) PlanStoreFile(ctx context.Context, tenantID, storeID, fileID string, chunks int) error {
	return s.updateStoreFile(ctx, tenantID, storeID, fileID, "SET #planned = :n",
		map[string]string{"#planned": "planned"}, map[string]types.AttributeValue{":n": num(int64(chunks))})
}

// FinishStoreFile ends an ingestion: f's status (completed or failed), last
// error, chunks and usage; knowledge.ErrNotPending when the file is no longer in
// progress (detached, or finished by another attempt).
func (s *Store) FinishStoreFile(ctx context.Context, tenantID string, f knowledge.StoreFile) error {
	expr := "SET #status = :status, #chunks = :chunks, #usage = :usage"
	names := map[string]string{"#status": "status", "#chunks": "chunks", "#usage": "usage"}
	vals := map[string]types.AttributeValue{":status": str(f.Status), ":chunks": num(int64(f.Chunks)), ":usage": num(f.UsageBytes)}
	if f.LastError != nil {
		b, _ := json.Marshal(lastErrorDoc{Code: f.LastError.Code, Message: f.LastError.Message})
		expr += ", #lastError = :lastError"
		names["#lastError"] = "lastError"
		vals[":lastError"] = str(string(b))
	}
	return s.updateStoreFile(ctx, tenantID, f.StoreID, f.FileID, expr, names, vals)
}

func (s *Store) updateStoreFile(ctx context.Context, tenantID, storeID, fileID, expr string, names map[string]string, vals map[string]types.AttributeValue) error {
	names["#st"] = "status"
	vals[":inProgress"] = str(knowledge.InProgress)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(tenantPK(tenantID), storeFileSK(storeID, fileID)),
		UpdateExpression: aws.String(expr), ConditionExpression: aws.String("#st = :inProgress"),
		ExpressionAttributeNames: names, ExpressionAttributeValues: vals,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return knowledge.ErrNotPending
	}
	if err != nil {
		return fmt.Errorf("dynamo: update vector store file: %w", err)
	}
	return nil
}

// DeleteStoreFile detaches a file from a store and returns what it was; ok is
// false when it was not attached.
func (s *Store) DeleteStoreFile(ctx context.Context, tenantID, storeID, fileID string) (f knowledge.StoreFile, ok bool, err error) {
	old, err := s.deleteItem(ctx, tenantPK(tenantID), storeFileSK(storeID, fileID))
	if err != nil || old == nil {
		return f, false, err
	}
	f, err = decodeStoreFile(old)
	return f, err == nil, err
}

// PutBatch records a file batch.
func (s *Store) PutBatch(ctx context.Context, tenantID string, b knowledge.Batch) error {
	return s.putDoc(ctx, tenantPK(tenantID), batchSK(b.StoreID, b.ID), b, nil, true)
}

// GetBatch reads a file batch.
func (s *Store) GetBatch(ctx context.Context, tenantID, storeID, batchID string) (knowledge.Batch, error) {
	var b knowledge.Batch
	it, err := s.getItem(ctx, tenantPK(tenantID), batchSK(storeID, batchID))
	if err == nil {
		err = decodeDoc(it, &b)
	}
	return b, err
}

// DeleteBatches deletes a store's batch items.
func (s *Store) DeleteBatches(ctx context.Context, tenantID, storeID string) error {
	items, err := s.queryPrefix(ctx, tenantPK(tenantID), "VSB#"+storeID+"#")
	if err != nil {
		return err
	}
	for _, it := range items {
		if _, err := s.deleteItem(ctx, tenantPK(tenantID), getS(it, attrSK)); err != nil {
			return err
		}
	}
	return nil
}

// AddJob records an ingestion to do (before its store file is attached, so
// that no attached file can be without one).
func (s *Store) AddJob(ctx context.Context, j knowledge.Job, at time.Time) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: map[string]types.AttributeValue{
		attrPK: str(pkIngest), attrSK: str(jobSK(j)), "tenant": str(j.TenantID), "scope": str(j.Scope), "store": str(j.StoreID), "file": str(j.FileID),
		"at": num(at.UnixNano()),
	}})
	if err != nil {
		return fmt.Errorf("dynamo: add ingestion job: %w", err)
	}
	return nil
}

// DeleteJob removes a finished ingestion.
func (s *Store) DeleteJob(ctx context.Context, j knowledge.Job) error {
	_, err := s.deleteItem(ctx, pkIngest, jobSK(j))
	return err
}

// Jobs returns the ingestions not finished, oldest sort key first.
func (s *Store) Jobs(ctx context.Context) ([]knowledge.JobRecord, error) {
	items, err := s.queryPrefix(ctx, pkIngest, "")
	if err != nil {
		return nil, err
	}
	out := make([]knowledge.JobRecord, 0, len(items))
	for _, it := range items {
		out = append(out, knowledge.JobRecord{
			Job: knowledge.Job{TenantID: getS(it, "tenant"), Scope: getS(it, "scope"), StoreID: getS(it, "store"), FileID: getS(it, "file")},
			At:  time.Unix(0, getN(it, "at")).UTC(), Resends: int(getN(it, "resends")),
		})
	}
	return out, nil
}

// ResendJob records that the job is sent again at at: its resend count goes
// from r.Resends to one more, conditionally, so that of two sweeps seeing the
// same record only one resends it (the other gets knowledge.ErrNotPending),
// and a job finished meanwhile is not recreated.
func (s *Store) ResendJob(ctx context.Context, r knowledge.JobRecord, at time.Time) error {
	in := &dynamodb.UpdateItemInput{
		TableName: aws.String(s.table), Key: key(pkIngest, jobSK(r.Job)),
		UpdateExpression:          aws.String("SET #at = :at, #resends = :next"),
		ConditionExpression:       aws.String("#resends = :old"),
		ExpressionAttributeNames:  map[string]string{"#at": "at", "#resends": "resends"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": num(at.UnixNano()), ":next": num(int64(r.Resends + 1)), ":old": num(int64(r.Resends))},
	}
	if r.Resends == 0 { // never sent again: the item has no count yet
		in.ConditionExpression = aws.String("attribute_exists(#pk) AND attribute_not_exists(#resends)")
		in.ExpressionAttributeNames["#pk"] = attrPK
		delete(in.ExpressionAttributeValues, ":old")
	}
	_, err := s.db.UpdateItem(ctx, in)
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return knowledge.ErrNotPending
	}
	if err != nil {
		return fmt.Errorf("dynamo: resend ingestion job: %w", err)
	}
	return nil
}
