// Command streamfn is a streaming Lambda function for lambdatest's own tests: an
// SSE handler served through lambdahttp.Stream.
//
// The request body is JSON {"events": n, "gate": url, "panic": bool}. The handler
// writes n events "data: {"i":k}\n\n", k = 0..n-1; before each event after the
// first it GETs url + "/" + k, so the test decides when it goes on. It then writes
// "data: [DONE]\n\n", or panics if panic is set.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/tollgate/tollgate/shared/lambdahttp"
)

func main() {
	lambda.Start(lambdahttp.Stream(http.HandlerFunc(serve)))
}

type request struct {
	Events int    `json:"events"`
	Gate   string `json:"gate"`
	Panic  bool   `json:"panic"`
}

func serve(w http.ResponseWriter, r *http.Request) {
	var req request
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := range req.Events {
		if i > 0 && req.Gate != "" {
			wait, err := http.NewRequestWithContext(r.Context(), http.MethodGet, req.Gate+"/"+strconv.Itoa(i), nil)
			if err != nil {
				panic(err)
			}
			resp, err := http.DefaultClient.Do(wait)
			if err != nil {
				panic(err)
			}
			resp.Body.Close()
		}
		fmt.Fprintf(w, "data: {\"i\":%d}\n\n", i)
		if err := rc.Flush(); err != nil {
			panic(err)
		}
	}
	if req.Panic {
		panic("streamfn: asked to panic")
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
}
