package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// MicroRow is one micro-benchmark: the median of each metric over its -count runs.
type MicroRow struct {
	Package string
	Name    string
	Runs    int
	Metrics map[string]float64 // by unit: ns/op, B/op, allocs/op, allocs/chunk...
}

// ChunkAllocs is the marginal allocations per streamed chunk of one streaming
// benchmark between two answer lengths.
type ChunkAllocs struct {
	Benchmark string
	From, To  int     // chunks
	PerChunk  float64 // (allocs(To) - allocs(From)) / (To - From)
}

// Micro is the summary of the go test -bench output.
type Micro struct {
	File     string
	Rows     []MicroRow
	Chunks   []ChunkAllocs
	Constant bool // every streaming benchmark's marginal allocations per chunk are the same at every length
}

var reChunks = regexp.MustCompile(`^(.*)/chunks=(\d+)$`)

// summariseMicro reads go test -bench -benchmem output.
func summariseMicro(path string) (*Micro, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type key struct{ pkg, name string }
	values := map[key]map[string][]float64{}
	var order []key
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		k := key{pkg, name}
		if values[k] == nil {
			values[k] = map[string][]float64{}
			order = append(order, k)
		}
		values[k]["runs"] = append(values[k]["runs"], 1)
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				break
			}
			values[k][fields[i+1]] = append(values[k][fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	m := &Micro{File: path, Constant: true}
	allocs := map[string]map[int]float64{} // streaming benchmark -> chunks -> allocs/op
	for _, k := range order {
		row := MicroRow{Package: k.pkg, Name: k.name, Runs: len(values[k]["runs"]), Metrics: map[string]float64{}}
		for unit, vs := range values[k] {
			if unit != "runs" {
				row.Metrics[unit] = median(vs)
			}
		}
		m.Rows = append(m.Rows, row)
		if sm := reChunks.FindStringSubmatch(k.name); sm != nil {
			n, _ := strconv.Atoi(sm[2])
			if allocs[sm[1]] == nil {
				allocs[sm[1]] = map[int]float64{}
			}
			allocs[sm[1]][n] = row.Metrics["allocs/op"]
		}
	}
	var names []string
	for name := range allocs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		var ns []int
		for n := range allocs[name] {
			ns = append(ns, n)
		}
		slices.Sort(ns)
		var first float64
		for i := 1; i < len(ns); i++ {
			a, b := ns[i-1], ns[i]
			per := (allocs[name][b] - allocs[name][a]) / float64(b-a)
			m.Chunks = append(m.Chunks, ChunkAllocs{Benchmark: name, From: a, To: b, PerChunk: per})
			if i == 1 {
				first = per
			} else if diff := per - first; diff > 0.05 || diff < -0.05 {
				m.Constant = false
			}
		}
	}
	if len(m.Chunks) == 0 {
		return nil, fmt.Errorf("%s: no streaming benchmark (.../chunks=N) to check allocations per chunk", path)
	}
	return m, nil
}

func median(vs []float64) float64 {
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
