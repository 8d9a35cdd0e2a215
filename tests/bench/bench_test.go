package bench_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate/tollgate/shared/budget"
	"github.com/tollgate/tollgate/shared/dynamo"
	"github.com/tollgate/tollgate/shared/ratelimit"
)

// cannedDynamoDB answers every request with the same UpdateItem output, from
// memory: what is left is the client side of a DynamoDB call (the SDK's
// middleware stack, serialisation, SigV4 signing, deserialisation) and the
// store's own code.
type cannedDynamoDB struct{ body string }

func (c cannedDynamoDB) Do(r *http.Request) (*http.Response, error) {
	_, _ = io.Copy(io.Discard, r.Body)
	_ = r.Body.Close()
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/x-amz-json-1.0"}, "X-Amzn-Requestid": {"bench"}},
		Body:    io.NopCloser(strings.NewReader(c.body)),
		Request: r,
	}, nil
}

// BenchmarkStore measures the CPU a governed chat request spends in the
// DynamoDB client, per call, without the network: Admit (the conditional
// UpdateItem that reserves budget and takes the rate limits) and Settle.
func BenchmarkStore(b *testing.B) {
	now := time.Now()
	tat := strconv.FormatInt(now.UnixNano(), 10)
	body := `{"Attributes":{"used":{"N":"123456"},"used#` + now.UTC().Format("02") + `":{"N":"4567"},` +
		`"tat#requests":{"N":"` + tat + `"},"tat#tokens":{"N":"` + tat + `"}}}`
	st := dynamo.New(dynamodb.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		BaseEndpoint: aws.String("http://dynamodb.invalid"),
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		HTTPClient:   cannedDynamoDB{body},
	}), "tollgate")
	a := budget.Admission{
		TenantID: "bench", RequestID: "0123456789abcdef0123456789abcdef", Now: now,
		Budget: budget.Limits{Daily: 1_000_000_000_000, Monthly: 10_000_000_000_000, MinOutput: 16},
		Prompt: 120, MaxOutput: 4096,
		Rates: []ratelimit.Cost{{Name: ratelimit.Requests, Limit: 6_000_000, Units: 1},
			{Name: ratelimit.Tokens, Limit: 6_000_000_000, Units: 4130}},
		Lease: 15 * time.Minute,
	}
	ctx := b.Context()
	adm, err := st.Admit(ctx, a)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Admit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := st.Admit(ctx, a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Settle", func(b *testing.B) {
		b.ReportAllocs()
		c := budget.Charge{Input: 30, Output: 14, Model: "openai/bench"}
		for b.Loop() {
			if err := st.Settle(ctx, adm.Reservation, c); err != nil {
				b.Fatal(err)
			}
		}
	})
}
