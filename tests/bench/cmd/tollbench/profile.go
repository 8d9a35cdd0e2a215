package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate/tollgate/tests/bench"
)

// ProfileRow is where one gateway's CPU time went under load, from its pprof CPU
// profile: the share of samples whose stack holds a frame of each category
// (categories overlap: a system call inside the SDK counts for both).
type ProfileRow struct {
	Gateway    string
	Stream     bool
	File       string  // the CPU profile, under -work
	Seconds    float64 // sampled CPU seconds
	Requests   int     // answered while profiling
	Categories []ProfileShare
}

// ProfileShare is one category's share of a profile.
type ProfileShare struct {
	Category string
	Share    float64 // fraction of samples
	PerReq   time.Duration
}

// profileCategories are regular expressions on function names (pprof -focus).
var profileCategories = []struct{ name, focus string }{
	{"net/http server: read and parse the request", `net/http\.\(\*conn\)\.readRequest`},
	{"gateway: request decoding (decodeOpenAI)", `gateway\.decodeOpenAI`},
	{"provider client (shared/provider/openai)", `shared/provider/openai\.`},
	{"AWS SDK calls (aws-sdk-go-v2, smithy-go)", `github\.com/aws/`},
	{"SSE writer (shared/sse.Writer)", `shared/sse\.\(\*Writer\)`},
	{"request log line (log/slog)", `log/slog\.`},
	{"EMF metrics line (telemetry.Metrics.Emit)", `telemetry\.\(\*Metrics\)\.Emit`},
	{"JSON (encoding/json, everywhere)", `encoding/json\.`},
	{"memory allocation (runtime.mallocgc)", `runtime\.mallocgc$`},
	{"garbage collection (background mark workers)", `runtime\.gcBgMarkWorker`},
	{"system calls (read, write, epoll, futex)", `internal/runtime/syscall|^syscall\.|runtime\.futex|runtime\.netpoll`},
	{"scheduler (findRunnable, park, mcall)", `runtime\.(findRunnable|park_m|schedule)$`},
}

var reShowing = regexp.MustCompile(`Showing nodes accounting for ([0-9.]+)(ms|s|us|µs|ns|min|h)?, ([0-9.]+)% of ([0-9.]+)(ms|s|us|µs|ns|min|h)? total`)

// profilePhase profiles each gateway at the highest concurrency, non-streaming
// (and the ungoverned one streaming too), in runs that are not part of the
// measurements, and breaks the CPU profiles down by category.
func (e *env) profilePhase(ctx context.Context) error {
	c := e.concurrency[len(e.concurrency)-1]
	client := bench.NewClient(c)
	defer client.CloseIdleConnections()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	var text strings.Builder
	for _, stream := range []bool{false, true} {
		for _, t := range e.targets(stream) {
			g := e.gatewayFor(t.Name)
			if g == nil || g.pprof == "" || stream && g.label != "off" {
				continue
			}
			name := strings.ReplaceAll(g.label, "+", "-") + map[bool]string{true: "-stream", false: "-whole"}[stream]
			cpuFile := filepath.Join(e.work, "cpu-"+name+".prof")
			var fetchErr chan error
			res := bench.Run(ctx, client, t, bench.Options{
				Concurrency: c, Warmup: e.warmup, Duration: e.profileFor + 500*time.Millisecond,
				OnMeasure: func() {
					fetchErr = make(chan error, 1)
					go func() {
						fetchErr <- fetch(ctx, g.pprof, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(e.profileFor.Seconds())), cpuFile)
					}()
				},
			})
			if err := <-fetchErr; err != nil {
				return fmt.Errorf("profile %s: %w", name, err)
			}
			allocFile := filepath.Join(e.work, "allocs-"+name+".prof")
			if err := fetch(ctx, g.pprof, "/debug/pprof/allocs", allocFile); err != nil {
				return fmt.Errorf("profile %s: %w", name, err)
			}
			row := ProfileRow{Gateway: g.label, Stream: stream, File: cpuFile,
				Requests: int(float64(res.Requests) * e.profileFor.Seconds() / res.Elapsed.Seconds())}
			for _, cat := range profileCategories {
				secs, total, err := focused(ctx, exe, cpuFile, cat.focus)
				if err != nil {
					return err
				}
				row.Seconds = total
				sh := ProfileShare{Category: cat.name}
				if total > 0 {
					sh.Share = secs / total
				}
				if row.Requests > 0 {
					sh.PerReq = time.Duration(secs / float64(row.Requests) * 1e9)
				}
				row.Categories = append(row.Categories, sh)
			}
			e.report.Profiles = append(e.report.Profiles, row)
			logf("profiled gateway %s (%s): %.2fs CPU sampled, %d requests", g.label, streamName(stream), row.Seconds, row.Requests)

			fmt.Fprintf(&text, "==== gateway %s, %s, concurrency %d: %s\n", g.label, streamName(stream), c, cpuFile)
			for _, args := range [][]string{
				{"-top", "-nodecount=30", exe, cpuFile},
				{"-top", "-cum", "-nodecount=40", exe, cpuFile},
				{"-top", "-sample_index=alloc_space", "-nodecount=25", exe, allocFile},
			} {
				out, err := pprof(ctx, args...)
				if err != nil {
					return err
				}
				text.WriteString(out)
				text.WriteString("\n")
			}
		}
	}
	return os.WriteFile(filepath.Join(e.out, "profiles.txt"), []byte(text.String()), 0o644)
}

func fetch(ctx context.Context, addr, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}

func pprof(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go tool pprof %s: %w\n%s", strings.Join(args, " "), err, errb.Bytes())
	}
	return out.String(), nil
}

// focused returns the CPU seconds of the samples of profile whose stacks match
// focus, and the profile's total.
func focused(ctx context.Context, exe, profile, focus string) (float64, float64, error) {
	out, err := pprof(ctx, "-top", "-nodecount=1000000", "-focus="+focus, exe, profile)
	if err != nil {
		return 0, 0, err
	}
	m := reShowing.FindStringSubmatch(out)
	if m == nil {
		if strings.Contains(out, "Showing nodes accounting for 0") || !strings.Contains(out, "Showing") {
			return 0, totalOf(out), nil
		}
		return 0, 0, fmt.Errorf("pprof -focus=%s: unexpected output:\n%s", focus, out)
	}
	return seconds(m[1], m[2]), seconds(m[4], m[5]), nil
}

var reTotal = regexp.MustCompile(`Total samples = ([0-9.]+)(ms|s|us|µs|ns|min|h)?`)

func totalOf(out string) float64 {
	if m := reTotal.FindStringSubmatch(out); m != nil {
		return seconds(m[1], m[2])
	}
	return 0
}

func seconds(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	switch unit {
	case "ms":
		return f / 1e3
	case "us", "µs":
		return f / 1e6
	case "ns":
		return f / 1e9
	case "min":
		return f * 60
	case "h":
		return f * 3600
	}
	return f
}
