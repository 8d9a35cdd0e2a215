package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/shared/provider/openai/openaitest"
	"github.com/tollgate/tollgate/tests/bench"
)

// Report is everything one run measured; results.json holds it as it is.
type Report struct {
	Machine    bench.Machine
	Started    time.Time
	Elapsed    string
	Settings   map[string]string
	Targets    []TargetRow
	Load       []LoadRow
	Embeddings []LoadRow `json:",omitempty"` // POST /v1/embeddings, 8 inputs a request
	Memory     []MemRow
	TTFT       []TTFTRow
	DDB        []DDBRow
	DDBLatency []DDBLatencyRow
	Sizes      []SizeRow
	Cold       []ColdRow
	Profiles   []ProfileRow
	Micro      *Micro `json:",omitempty"`
}

// LoadRow is one load run.
type LoadRow struct {
	Target        string
	Stream        bool
	Concurrency   int
	Requests      int
	Errors        int
	FirstError    string `json:",omitempty"`
	Throughput    float64
	Latency       bench.Stats
	TTFB          bench.Stats
	TTFT          bench.Stats
	CPUPerRequest map[string]time.Duration // by process: gateway, provider, dynalite, loadgen
	OtherCPU      float64                  // cores busy with processes not ours during the windows
	LoadAverage   float64                  // highest 1-minute load average seen after a run
}

// MemRow is a process's memory after the load phase.
type MemRow struct {
	Gateway      string
	PeakRSS, RSS int64
}

// TTFTRow is the pass-through test of one target.
type TTFTRow struct {
	Target            string
	Requests, Errors  int
	FirstError        string `json:",omitempty"`
	TTFB, TTFT, Total bench.Stats
	Gap               bench.Stats     // between consecutive chunks with text
	ChunkArrival      []time.Duration // mean arrival of chunk i
}

// DDBRow counts the DynamoDB round trips of the requests of one scenario.
type DDBRow struct {
	Scenario                 string
	Governed, Stream         bool
	Requests                 int
	BeforeProvider           Dist
	BeforeFirstByte          Dist
	Total                    Dist
	Ops                      map[string]float64 // mean per request
	OpsBeforeFirstByte       map[string]float64
	BeforeFirstByteHistogram map[int]int // round trips before the first byte -> requests
}

// DDBLatencyRow is the round-trip time of one DynamoDB operation (dynalite).
type DDBLatencyRow struct {
	Op               string
	Governed, Stream bool
	Latency          bench.Stats
}

// SizeRow is one bootstrap binary.
type SizeRow struct {
	Function, Arch string
	Bytes, Zipped  int64
}

// ColdRow is one function's cold starts (ms). Init and FirstInvoke are timed
// against a minimal Runtime API; RIEInit and RIEDuration are what the Runtime
// Interface Emulator's REPORT line says.
type ColdRow struct {
	Function                     string
	Init, FirstInvoke            []float64
	InitMedian, InitMin, InitMax float64
	RIEInit, RIEDuration         []float64
}

// TargetRow is one target of issue 8 with what was measured.
type TargetRow struct {
	Target   string
	Measured string
	Pass     bool
}

func (r *Report) load(target string, stream bool, c int) *LoadRow {
	for i := range r.Load {
		l := &r.Load[i]
		if l.Target == target && l.Stream == stream && l.Concurrency == c {
			return l
		}
	}
	return nil
}

func (r *Report) maxConcurrency() int {
	c := 0
	for _, l := range r.Load {
		c = max(c, l.Concurrency)
	}
	return c
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Nanoseconds())/1e6) }

