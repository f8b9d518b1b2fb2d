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
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
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
	// Tokens, if set, replace PaymentToken: placement n pays with
	// Tokens[n % len(Tokens)] (a share of declined cards, say).
	Tokens []string
	// Timeout bounds one attempt (default 15s: longer than any budget).
	Timeout time.Duration
	// Gateways, if set, replace Gateway: placements start at each in turn,
	// and a retry goes to the next, as a client behind a load balancer
	// would.
	Gateways []string
	// Retries is how many more times a placement is tried, with the same
	// Idempotency-Key, after an answer that says nothing was done or that
	// the outcome is unknown (429, 503, 504, or no answer at all), waiting
	// Retry-After (at most a second) in between. 0: every placement is
	// tried once.
	Retries int
}

// Attempt is one try of a placement: one request to one gateway.
type Attempt struct {
	Gateway string
	Start   time.Time
	Latency time.Duration
	// Status is the HTTP status, 0 when no answer came (Err says why).
	Status int
	Err    string
}

// Placement is one order a customer placed, with every attempt it took,
// and what its last answer said.
type Placement struct {
	Key, Customer string
	Start         time.Time
	// Latency is from the first attempt to the last answer.
	Latency time.Duration
	// Status is the last attempt's HTTP status, 0 when no answer came (Err
	// says why).
	Status int
	// OrderID is the order the last answer names (an order, or a
	// problem's order_id), if any.
	OrderID  string
	Err      string
	Attempts []Attempt
}

// Retries returns how many times the placement was tried again.
func (p Placement) Retries() int { return max(0, len(p.Attempts)-1) }

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
	if len(opts.Gateways) == 0 {
		opts.Gateways = []string{opts.Gateway}
	}
	for _, g := range opts.Gateways {
		u, err := url.Parse(g)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("load: gateway %q: want an http(s) URL", g)
		}
	}
	if opts.Retries < 0 || opts.Retries > 20 {
		return nil, fmt.Errorf("load: %d retries: want 0..20", opts.Retries)
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
	if len(opts.Tokens) == 0 {
		opts.Tokens = []string{opts.PaymentToken}
	}
	if opts.Timeout == 0 {
		opts.Timeout = 15 * time.Second
	}
	// One body per (product, token) pair: placements cycle through the
	// products, and through the tokens once per round of products.
	bodies := make([][]byte, len(opts.Products)*len(opts.Tokens))
	for i := range bodies {
		var err error
		if bodies[i], err = json.Marshal(map[string]any{
			"items":         []map[string]any{{"product_id": opts.Products[i%len(opts.Products)], "quantity": opts.Quantity}},
			"payment_token": opts.Tokens[i/len(opts.Products)%len(opts.Tokens)],
		}); err != nil {
			return nil, err
		}
	}
	var seq atomic.Int64
	targeter := func(t *vegeta.Target) error {
		n := seq.Add(1)
		key := fmt.Sprintf("%s-%d", opts.Run, n)
		t.Method = http.MethodPost
		// The fragment is never sent; it ties the result back to its key.
		t.URL = strings.TrimRight(opts.Gateways[int(n)%len(opts.Gateways)], "/") + "/v1/orders#" + key
		t.Body = bodies[int(n)%len(bodies)]
		t.Header = http.Header{
			"Content-Type":    {"application/json"},
			"Authorization":   {opts.Bearer(key)},
			"Idempotency-Key": {key},
		}
		return nil
	}
	pacer, workers := openLoop(opts.Rate, opts.Timeout)
	if closedLoop {
		workers, pacer = uint64(opts.Workers), vegeta.ConstantPacer{} // as fast as the workers go
	}
	hc, err := httpclient.New(httpclient.Options{Name: "load", Timeout: opts.Timeout, ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost: 512})
	if err != nil {
		return nil, err
	}
	defer hc.CloseIdleConnections()
	rt := &retrier{next: hc.Transport, gateways: opts.Gateways, retries: opts.Retries, timeout: opts.Timeout}
	hc.Transport = rt
	hc.Timeout = 0 // each attempt has its own; the attacker bounds the whole placement
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var out []Placement
	attack(ctx, hc, time.Duration(opts.Retries+1)*(opts.Timeout+time.Second), workers, pacer, opts.Duration, opts.Run, targeter,
		func(r *vegeta.Result) {
			p := placement(r)
			p.Attempts = rt.attemptsOf(p.Key)
			out = append(out, p)
		})
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, ctx.Err()
}

