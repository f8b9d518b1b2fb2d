package load

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// ReadOptions says what to read, where and how fast.
type ReadOptions struct {
	// Gateway is the gateway's base URL; Path what to GET (e.g.
	// /v1/products).
	Gateway, Path string
	// Rate is the offered load in reads per second; Duration how long it is
	// offered. Both are bounded (MaxRate, MaxDuration).
	Rate     float64
	Duration time.Duration
	// Bearer returns the Authorization header value for a client: each read
	// comes from a client of its own, named after Run, as reads from many
	// shoppers do, so no single client's rate limit is what is measured.
	Bearer func(client string) string
	Run    string
}

// Read offers opts.Rate reads a second for opts.Duration, open-loop, and
// sums them up: the goodput is answers 200 a second, the latencies those of
// every answer but a refusal. Cancelling ctx stops the run early.
func Read(ctx context.Context, opts ReadOptions) (Summary, error) {
	if opts.Rate <= 0 || opts.Rate > MaxRate || opts.Duration <= 0 || opts.Duration > MaxDuration {
		return Summary{}, fmt.Errorf("load: read rate %v/s for %v: want (0, %d]/s for (0, %v]", opts.Rate, opts.Duration, MaxRate, MaxDuration)
	}
	if opts.Bearer == nil || opts.Run == "" {
		return Summary{}, fmt.Errorf("load: Bearer and Run are required")
	}
	target, err := url.JoinPath(opts.Gateway, opts.Path)
	if err != nil || !strings.HasPrefix(target, "http") {
		return Summary{}, fmt.Errorf("load: gateway %q, path %q: want an http(s) URL", opts.Gateway, opts.Path)
	}
	var seq atomic.Int64
	targeter := func(t *vegeta.Target) error {
		t.Method, t.URL = http.MethodGet, target
		t.Header = http.Header{"Authorization": {opts.Bearer(fmt.Sprintf("%s-%d", opts.Run, seq.Add(1)))}}
		return nil
	}
	const timeout = 15 * time.Second
	hc, err := httpclient.New(httpclient.Options{Name: "load-read", Timeout: timeout, ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost: 512})
	if err != nil {
		return Summary{}, err
	}
	defer hc.CloseIdleConnections()
	pacer, workers := openLoop(opts.Rate, timeout)
	var rs []Placement
	attack(ctx, hc, timeout, workers, pacer, opts.Duration, opts.Run, targeter, func(r *vegeta.Result) {
		rs = append(rs, Placement{Start: r.Timestamp, Latency: r.Latency, Status: int(r.Code), Err: r.Error})
	})
	return summarize(rs, opts.Rate, opts.Duration, http.StatusOK), ctx.Err()
}
