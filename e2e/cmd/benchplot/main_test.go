package main

import (
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// hopOutput is `go test -bench Hop -count 3` output as make bench-hop
// keeps it, test logs and all.
const hopOutput = `goos: linux
goarch: amd64
pkg: github.com/shopmesh/shopmesh/pkg/platform/grpcx
cpu: AMD EPYC 7B13
BenchmarkHop/bare-plaintext/serial-2         	   60000	     45000 ns/op	   9000 B/op	     150 allocs/op
BenchmarkHop/bare-mTLS/concurrent-2          	  100000	     30000 ns/op	       500.0 p50-µs	      1500 p99-µs	    9000 B/op	     174 allocs/op
BenchmarkHop/platform/concurrent-2           	   80000	     40000 ns/op	       650.0 p50-µs	      2100 p99-µs	   12000 B/op	     217 allocs/op
    hop_bench_test.go:99: a log line a benchmark may write
BenchmarkHop/ratio-2                         	      10	 100000000 ns/op	         1.400 ×mTLS-platform	         1.600 ×mTLS-platform-always-traced	         0.8000 ×mTLS-bare-plaintext
BenchmarkHop/ratio-2                         	      10	 100000000 ns/op	         1.300 ×mTLS-platform	         1.500 ×mTLS-platform-always-traced	         0.8000 ×mTLS-bare-plaintext
BenchmarkHop/ratio-2                         	      10	 100000000 ns/op	         1.320 ×mTLS-platform	         1.550 ×mTLS-platform-always-traced	         0.8000 ×mTLS-bare-plaintext
PASS
ok  	github.com/shopmesh/shopmesh/pkg/platform/grpcx	60.1s
`

const peerOutput = `BenchmarkPeerHop/ratio-2 	      10	 100000000 ns/op	         2.100 ×mTLS-zrpc
BenchmarkPeerHop/ratio-2 	      10	 100000000 ns/op	         2.300 ×mTLS-zrpc
`

const balancingOutput = `BenchmarkBalancing/round_robin-2         	       5	 400000000 ns/op	         1.600 call-p50-ms	        51.50 call-p99-ms	        33.33 slow-share-%
BenchmarkBalancing/least_request-2       	       5	 200000000 ns/op	         1.500 call-p50-ms	        51.30 call-p99-ms	        11.10 slow-share-%
`

func TestParse(t *testing.T) {
	rs, err := parse(strings.NewReader(hopOutput), "hop.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 6 {
		t.Fatalf("parsed %d results, want the 6 benchmark lines: %+v", len(rs), rs)
	}
	if rs[1].name != "Hop/bare-mTLS/concurrent" || rs[1].metrics["p99-µs"] != 1500 {
		t.Errorf("second result = %+v, want Hop/bare-mTLS/concurrent with p99-µs 1500", rs[1])
	}
	// ns/op is kept as the benchmark wrote it, not tidied to sec/op.
	if rs[0].metrics["ns/op"] != 45000 {
		t.Errorf("ns/op = %v, want 45000", rs[0].metrics["ns/op"])
	}
	s, ok := collect(rs, "×mTLS-platform", endingIn("/ratio"))
	if !ok || s.median != 1.32 || s.min != 1.3 || s.max != 1.4 || s.runs != 3 {
		t.Errorf("platform ratio = %+v, %v; want median 1.32 of 1.3…1.4 over 3 runs", s, ok)
	}
	if _, ok := collect(rs, "×mTLS-zrpc", endingIn("/ratio")); ok {
		t.Error("found a zrpc ratio in output that has none")
	}
}

func TestSpreadOf_EvenRuns(t *testing.T) {
	if s := spreadOf([]float64{4, 1, 3, 2}); s.median != 2.5 || s.min != 1 || s.max != 4 {
		t.Errorf("spreadOf = %+v, want median 2.5, min 1, max 4", s)
	}
}

func TestRun_DrawsEachFigure(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	hop, peer, bal := write("hop.txt", hopOutput), write("zrpc.txt", peerOutput), write("balancing.txt", balancingOutput)
	for _, tc := range []struct {
		kind   string
		inputs []string
	}{
		{"hop", []string{hop, peer}},
		{"hop", []string{hop}}, // without the peer's module
		{"balancing", []string{bal}},
	} {
		out := filepath.Join(dir, tc.kind+".png")
		if err := run(append([]string{"-kind", tc.kind, "-o", out}, tc.inputs...), io.Discard); err != nil {
			t.Fatalf("%s %v: %v", tc.kind, tc.inputs, err)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		_ = f.Close()
		if err != nil {
			t.Fatalf("%s: not a PNG: %v", tc.kind, err)
		}
		// Two panels, one above the other.
		if b := img.Bounds(); b.Dy() <= b.Dx() {
			t.Errorf("%s: %v, want a figure taller than wide", tc.kind, b)
		}
	}
}

func TestRun_RefusesWhatItCannotDraw(t *testing.T) {
	dir := t.TempDir()
	bal := filepath.Join(dir, "balancing.txt")
	if err := os.WriteFile(bal, []byte(balancingOutput), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "x.png")
	for name, args := range map[string][]string{
		"no ratio for hop":    {"-kind", "hop", "-o", out, bal},
		"unknown kind":        {"-kind", "pie", "-o", out, bal},
		"no output file":      {"-kind", "balancing", bal},
		"missing input":       {"-kind", "balancing", "-o", out, filepath.Join(dir, "nope.txt")},
		"no results in input": {"-kind", "balancing", "-o", out, os.DevNull},
	} {
		if err := run(args, io.Discard); err == nil {
			t.Errorf("%s: run(%v) succeeded", name, args)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused run wrote a figure")
	}
}