func usf(d time.Duration) string { return fmt.Sprintf("%.1f µs", float64(d.Nanoseconds())/1e3) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

func streamName(s bool) string {
	if s {
		return "streaming"
	}
	return "non-streaming"
}

// targets judges the targets against the measurements.
func (r *Report) targets() []TargetRow {
	var out []TargetRow
	add := func(target, measured string, pass bool) {
		out = append(out, TargetRow{target, measured, pass})
	}
	// 1. DynamoDB round trips before the provider, warm.
	for _, d := range r.DDB {
		if d.Governed && strings.HasPrefix(d.Scenario, "warm instance, 20") {
			add(fmt.Sprintf("≤ 1 DynamoDB round trip before the provider call, warm instance, governance on, %s", streamName(d.Stream)),
				fmt.Sprintf("%s (before first byte %s; total %s)", d.BeforeProvider, d.BeforeFirstByte, d.Total), d.BeforeProvider.Max <= 1)
		}
		if d.Governed && strings.Contains(d.Scenario, "concurrency 32") {
			add(fmt.Sprintf("  same, %s, %s", strings.TrimPrefix(d.Scenario, "warm instance, "), streamName(d.Stream)),
				fmt.Sprintf("%s (before first byte %s)", d.BeforeProvider, d.BeforeFirstByte), d.BeforeProvider.Max <= 1)
		}
	}
	cmax := r.maxConcurrency()
	// 2. CPU per request, non-streaming, at saturation.
	for _, t := range []struct {
		label string
		limit time.Duration
	}{{"off", 150 * time.Microsecond}, {"on", 400 * time.Microsecond}, {"on+stub", 400 * time.Microsecond}} {
		if l := r.load("gateway "+t.label, false, cmax); l != nil {
			cpu := l.CPUPerRequest["gateway"]
			c1 := ""
			if l1 := r.load("gateway "+t.label, false, 1); l1 != nil {
				c1 = fmt.Sprintf(" (c=1: %s)", usf(l1.CPUPerRequest["gateway"]))
			}
			add(fmt.Sprintf("gateway CPU per request < %s, governance %s, non-streaming, c=%d", usf(t.limit), t.label, cmax),
				usf(cpu)+c1, cpu > 0 && cpu < t.limit)
		}
	}
	// 2b. Streams: governed CPU per request within 2× ungoverned.
	if off, on := r.load("gateway off", true, cmax), r.load("gateway on+stub", true, cmax); off != nil && on != nil && off.CPUPerRequest["gateway"] > 0 {
		q := float64(on.CPUPerRequest["gateway"]) / float64(off.CPUPerRequest["gateway"])
		add(fmt.Sprintf("gateway CPU per request ≤ 2× ungoverned, governance on+stub, streaming, c=%d", cmax),
			fmt.Sprintf("%s vs %s (%.2f×)", usf(on.CPUPerRequest["gateway"]), usf(off.CPUPerRequest["gateway"]), q), q <= 2)
	}
	// 3. Added latency at c=1, governance off.
	for _, s := range []bool{false, true} {
		d, g := r.load("direct", s, 1), r.load("gateway off", s, 1)
		if d != nil && g != nil {
			added := g.Latency.P50 - d.Latency.P50
			add(fmt.Sprintf("added latency p50 < 0.3 ms, c=1, governance off, %s", streamName(s)),
				fmt.Sprintf("%s (%s vs %s direct, %s)", ms(added), ms(g.Latency.P50), ms(d.Latency.P50), ratio(g.Latency.P50, d.Latency.P50)),
				added < 300*time.Microsecond)
		}
	}
	// 4. Time to first token, c=1, slow provider.
	var direct *TTFTRow
	for i := range r.TTFT {
		if r.TTFT[i].Target == "direct" {
			direct = &r.TTFT[i]
		}
	}
	if direct != nil {
		for _, t := range r.TTFT {
			if t.Target == "direct" {
				continue
			}
			diff := t.TTFT.P50 - direct.TTFT.P50
			fast := ""
			if g, d := r.load(t.Target, true, 1), r.load("direct", true, 1); g != nil && d != nil {
				fast = fmt.Sprintf("; fast provider: +%s", ms(g.TTFT.P50-d.TTFT.P50))
			}
			add(fmt.Sprintf("time to first token within 0.5 ms of direct, c=1, %s (slow provider)", t.Target),
				fmt.Sprintf("+%s (p50 %s vs %s direct%s)", ms(diff), ms(t.TTFT.P50), ms(direct.TTFT.P50), fast), diff <= 500*time.Microsecond)
		}
	}
	// 5. Throughput at the highest concurrency.
	for _, s := range []bool{false, true} {
		d := r.load("direct", s, cmax)
		for _, label := range []string{"off", "on", "on+stub", "off+pool", "on+pool"} {
			g := r.load("gateway "+label, s, cmax)
			if d == nil || g == nil || d.Throughput == 0 {
				continue
			}
			q := g.Throughput / d.Throughput
			add(fmt.Sprintf("throughput ≥ ½ direct, c=%d, governance %s, %s", cmax, label, streamName(s)),
				fmt.Sprintf("%.0f vs %.0f req/s (%.2f)", g.Throughput, d.Throughput, q), q >= 0.5)
		}
	}
	// 6. Lambda init.
	if len(r.Cold) > 0 {
		worst := r.Cold[0]
		for _, c := range r.Cold {
			if c.InitMedian > worst.InitMedian {
				worst = c
			}
		}
		add("Lambda init < 50 ms, every function (median of trials)",
			fmt.Sprintf("worst %s: median %.1f ms (max of any trial %.1f ms)", worst.Function, worst.InitMedian, maxInit(r.Cold)), worst.InitMedian < 50)
	}
	// 7. Allocations per streamed chunk.
	if r.Micro != nil {
		var parts []string
		for _, c := range r.Micro.Chunks {
			parts = append(parts, fmt.Sprintf("%s %d→%d: %.2f", strings.TrimPrefix(c.Benchmark, "Benchmark"), c.From, c.To, c.PerChunk))
		}
		add("allocations per streamed chunk constant whatever the answer's length", strings.Join(parts, "; "), r.Micro.Constant)
	}
	return out
}

func maxInit(rows []ColdRow) float64 {
	m := 0.0
	for _, c := range rows {
		m = max(m, c.InitMax)
	}
	return m
}

// write writes the report as text tables.
func (r *Report) write(w io.Writer) {
	m := r.Machine
	fmt.Fprintf(w, "Tollgate benchmarks (make bench), %s, took %s\n", r.Started.Format(time.RFC3339), r.Elapsed)
	fmt.Fprintf(w, "machine: %d CPUs, %s, memory %s, %s %s/%s, kernel %s\n", m.CPUs, m.CPUModel, m.MemTotal, m.Go, m.OS, m.Arch, m.Kernel)
	var keys []string
	for k := range r.Settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var set []string
	for _, k := range keys {
		set = append(set, k+"="+r.Settings[k])
	}
	fmt.Fprintf(w, "settings: %s\n", strings.Join(set, ", "))

	if len(r.Targets) > 0 {
		fmt.Fprintf(w, "\n== Targets\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "result\ttarget\tmeasured")
		for _, t := range r.Targets {
			res := "FAIL"
			if t.Pass {
				res = "pass"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", res, t.Target, t.Measured)
		}
		tw.Flush()
	}

	r.writeSideBySide(w)

	if len(r.Load) > 0 {
		fmt.Fprintf(w, "\n== Load: closed loop, keep-alive, fast provider (echo, %d chunks); latency = until the whole answer is read\n", len(openaitest.Words(prompt)))
		fmt.Fprintf(w, "   added = gateway − direct at the same percentile, same concurrency, same run; CPU = process CPU time / requests;\n")
		fmt.Fprintf(w, "   other load = CPU used meanwhile by processes that are not part of the benchmark (/proc/stat busy time − ours)\n")
		for _, s := range []bool{false, true} {
			for _, c := range uniqueConcurrency(r.Load) {
				d := r.load("direct", s, c)
				if d == nil {
					continue
				}
				fmt.Fprintf(w, "\n%s, concurrency %d\n", streamName(s), c)
				tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
				hdr := "target\treq/s\tp50\tp90\tp99\tadded p50\tratio p50\tadded p99\tratio p99\t"
				if s {
					hdr += "TTFT p50\tadded TTFT p50\t"
				}
				hdr += "CPU/req gateway\tCPU/req provider\tCPU/req dynalite\tCPU/req loadgen\tother load\terrors\t"
				fmt.Fprintln(tw, hdr)
				for _, l := range r.Load {
					if l.Stream != s || l.Concurrency != c {
						continue
					}
					line := fmt.Sprintf("%s\t%.0f\t%s\t%s\t%s\t", l.Target, l.Throughput, ms(l.Latency.P50), ms(l.Latency.P90), ms(l.Latency.P99))
					if l.Target == "direct" {
						line += "-\t-\t-\t-\t"
					} else {
						line += fmt.Sprintf("%s\t%s\t%s\t%s\t", ms(l.Latency.P50-d.Latency.P50), ratio(l.Latency.P50, d.Latency.P50),
							ms(l.Latency.P99-d.Latency.P99), ratio(l.Latency.P99, d.Latency.P99))
					}
					if s {
						line += ms(l.TTFT.P50) + "\t"
						if l.Target == "direct" {
							line += "-\t"
						} else {
							line += ms(l.TTFT.P50-d.TTFT.P50) + "\t"
						}
					}
					for _, p := range []string{"gateway", "provider", "dynalite", "loadgen"} {
						if v, ok := l.CPUPerRequest[p]; ok && (p != "gateway" || l.Target != "direct") {
							line += usf(v) + "\t"
						} else {
							line += "-\t"
						}
					}
					line += fmt.Sprintf("%.2f cores\t%d\t", l.OtherCPU, l.Errors)
					fmt.Fprintln(tw, line)
				}
				tw.Flush()
				for _, l := range r.Load {
					if l.Stream == s && l.Concurrency == c && l.FirstError != "" {
						fmt.Fprintf(w, "  %s: first error: %s\n", l.Target, l.FirstError)
					}
				}
			}
		}
	}
	if len(r.Embeddings) > 0 {
		fmt.Fprintf(w, "\n== Embeddings: POST /v1/embeddings, %d inputs a request, the fake's vectors; closed loop, keep-alive\n", len(embeddingInputs))
		for _, c := range uniqueConcurrency(r.Embeddings) {
			var d *LoadRow
			for i := range r.Embeddings {
				if l := &r.Embeddings[i]; l.Target == "direct" && l.Concurrency == c {
					d = l
				}
			}
			if d == nil {
				continue
			}
			fmt.Fprintf(w, "\nconcurrency %d\n", c)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "target\treq/s\tp50\tp99\tadded p50\tadded p99\tCPU/req gateway\tCPU/req provider\tCPU/req dynalite\terrors\t")
			for _, l := range r.Embeddings {
				if l.Concurrency != c {
					continue
				}
				line := fmt.Sprintf("%s\t%.0f\t%s\t%s\t", l.Target, l.Throughput, ms(l.Latency.P50), ms(l.Latency.P99))
				if l.Target == "direct" {
					line += "-\t-\t"
				} else {
					line += fmt.Sprintf("%s\t%s\t", ms(l.Latency.P50-d.Latency.P50), ms(l.Latency.P99-d.Latency.P99))
				}
				for _, p := range []string{"gateway", "provider", "dynalite"} {
					if v, ok := l.CPUPerRequest[p]; ok && (p != "gateway" || l.Target != "direct") {
						line += usf(v) + "\t"
					} else {
						line += "-\t"
					}
				}
				fmt.Fprintln(tw, line+fmt.Sprintf("%d\t", l.Errors))
			}
			tw.Flush()
		}
	}
	if len(r.Memory) > 0 {
		fmt.Fprintf(w, "\n== Memory after the load phase (VmHWM = peak resident set)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "process\tpeak RSS\tRSS now\t")
		for _, mr := range r.Memory {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\n", mr.Gateway, mib(mr.PeakRSS), mib(mr.RSS))
		}
		tw.Flush()
	}
	if len(r.TTFT) > 0 {
		fmt.Fprintf(w, "\n== Stream pass-through: slow provider (%s), concurrency 1\n", r.Settings["slowProvider"])
		fmt.Fprintf(w, "   TTFB = response headers; TTFT = first chunk with text; gap = between consecutive text chunks\n")
		var direct *TTFTRow
		for i := range r.TTFT {
			if r.TTFT[i].Target == "direct" {
				direct = &r.TTFT[i]
			}
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "target\tstreams\tTTFB p50\tTTFT p50\tTTFT p99\tTTFT p50 − direct\tgap p50\tgap p99\tlast chunk p50\twhole stream p50\terrors\t")
		for _, t := range r.TTFT {
			delta := "-"
			if direct != nil && t.Target != "direct" {
				delta = "+" + ms(t.TTFT.P50-direct.TTFT.P50)
			}
			last := time.Duration(0)
			if n := len(t.ChunkArrival); n > 0 {
				last = t.ChunkArrival[n-1]
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", t.Target, t.Requests, ms(t.TTFB.P50), ms(t.TTFT.P50), ms(t.TTFT.P99),
				delta, ms(t.Gap.P50), ms(t.Gap.P99), ms(last), ms(t.Total.P50), t.Errors)
		}
		tw.Flush()
		fmt.Fprintf(w, "mean arrival of each text chunk (ms after the request was sent):\n")
		for _, t := range r.TTFT {
			var parts []string
			for _, a := range t.ChunkArrival {
				parts = append(parts, fmt.Sprintf("%.2f", float64(a.Microseconds())/1000))
			}
			fmt.Fprintf(w, "  %-16s %s\n", t.Target, strings.Join(parts, " "))
		}
	}
	if len(r.DDB) > 0 {
		fmt.Fprintf(w, "\n== DynamoDB round trips per chat request (counted by an SDK finalize-step middleware, in-process gateway)\n")
		fmt.Fprintf(w, "   before provider = ended before the gateway called the provider; before first byte = before the client got a byte\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "governance\tanswer\tscenario\trequests\tbefore provider\tbefore first byte\ttotal\toperations per request")
		for _, d := range r.DDB {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", onOff(d.Governed), streamName(d.Stream), d.Scenario, d.Requests,
				d.BeforeProvider, d.BeforeFirstByte, d.Total, opsString(d.Ops))
		}
		tw.Flush()
		for _, d := range r.DDB {
			if len(d.BeforeFirstByteHistogram) > 1 {
				var parts []string
				for _, k := range sortedKeys(d.BeforeFirstByteHistogram) {
					parts = append(parts, fmt.Sprintf("%d calls: %d requests", k, d.BeforeFirstByteHistogram[k]))
				}
				fmt.Fprintf(w, "  %s, %s, %s: before first byte: %s\n", onOff(d.Governed), streamName(d.Stream), d.Scenario, strings.Join(parts, ", "))
			}
		}
		if len(r.DDBLatency) > 0 {
			fmt.Fprintf(w, "round-trip time to dynalite, warm sequential requests:\n")
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "governance\tanswer\toperation\tcalls\tp50\tp99\t")
			for _, l := range r.DDBLatency {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t\n", onOff(l.Governed), streamName(l.Stream), l.Op, l.Latency.N, ms(l.Latency.P50), ms(l.Latency.P99))
			}
			tw.Flush()
		}
	}
	if len(r.Cold) > 0 || len(r.Sizes) > 0 {
		fmt.Fprintf(w, "\n== Lambda bootstraps: CGO_ENABLED=0 -tags lambda.norpc -trimpath -ldflags \"-s -w\"; cold starts of the linux/amd64 builds\n")
		fmt.Fprintf(w, "   init = process start to its first GET /runtime/invocation/next (a minimal Runtime API served by tollbench);\n")
		fmt.Fprintf(w, "   RIE Init / RIE Duration = the Runtime Interface Emulator's REPORT line (its Init Duration times only the start of an asynchronous Init)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "function\tinit median\tinit min\tinit max\tfirst invoke median\tRIE Init median\tRIE Duration median\tamd64 size\tamd64 zip\tarm64 size\tarm64 zip\t")
		for _, f := range lambdaFunctions {
			var c *ColdRow
			for i := range r.Cold {
				if r.Cold[i].Function == f.name {
					c = &r.Cold[i]
				}
			}
			line := f.name + "\t"
			if c != nil {
				line += fmt.Sprintf("%.1f ms\t%.1f ms\t%.1f ms\t%.1f ms\t%.2f ms\t%.1f ms\t", c.InitMedian, c.InitMin, c.InitMax, median(c.FirstInvoke),
					median(c.RIEInit), median(c.RIEDuration))
			} else {
				line += "-\t-\t-\t-\t-\t-\t"
			}
			for _, arch := range []string{"amd64", "arm64"} {
				found := false
				for _, s := range r.Sizes {
					if s.Function == f.name && s.Arch == arch {
						line += mib(s.Bytes) + "\t" + mib(s.Zipped) + "\t"
						found = true
					}
				}
				if !found {
					line += "-\t-\t"
				}
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
	}
	if len(r.Profiles) > 0 {
		fmt.Fprintf(w, "\n== Where the gateway's CPU goes: pprof CPU profiles at concurrency %d (separate runs, not in the tables above)\n", r.maxConcurrency())
		fmt.Fprintf(w, "   share of samples whose stack holds a frame of the category (categories overlap); per request = sampled CPU / requests answered\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		hdr := "category\t"
		for _, p := range r.Profiles {
			hdr += fmt.Sprintf("%s, %s\t", p.Gateway, streamName(p.Stream))
		}
		fmt.Fprintln(tw, hdr)
		line := "sampled CPU per request\t"
		for _, p := range r.Profiles {
			per := time.Duration(0)
			if p.Requests > 0 {
				per = time.Duration(p.Seconds / float64(p.Requests) * 1e9)
			}
			line += usf(per) + "\t"
		}
		fmt.Fprintln(tw, line)
		for i, c := range profileCategories {
			line := c.name + "\t"
			for _, p := range r.Profiles {
				sh := p.Categories[i]
				line += fmt.Sprintf("%4.1f%% %8s\t", sh.Share*100, usf(sh.PerReq))
			}
			fmt.Fprintln(tw, line)
		}
		tw.Flush()
		fmt.Fprintf(w, "   (pprof top listings and allocation sites: profiles.txt next to this file)\n")
	}
	if r.Micro != nil {
		fmt.Fprintf(w, "\n== Micro-benchmarks (median of %s; raw output: %s)\n", runsString(r.Micro), r.Micro.File)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "package\tbenchmark\tns/op\tB/op\tallocs/op\tother\t")
		for _, row := range r.Micro.Rows {
			var other []string
			for _, u := range sortedKeys(row.Metrics) {
				if u != "ns/op" && u != "B/op" && u != "allocs/op" {
					other = append(other, fmt.Sprintf("%.4g %s", row.Metrics[u], u))
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.0f\t%.0f\t%s\t\n", strings.TrimPrefix(row.Package, "github.com/tollgate/tollgate/"),
				strings.TrimPrefix(row.Name, "Benchmark"), row.Metrics["ns/op"], row.Metrics["B/op"], row.Metrics["allocs/op"], strings.Join(other, ", "))
		}
		tw.Flush()
		fmt.Fprintf(w, "marginal allocations per streamed chunk ((allocs/op at N2 − at N1) / (N2 − N1)):\n")
		for _, c := range r.Micro.Chunks {
			fmt.Fprintf(w, "  %s: %d→%d chunks: %.3f allocs/chunk\n", strings.TrimPrefix(c.Benchmark, "Benchmark"), c.From, c.To, c.PerChunk)
		}
	}
}

func runsString(m *Micro) string {
	lo, hi := 0, 0
	for i, r := range m.Rows {
		if i == 0 || r.Runs < lo {
			lo = r.Runs
		}
		hi = max(hi, r.Runs)
	}
	if lo == hi {
		return fmt.Sprintf("%d runs", lo)
	}
	return fmt.Sprintf("%d–%d runs", lo, hi)
}

func uniqueConcurrency(rows []LoadRow) []int {
	var cs []int
	for _, l := range rows {
		if !slices.Contains(cs, l.Concurrency) {
			cs = append(cs, l.Concurrency)
		}
	}
	slices.Sort(cs)
	return cs
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func opsString(ops map[string]float64) string {
	if len(ops) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range sortedKeys(ops) {
		parts = append(parts, fmt.Sprintf("%s %.2g", k, ops[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[K interface{ ~int | ~string }, V any](m map[K]V) []K {
	var ks []K
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// sideBySide are the targets of the side-by-side table, floor first.
var sideBySide = []string{"proxy httputil", "gateway off", "gateway on+stub", "gateway on"}

// writeSideBySide writes every middle process against the same-run direct
// baseline: the plain reverse proxy (the floor a Go proxy pays), Tollgate
// ungoverned, governed with the zero-cost DynamoDB stub, and governed against
// dynalite.
func (r *Report) writeSideBySide(w io.Writer) {
	cmax := r.maxConcurrency()
	if r.load("direct", false, 1) == nil || cmax == 0 {
		return
	}
	fmt.Fprintf(w, "\n== Side by side: each middle process against the same-run direct baseline (fast provider)\n")
	fmt.Fprintf(w, "   latency ratio = p50 through it / p50 direct, c=1; throughput ratio = req/s through it / req/s direct, c=%d;\n", cmax)
	fmt.Fprintf(w, "   CPU = its process CPU per request at c=%d (× = over the httputil proxy's)\n", cmax)
	var floor [2]time.Duration
	for i, s := range []bool{false, true} {
		if p := r.load("proxy httputil", s, cmax); p != nil {
			floor[i] = p.CPUPerRequest["gateway"]
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tadded p50 c=1\tlatency ratio\tthroughput ratio\tCPU/req\tCPU ×\tstream: added p50 c=1\tlatency ratio\tthroughput ratio\tCPU/req\tCPU ×\t")
	for _, name := range sideBySide {
		line := name + "\t"
		seen := false
		for i, s := range []bool{false, true} {
			d1, l1 := r.load("direct", s, 1), r.load(name, s, 1)
			dm, lm := r.load("direct", s, cmax), r.load(name, s, cmax)
			if l1 != nil && d1 != nil {
				seen = true
				line += fmt.Sprintf("%s\t%s\t", ms(l1.Latency.P50-d1.Latency.P50), ratio(l1.Latency.P50, d1.Latency.P50))
			} else {
				line += "-\t-\t"
			}
			if lm != nil && dm != nil && dm.Throughput > 0 {
				cpu := lm.CPUPerRequest["gateway"]
				x := "-"
				if floor[i] > 0 {
					x = ratio(cpu, floor[i])
				}
				line += fmt.Sprintf("%.2f\t%s\t%s\t", lm.Throughput/dm.Throughput, usf(cpu), x)
			} else {
				line += "-\t-\t-\t"
			}
		}
		if seen {
			fmt.Fprintln(tw, line)
		}
	}
	tw.Flush()
}