// openLoop returns the pacer and the most workers for rate requests a
// second, each taking up to timeout: one request every 1/rate seconds
// (exact for rates that are not whole), and never short of a worker.
func openLoop(rate float64, timeout time.Duration) (vegeta.Pacer, uint64) {
	return vegeta.ConstantPacer{Freq: 1, Per: time.Duration(float64(time.Second) / max(rate, 1e-3))},
		uint64(rate*timeout.Seconds()) + 16
}

// attack sends what targeter makes through hc at pacer's rate for d, with
// at most workers requests at once, each bounded by timeout, and hands
// every result to each. Cancelling ctx stops it early.
func attack(ctx context.Context, hc *http.Client, timeout time.Duration, workers uint64, pacer vegeta.Pacer,
	d time.Duration, name string, targeter vegeta.Targeter, each func(*vegeta.Result)) {
	attacker := vegeta.NewAttacker(vegeta.Client(hc), vegeta.Timeout(timeout),
		vegeta.Workers(min(workers, 64)), vegeta.MaxWorkers(workers))
	stop := context.AfterFunc(ctx, func() { attacker.Stop() })
	defer stop()
	for r := range attacker.Attack(targeter, pacer, d, name) {
		each(r)
	}
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
	// P50, P90 and P99 are latencies of the admitted placements: every
	// answer but a refusal (429, 503) or none.
	P50, P90, P99 time.Duration
}

// Summarize sums up placements made at rate over d.
func Summarize(ps []Placement, rate float64, d time.Duration) Summary {
	return summarize(ps, rate, d, http.StatusCreated)
}

// summarize sums up requests made at rate over d, of which the answers
// with status good count as goodput.
func summarize(ps []Placement, rate float64, d time.Duration, good int) Summary {
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
	s.Goodput = float64(s.ByStatus[good]) / d.Seconds()
	s.P50, s.P90, s.P99 = quantile(admitted, 0.50), quantile(admitted, 0.90), quantile(admitted, 0.99)
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
	return fmt.Sprintf("offered %.0f/s: goodput %.1f/s, admitted p50 %v p90 %v p99 %v;%s",
		s.Offered, s.Goodput, s.P50.Round(time.Millisecond), s.P90.Round(time.Millisecond), s.P99.Round(time.Millisecond), b.String())
}

// retrier is the load's client side: it sends a placement, and on an
// answer that says nothing was done or that the outcome is unknown, sends
// it again with the same Idempotency-Key to the next gateway, recording
// every attempt.
type retrier struct {
	next     http.RoundTripper
	gateways []string
	retries  int
	timeout  time.Duration

	attempts sync.Map // Idempotency-Key → []Attempt
}

func (r *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Header.Get("Idempotency-Key")
	first := slices.IndexFunc(r.gateways, func(g string) bool { return strings.HasPrefix(req.URL.String(), strings.TrimRight(g, "/")) })
	var tried []Attempt
	defer func() { r.attempts.Store(key, tried) }()
	for n := 0; ; n++ {
		gw := r.gateways[(max(first, 0)+n)%len(r.gateways)]
		try, err := retarget(req, gw)
		if err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(req.Context(), r.timeout)
		start := time.Now()
		resp, err := r.next.RoundTrip(try.WithContext(ctx))
		a := Attempt{Gateway: gw, Start: start, Latency: time.Since(start)}
		if err != nil {
			a.Err = err.Error()
		} else {
			a.Status = resp.StatusCode
		}
		tried = append(tried, a)
		if n >= r.retries || !retryable(a.Status) || req.Context().Err() != nil {
			if resp != nil {
				// The body outlives this call: cancel the attempt's context
				// only once it is read.
				resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			} else {
				cancel()
			}
			return resp, err
		}
		wait := 200 * time.Millisecond << min(n, 2)
		if resp != nil {
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			httpclient.DrainAndClose(resp.Body)
		}
		cancel()
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(min(wait, time.Second)):
		}
	}
}

// retryable reports whether an answer says nothing was done, or that the
// outcome is unknown: the same request may be sent again.
func retryable(status int) bool {
	switch status {
	case 0, http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retarget returns req for gateway gw, with a fresh body.
func retarget(req *http.Request, gw string) (*http.Request, error) {
	u, err := url.Parse(strings.TrimRight(gw, "/") + req.URL.Path)
	if err != nil {
		return nil, err
	}
	try := req.Clone(req.Context())
	try.URL, try.Host = u, u.Host
	if req.GetBody != nil {
		if try.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return try, nil
}

func (r *retrier) attemptsOf(key string) []Attempt {
	v, _ := r.attempts.LoadAndDelete(key)
	a, _ := v.([]Attempt)
	return a
}

// cancelOnClose cancels an attempt's context when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}
