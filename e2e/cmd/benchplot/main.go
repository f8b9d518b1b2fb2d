// Command benchplot draws the figures of docs/benchmarks.md from the output
// of `go test -bench` (the Go benchmark format), so rerunning the benchmarks
// redraws them:
//
//	benchplot -kind hop -o docs/hop.png docs/bench/hop.txt docs/bench/zrpc.txt
//	benchplot -kind balancing -o docs/balancing.png docs/bench/balancing.txt
//
// hop: one gRPC hop through each stack as a multiple of bare mTLS (the
// ratio sub-benchmarks of BenchmarkHop and BenchmarkPeerHop: bars are
// medians of the -count runs, whiskers their least and most), against the
// 1.3× goal, and the p50 and p99 of single calls from 16 goroutines.
// balancing: BenchmarkBalancing's share of calls sent to the slow instance,
// and the calls' p50 and p99, per balancer.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/perf/benchfmt"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchplot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kind := fs.String("kind", "", "which figure: hop or balancing")
	out := fs.String("o", "", "the PNG file to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		return errors.New("usage: benchplot -kind hop|balancing -o FILE.png BENCH-OUTPUT-FILES")
	}
	results, err := readResults(fs.Args())
	if err != nil {
		return err
	}
	switch *kind {
	case "hop":
		return drawHop(results, *out)
	case "balancing":
		return drawBalancing(results, *out)
	default:
		return fmt.Errorf("unknown -kind %q: hop or balancing", *kind)
	}
}

// result is one benchmark line: its name without the "Benchmark" prefix
// and the GOMAXPROCS suffix ("Hop/platform/concurrent"), and its metrics
// by the unit ReportMetric gave them.
type result struct {
	name    string
	metrics map[string]float64
}

// readResults reads every benchmark line of the files, in order.
func readResults(files []string) ([]result, error) {
	var all []result
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		rs, err := parse(f, file)
		_ = f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	if len(all) == 0 {
		return nil, fmt.Errorf("no benchmark results in %s", strings.Join(files, ", "))
	}
	return all, nil
}

// parse reads the benchmark lines of one file; lines that are not results
// (test logs, PASS, ok) are skipped, as benchstat skips them.
func parse(r io.Reader, file string) ([]result, error) {
	br := benchfmt.NewReader(r, file)
	var rs []result
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue
		}
		base, parts := res.Name.Parts()
		name := string(base)
		for _, p := range parts {
			if p[0] == '/' {
				name += string(p)
			}
		}
		m := make(map[string]float64, len(res.Values))
		for _, v := range res.Values {
			// The reader tidies units (ns/op becomes sec/op); the figures
			// name them as the benchmarks report them.
			if v.OrigUnit != "" {
				m[v.OrigUnit] = v.OrigValue
			} else {
				m[v.Unit] = v.Value
			}
		}
		rs = append(rs, result{name: name, metrics: m})
	}
	return rs, br.Err()
}

// spread is what the runs of one metric measured: their median, least and
// most.
type spread struct {
	median, min, max float64
	runs             int
}

// collect returns the spread of unit over the results whose name match
// accepts; ok is false when no such result has it.
func collect(results []result, unit string, match func(name string) bool) (s spread, ok bool) {
	var vs []float64
	for _, r := range results {
		if v, has := r.metrics[unit]; has && match(r.name) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return spread{}, false
	}
	return spreadOf(vs), true
}

// named matches one benchmark by its name.
func named(name string) func(string) bool {
	return func(n string) bool { return n == name }
}

// endingIn matches every benchmark whose name ends in suffix ("/ratio"
// matches Hop/ratio and PeerHop/ratio).
func endingIn(suffix string) func(string) bool {
	return func(n string) bool { return strings.HasSuffix(n, suffix) }
}

func spreadOf(vs []float64) spread {
	sorted := slices.Sorted(slices.Values(vs))
	n := len(sorted)
	median := sorted[n/2]
	if n%2 == 0 {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	return spread{median: median, min: sorted[0], max: sorted[n-1], runs: n}
}
