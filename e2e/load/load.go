// Package load places orders into a running shopmesh at an open-loop rate
// and records every placement: its key, customer, status, latency and order.
// It is used by the end-to-end tests (against a testcontainers stack) and by
// `make bench` (against `make up`). Rates and durations are bounded, and
// the target is a gateway on loopback or on the project's own network.
//
// Each placement is one customer with one idempotency key, so what happened
// to it can be checked afterwards through the public API alone: the
// customer's orders are exactly what that one request created.
package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Limits on one run, so no test or benchmark can turn into a flood.
const (
	MaxRate     = 1000 // orders per second
	MaxDuration = 2 * time.Minute
)

// Options says what to place, where and how fast.
type Options struct {
	// Gateway is the gateway's base URL, e.g. http://127.0.0.1:8080.
	Gateway string
	// Rate is the offered load in orders per second; Duration how long it
	// is offered. Both are bounded (MaxRate, MaxDuration).
	Rate     float64
	Duration time.Duration
	// Workers, with Rate 0, makes the run closed-loop instead: that many
	// customers place orders back to back, which finds the rate the stack
	// sustains. At most 256.
	Workers int
	// Bearer returns the Authorization header value for a customer.
	Bearer func(customer string) string
	// Run prefixes every key and customer, so runs never share one.
	Run string
	// Products are bought in turn, one per order (default p-1001), so load
	// can spread over many stock rows as a shop's does; Quantity and
	// PaymentToken make the rest of the order (defaults 1, tok_visa).
	Products     []string
	Quantity     int
	PaymentToken string
	// Timeout bounds one request (default 15s: longer than any budget).
	Timeout time.Duration
}

// Placement is one POST /v1/orders and what came of it.
type Placement struct {
	Key, Customer string
	Start         time.Time
	Latency       time.Duration
	// Status is the HTTP status, 0 when no answer came (Err says why).
	Status int
	// OrderID is the order the answer names (an order, or a problem's
	// order_id), if any.
	OrderID string
	Err     string
}

// Place offers opts.Rate orders per second for opts.Duration and returns
// every placement, in the order they were started. Cancelling ctx stops
// the run early.
func Place(ctx context.Context, opts Options) ([]Placement, error) {
	closedLoop := opts.Rate == 0 && opts.Workers > 0 && opts.Workers <= 256
	if !closedLoop && (opts.Rate <= 0 || opts.Rate > MaxRate) || opts.Duration <= 0 || opts.Duration > MaxDuration {
		return nil, fmt.Errorf("load: rate %v/s (%d workers) for %v: want (0, %d]/s, or rate 0 with 1..256 workers, for (0, %v]",
			opts.Rate, opts.Workers, opts.Duration, MaxRate, MaxDuration)
	}
	if opts.Bearer == nil || opts.Run == "" {
		return nil, errors.New("load: Bearer and Run are required")
	}
	u, err := url.Parse(opts.Gateway)
	if err != nil || u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("load: gateway %q: want an http(s) URL", opts.Gateway)
	}
	if len(opts.Products) == 0 {
		opts.Products = []string{"p-1001"}
	}
	if opts.Quantity == 0 {
		opts.Quantity = 1
	}
	if opts.PaymentToken == "" {
		opts.PaymentToken = "tok_visa"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Second
	}
	bodies := make([][]byte, len(opts.Products))
	for i, product := range opts.Products {
		var err error
		if bodies[i], err = json.Marshal(map[string]any{
			"items":         []map[string]any{{"product_id": product, "quantity": opts.Quantity}},
			"payment_token": opts.PaymentToken,
		}); err != nil {
			return nil, err
		}
	}
	target := strings.TrimRight(opts.Gateway, "/") + "/v1/orders"
	var seq atomic.Int64
	targeter := func(t *vegeta.Target) error {
		n := seq.Add(1)
		key := fmt.Sprintf("%s-%d", opts.Run, n)
		t.Method = http.MethodPost
		// The fragment is never sent; it ties the result back to its key.
		t.URL = target + "#" + key
		t.Body = bodies[int(n)%len(bodies)]
		t.Header = http.Header{
			"Content-Type":    {"application/json"},
			"Authorization":   {opts.Bearer(key)},
			"Idempotency-Key": {key},
		}
		return nil
	}
	workers := uint64(opts.Rate*opts.Timeout.Seconds()) + 16 // open loop: never short of a worker
	// One order every 1/Rate seconds: exact for rates that are not whole.
	pacer := vegeta.ConstantPacer{Freq: 1, Per: time.Duration(float64(time.Second) / max(opts.Rate, 1e-3))}
	if closedLoop {
		workers, pacer = uint64(opts.Workers), vegeta.ConstantPacer{} // as fast as the workers go
	}
	attacker := vegeta.NewAttacker(
		vegeta.Timeout(opts.Timeout),
		vegeta.Workers(min(workers, 64)),
		vegeta.MaxWorkers(workers),
		vegeta.Redirects(vegeta.NoFollow),
		vegeta.KeepAlive(true),
	)
	stop := context.AfterFunc(ctx, func() { attacker.Stop() })
	defer stop()
	var out []Placement
	for r := range attacker.Attack(vegeta.Targeter(targeter), pacer, opts.Duration, opts.Run) {
		out = append(out, placement(r))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, ctx.Err()
}

func placement(r *vegeta.Result) Placement {
	_, key, _ := strings.Cut(r.URL, "#")
	p := Placement{Key: key, Customer: key, Start: r.Timestamp, Latency: r.Latency, Status: int(r.Code)}
	if r.Code == 0 {
		p.Err = r.Error
		return p
	}
	var named struct {
		ID      string `json:"id"`
		OrderID string `json:"order_id"`
	}
	if json.Unmarshal(r.Body, &named) == nil {
		p.OrderID = named.ID
		if p.OrderID == "" {
			p.OrderID = named.OrderID
		}
	}
	return p
}

// Summary is what one run of placements comes to.
type Summary struct {
	Offered  float64     // orders per second offered
	Sent     int         // placements made
	ByStatus map[int]int // placements per HTTP status (0: no answer)
	// Goodput is orders confirmed inside their request (201) per second
	// of the run.
	Goodput float64
	// P50 and P99 are latencies of the admitted placements: every answer
	// but a refusal (429, 503) or none.
	P50, P99 time.Duration
}

// Summarize sums up placements made at rate over d.
func Summarize(ps []Placement, rate float64, d time.Duration) Summary {
	s := Summary{Offered: rate, Sent: len(ps), ByStatus: map[int]int{}}
	var admitted []time.Duration
	for _, p := range ps {
		s.ByStatus[p.Status]++
		switch p.Status {
		case 0, http.StatusTooManyRequests, http.StatusServiceUnavailable:
		default:
			admitted = append(admitted, p.Latency)
		}
	}
	s.Goodput = float64(s.ByStatus[http.StatusCreated]) / d.Seconds()
	s.P50, s.P99 = quantile(admitted, 0.50), quantile(admitted, 0.99)
	return s
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(q*float64(len(ds))))]
}

// String prints the summary on one line.
func (s Summary) String() string {
	var codes []int
	for c := range s.ByStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var b bytes.Buffer
	for _, c := range codes {
		fmt.Fprintf(&b, " %d×%d", s.ByStatus[c], c)
	}
	return fmt.Sprintf("offered %.0f/s: goodput %.1f/s, admitted p50 %v p99 %v;%s",
		s.Offered, s.Goodput, s.P50.Round(time.Millisecond), s.P99.Round(time.Millisecond), b.String())
}
