package openaitest_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"

	"github.com/tollgate/tollgate/shared/chat"
	"github.com/tollgate/tollgate/shared/provider/openai"
	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
)

// The Handler serves without a testing.TB, as a benchmark command would on a
// real port; in tests, NewServer(t) does this and the cleanup.
func ExampleNewHandler() {
	h := openaitest.NewHandler()
	h.Set("gpt-short", openaitest.Script{Chunks: []string{"Hi", " there"}, FinishReason: chat.FinishLength})
	ts := httptest.NewServer(h)
	defer ts.Close()
	defer h.Close()

	c := openai.New(ts.Client(), ts.URL+"/v1", "")
	ctx := context.Background()
	for _, model := range []string{"gpt-echo", "gpt-short"} {
		s, err := c.Stream(ctx, &chat.Request{
			Model:    model,
			Messages: []chat.Message{chat.TextMessage(chat.RoleUser, "Hello big world")},
		})
		if err != nil {
			fmt.Println(err)
			return
		}
		for {
			ch, err := s.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				fmt.Println(err)
				break
			}
			if ch.Text != "" {
				fmt.Printf("%q ", ch.Text)
			} else {
				fmt.Printf("finish=%s in=%d out=%d\n", ch.FinishReason, ch.Usage.InputTokens, ch.Usage.OutputTokens)
			}
		}
		s.Close()
	}
	fmt.Println(h.Calls("gpt-echo"), h.Calls("gpt-short"))
	// Output:
	// "Hello" " big" " world" finish=stop in=3 out=3
	// "Hi" " there" finish=length in=3 out=2
	// 1 1
}
