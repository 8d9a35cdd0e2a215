package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate/tollgate/shared/money"
)

// Price items: pk PRICES, sk MODEL#<provider/model>, one per model whose price
// an operator set through the admin API (overriding MODEL_PRICES and the
// shipped defaults): input, output, cachedInput, embedding in micro-dollars per
// million tokens, updatedAt.
const pkPrices = "PRICES"

func priceSK(model string) string { return "MODEL#" + model }

// ListPrices reads the prices operators set.
func (s *Store) ListPrices(ctx context.Context) (money.Table, error) {
	out := money.Table{}
	p := dynamodb.NewQueryPaginator(s.db, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(pkPrices)},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		res, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("dynamo: read prices: %w", err)
		}
		for _, it := range res.Items {
			m := strings.TrimPrefix(getS(it, attrSK), "MODEL#")
			out[m] = money.Entry{Model: m, Source: money.SourceAdmin, Price: money.Price{
				Input: money.Micros(getN(it, "input")), Output: money.Micros(getN(it, "output")),
				CachedInput: money.Micros(getN(it, "cachedInput")), Embedding: money.Micros(getN(it, "embedding")),
			}}
		}
	}
	return out, nil
}

// PutPrice sets a model's price.
func (s *Store) PutPrice(ctx context.Context, model string, p money.Price, now time.Time) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			attrPK: str(pkPrices), attrSK: str(priceSK(model)),
			"input": num(int64(p.Input)), "output": num(int64(p.Output)),
			"cachedInput": num(int64(p.CachedInput)), "embedding": num(int64(p.Embedding)),
			"updatedAt": timeAttr(now),
		},
	})
	if err != nil {
		return fmt.Errorf("dynamo: put price of %s: %w", model, err)
	}
	return nil
}

// DeletePrice removes the price an operator set for model; it reports whether
// there was one.
func (s *Store) DeletePrice(ctx context.Context, model string) (bool, error) {
	res, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table), Key: key(pkPrices, priceSK(model)), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return false, fmt.Errorf("dynamo: delete price of %s: %w", model, err)
	}
	return len(res.Attributes) > 0, nil
}
