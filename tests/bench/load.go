// Package bench measures what Tollgate adds to a chat request: a closed-loop HTTP
// load generator, per-process CPU and memory readings from /proc, and a recorder
// that attributes DynamoDB calls (counted by an aws-sdk-go-v2 middleware) to the
// requests that made them. The tollbench command (make bench) drives it against
// the fake OpenAI-compatible provider and dynalite, on loopback only.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Target is one kind of request: where it goes and what it sends.
type Target struct {
	Name   string
	URL    string // the full URL, POSTed to
	Header http.Header
	Body   []byte
	Stream bool // the answer is an SSE stream ending with "data: [DONE]"
}

// Options say how much load Run sends.
type Options struct {
	Concurrency int
	// Warmup runs before measuring; its requests are not recorded.
	Warmup time.Duration
	// Duration is the measured window. When Requests is positive it is ignored:
	// each worker sends Requests/Concurrency measured requests instead.
	Duration time.Duration
	Requests int
	// Chunks records when each content chunk of a stream arrives.
	Chunks bool
	// OnMeasure, when set, is called once as the measured window starts (after
	// warm-up), so a caller can read a process's CPU time there.
	OnMeasure func()
}

// Sample is one measured request.
type Sample struct {
	Total  time.Duration   // from sending to the end of the body
	TTFB   time.Duration   // to the response headers
	TTFT   time.Duration   // to the first chunk with text (streams only)
	Chunks []time.Duration `json:",omitempty"` // arrival of every chunk with text (Options.Chunks only)
}

// Stats summarises durations.
type Stats struct {
	N                        int
	Mean, P50, P90, P99, Max time.Duration
}

// Summarise returns the stats of ds (which it sorts).
func Summarise(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	slices.Sort(ds)
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Stats{
		N: len(ds), Mean: sum / time.Duration(len(ds)),
		P50: Percentile(ds, 50), P90: Percentile(ds, 90), P99: Percentile(ds, 99), Max: ds[len(ds)-1],
	}
}

// Percentile returns the p-th percentile of sorted ds (nearest rank).
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Result is what Run measured.
type Result struct {
	Target      string
	Concurrency int
	Stream      bool
	Requests    int           // measured requests that succeeded
	Errors      int           // measured requests that failed
	FirstError  string        // one of the failures, for the report
	Elapsed     time.Duration // the measured window, to the end of its last request
	Latency     Stats         // Sample.Total
	TTFB        Stats
	TTFT        Stats // streams only
	Samples     []Sample
}

// Merge returns the measurements of a and b together, as if they were one run
// (samples pooled, windows added).
func Merge(a, b Result) Result {
	out := a
	out.Requests += b.Requests
	out.Errors += b.Errors
	if out.FirstError == "" {
		out.FirstError = b.FirstError
	}
	out.Elapsed += b.Elapsed
	out.Samples = append(append([]Sample(nil), a.Samples...), b.Samples...)
	out.Latency, out.TTFB, out.TTFT = summarise(out.Samples, out.Stream)
	return out
}

func summarise(samples []Sample, stream bool) (total, ttfb, ttft Stats) {
	var ts, fb, ft []time.Duration
	for _, s := range samples {
		ts = append(ts, s.Total)
		fb = append(fb, s.TTFB)
		if stream {
			ft = append(ft, s.TTFT)
		}
	}
	return Summarise(ts), Summarise(fb), Summarise(ft)
}

// Throughput is the measured requests per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// NewClient returns a keep-alive HTTP client for loopback load at the given
// concurrency: one idle connection per worker, no proxy, no compression.
func NewClient(concurrency int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

// Run sends t's request from Concurrency workers in a closed loop (each sends the
// next request when the previous answer has been read), first for Warmup, then
// for the measured window, and returns the measurements.
func Run(ctx context.Context, c *http.Client, t Target, o Options) Result {
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	res := Result{Target: t.Name, Concurrency: o.Concurrency, Stream: t.Stream}
	warmEnd := time.Now().Add(o.Warmup)
	perWorker := 0
	if o.Requests > 0 {
		perWorker = max(o.Requests/o.Concurrency, 1)
	}

	// Warm-up, then a barrier, so the measured window starts with every worker.
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Go(func() {
			for time.Now().Before(warmEnd) && ctx.Err() == nil {
				_, _ = do(ctx, c, t, false)
			}
		})
	}
	wg.Wait()

	var (
		mu      sync.Mutex
		samples []Sample
		last    time.Time
	)
	start := time.Now()
	if o.OnMeasure != nil {
		o.OnMeasure()
	}
	end := start.Add(o.Duration)
	for range o.Concurrency {
		wg.Go(func() {
			var mine []Sample
			var errs int
			var firstErr error
			for i := 0; ctx.Err() == nil; i++ {
				if perWorker > 0 && i >= perWorker || perWorker == 0 && !time.Now().Before(end) {
					break
				}
				s, err := do(ctx, c, t, o.Chunks)
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
					continue
				}
				mine = append(mine, s)
			}
			mu.Lock()
			defer mu.Unlock()
			samples = append(samples, mine...)
			res.Errors += errs
			if firstErr != nil && res.FirstError == "" {
				res.FirstError = firstErr.Error()
			}
			if now := time.Now(); now.After(last) {
				last = now
			}
		})
	}
	wg.Wait()
	res.Elapsed = last.Sub(start)
	res.Requests = len(samples)
	res.Samples = samples
	res.Latency, res.TTFB, res.TTFT = summarise(samples, t.Stream)
	return res
}

var (
	contentMarker = []byte(`"content":"`)
	doneEvent     = []byte("data: [DONE]")
)

// do sends one request and reads the whole answer.
func do(ctx context.Context, c *http.Client, t Target, chunks bool) (Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return Sample{}, err
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return Sample{}, err
	}
	defer resp.Body.Close()
	s := Sample{TTFB: time.Since(start)}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return Sample{}, fmt.Errorf("%s: status %d: %s", t.Name, resp.StatusCode, bytes.TrimSpace(b))
	}
	if !t.Stream {
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return Sample{}, err
		}
		s.Total = time.Since(start)
		return s, nil
	}
	// A stream: one event per "data:" line. A chunk with text has a content
	// value that is not the empty string.
	br := bufio.NewReaderSize(resp.Body, 16<<10)
	done := false
	for {
		line, err := br.ReadSlice('\n')
		if i := bytes.Index(line, contentMarker); i >= 0 && i+len(contentMarker) < len(line) && line[i+len(contentMarker)] != '"' {
			at := time.Since(start)
			if s.TTFT == 0 {
				s.TTFT = at
			}
			if chunks {
				s.Chunks = append(s.Chunks, at)
			}
		}
		if bytes.HasPrefix(line, doneEvent) {
			done = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Sample{}, err
		}
	}
	s.Total = time.Since(start)
	if !done {
		return Sample{}, fmt.Errorf("%s: stream ended without [DONE]", t.Name)
	}
	if s.TTFT == 0 {
		return Sample{}, fmt.Errorf("%s: stream without text", t.Name)
	}
	return s, nil
}
