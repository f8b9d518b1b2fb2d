package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/shopmesh/shopmesh/e2e/load"
	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// Reads is the catalog's curve: GET /v1/products from many shoppers.
type Reads struct {
	// Saturation is the highest rate of which at least 95 % was answered
	// 200 with a p99 under a second (at least MaxRate if AtMost).
	Saturation float64 `json:"saturation_per_s"`
	AtMost     bool    `json:"saturation_at_load_limit,omitempty"`
	Search     []Step  `json:"saturation_search"`
	Curve      []Step  `json:"curve"`
}

// reads finds the catalog's saturation rate as saturation does for
// orders, starting at 100 reads/s and going up by a quarter (the load's
// MaxRate bounds it), unless given, then offers fractions and multiples of it.
func (b *bench) reads(ctx context.Context, given float64, factors []float64) (*Reads, error) {
	r := &Reads{Saturation: given}
	read := func(name string, rate float64, d time.Duration) (load.Summary, error) {
		if !backoff.Sleep(ctx, 5*time.Second) {
			return load.Summary{}, ctx.Err()
		}
		return load.Read(ctx, load.ReadOptions{Gateway: b.gateway, Path: "/v1/products", Rate: rate, Duration: d,
			Bearer: b.bearer, Run: b.run + name})
	}
	for i, rate := 0, 100.0; given == 0; i++ {
		s, err := read(fmt.Sprintf("rs%d", i), rate, b.step/2)
		if err != nil {
			return nil, err
		}
		fmt.Printf("reads, searching: %s\n", s.String())
		r.Search = append(r.Search, stepOf(s, 0))
		if !keptUp(s) {
			break
		}
		r.Saturation = rate
		if rate >= load.MaxRate {
			r.AtMost = true
			break
		}
		rate = min(rate*1.25, load.MaxRate)
	}
	if r.Saturation == 0 {
		return nil, errors.New("reads: the stack kept up with none of the rates offered")
	}
	fmt.Printf("reads saturation: %.0f/s\n", r.Saturation)
	for _, f := range factors {
		if f*r.Saturation > load.MaxRate {
			continue
		}
		s, err := read(fmt.Sprintf("rc%03d", int(f*100)), f*r.Saturation, b.step)
		if err != nil {
			return nil, err
		}
		fmt.Printf("reads %4.2f×: %s\n", f, s.String())
		r.Curve = append(r.Curve, stepOf(s, f))
	}
	return r, nil
}

// profile offers orders at the saturation rate and, while it does, takes a
// CPU profile of one replica of each service from its admin port's
// /debug/pprof/profile, into dir/<service>.pb.gz. A file dir/profiling
// exists while the profiles are taken, so a script outside can sample
// docker stats over the same seconds.
func (b *bench) profile(ctx context.Context, rate float64, services []string, adminPort, dir string) (Step, error) {
	const seconds = 20
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Step{}, err
	}
	hc, err := httpclient.New(httpclient.Options{Name: "pprof", Timeout: (seconds + 10) * time.Second,
		ResponseHeaderTimeout: (seconds + 10) * time.Second})
	if err != nil {
		return Step{}, err
	}
	defer hc.CloseIdleConnections()
	if !backoff.Sleep(ctx, 5*time.Second) {
		return Step{}, ctx.Err()
	}
	o := b.options("prof")
	o.Rate, o.Duration = rate, (seconds+10)*time.Second
	var (
		placed []load.Placement
		errP   error
		wg     sync.WaitGroup
	)
	wg.Go(func() { placed, errP = load.Place(ctx, o) })
	backoff.Sleep(ctx, 5*time.Second) // past the start, at the rate; Place ends with ctx
	marker := filepath.Join(dir, "profiling")
	if err := os.WriteFile(marker, nil, 0o644); err != nil {
		return Step{}, err
	}
	errs := make([]error, len(services))
	var pw sync.WaitGroup
	for i, svc := range services {
		pw.Go(func() {
			errs[i] = fetchTo(ctx, hc, fmt.Sprintf("http://%s:%s/debug/pprof/profile?seconds=%d", svc, adminPort, seconds),
				filepath.Join(dir, svc+".pb.gz"))
		})
	}
	pw.Wait()
	_ = os.Remove(marker)
	wg.Wait()
	if err := errors.Join(append(errs, errP)...); err != nil {
		return Step{}, err
	}
	s := load.Summarize(placed, rate, o.Duration)
	fmt.Printf("profiled at %s\n", s.String())
	return stepOf(s, 1), nil
}

// fetchTo GETs url into the file path.
func fetchTo(ctx context.Context, hc *http.Client, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req) //nolint:bodyclose // httpclient.DrainAndClose closes it below
	if err != nil {
		return err
	}
	defer httpclient.DrainAndClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
