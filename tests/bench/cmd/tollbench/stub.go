package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// startDynamoStub serves a DynamoDB endpoint on loopback, in this process, that
// answers every UpdateItem (admission and settlement) at once with a fixed
// item and every PutItem (the usage record) with nothing, and passes every
// other call (key, tenant and price reads, on cache misses) to dynalite. A
// governed gateway pointed at it does all its own work per request (three
// signed SDK calls, their encoding and decoding) without waiting for
// dynalite, whose single Node.js thread otherwise bounds governed throughput.
func startDynamoStub(dynalite string) (string, error) {
	target, err := url.Parse(dynalite)
	if err != nil {
		return "", err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("X-Amz-Target") {
		case "DynamoDB_20120810.UpdateItem":
		case "DynamoDB_20120810.PutItem":
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amzn-Requestid", "stub")
			w.Header().Set("Content-Length", "2")
			_, _ = io.WriteString(w, "{}")
			return
		default:
			proxy.ServeHTTP(w, r)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		now := time.Now()
		tat := strconv.FormatInt(now.UnixNano(), 10)
		var b bytes.Buffer
		b.WriteString(`{"Attributes":{"used":{"N":"1000"},"used#`)
		b.WriteString(now.UTC().Format("02"))
		b.WriteString(`":{"N":"100"},"tat#requests":{"N":"` + tat + `"},"tat#tokens":{"N":"` + tat + `"}}}`)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.Header().Set("X-Amzn-Requestid", "stub")
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		_, _ = w.Write(b.Bytes())
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }() // lives as long as tollbench
	return "http://" + l.Addr().String(), nil
}
