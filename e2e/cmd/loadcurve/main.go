// Command loadcurve measures how a running shopmesh (`make up`) behaves in
// bad weather, for `make bench` and docs/deadlines.md:
//
//   - the rate the stack sustains: closed loop, 32 customers placing orders
//     back to back;
//   - slow provider: the provider answering in 2.5 s, at a quarter of the
//     sustained rate;
//   - flaky provider: 30 % of provider calls failing and 30 % of its
//     answers lost, at a quarter of the sustained rate: how many orders are
//     confirmed inside their request, and whether the charges equal the
//     confirmed orders;
//   - curve: goodput and latency offered open-loop from a quarter of the
//     sustained rate to four times it;
//   - drain: how long after the heaviest step until no order is PENDING.
//
// The provider scenarios come first: after an overload the adaptive limits
// are low and grow back with traffic, which is the curve's business, not
// theirs.
//
// It runs inside the stack's Docker network (make bench starts it there) and
// talks to the gateway, the simulator's admin API and the order database.
// Results go to a JSON file per label (OVERLOAD_LIMIT of the stack), and
// -plot draws every label's curve into one PNG.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/e2e/load"
	"github.com/shopmesh/shopmesh/e2e/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "loadcurve:", err)
		os.Exit(1)
	}
}

// Step is one offered rate and what came of it.
type Step struct {
	Factor  float64     `json:"factor"` // offered rate / sustained rate
	Offered float64     `json:"offered_per_s"`
	Goodput float64     `json:"goodput_per_s"` // confirmed inside the request
	P50     float64     `json:"p50_ms"`        // of admitted requests
	P99     float64     `json:"p99_ms"`
	Answers map[int]int `json:"answers"`
}

// Results is one run of every scenario against one configuration.
type Results struct {
	Label     string  `json:"label"` // the stack's OVERLOAD_LIMIT
	When      string  `json:"when"`
	Sustained float64 `json:"sustained_per_s"`
	Curve     []Step  `json:"curve"`
	// DrainSeconds is how long after the last step until no order was
	// PENDING; -1 if some still were after a minute.
	DrainSeconds  float64 `json:"drain_s"`
	SlowProvider  *Step   `json:"slow_provider,omitempty"`
	FlakyProvider *Step   `json:"flaky_provider,omitempty"`
	// FlakyConfirmedInside is the share of the flaky run's orders answered
	// 201; FlakyCharges and FlakyConfirmed the provider's charges and the
	// orders confirmed in the end.
	FlakyConfirmedInside float64 `json:"flaky_confirmed_inside"`
	FlakyCharges         int     `json:"flaky_charges"`
	FlakyConfirmed       int     `json:"flaky_confirmed"`
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("loadcurve", flag.ContinueOnError)
	gateway := fs.String("gateway", "http://gateway:8080", "the gateway's base URL")
	key := fs.String("jwt-key", os.Getenv("JWT_SIGNING_KEY"), "the gateway's JWT_SIGNING_KEY")
	orderDB := fs.String("order-db", "postgres://order:order-dev@postgres:5432/order?sslmode=disable", "the order database, to count PENDING orders")
	paysimURL := fs.String("paysim", "https://paysim:8443", "the payment-provider simulator")
	paysimCA := fs.String("paysim-ca", "/certs/ca.pem", "the CA that signed the simulator's certificate")
	paysimKey := fs.String("paysim-key", "sk_test_shopmesh", "the simulator's API key")
	step := fs.Duration("step", 20*time.Second, "how long each rate is offered")
	factors := fs.String("factors", "0.25,0.5,1,1.5,2,3,4", "offered rates, as multiples of the sustained rate")
	scenarios := fs.String("scenarios", "curve,drain,slow,flaky", "which scenarios to run")
	label := fs.String("label", "adaptive", "names the configuration measured (the stack's OVERLOAD_LIMIT)")
	out := fs.String("out", "/out", "directory for overload-<label>.json")
	plot := fs.String("plot", "", "draw every overload-*.json in -out into this PNG and exit")
	sustained := fs.Float64("sustained", 0, "the rate the stack sustains, in orders/s; 0 measures it (closed loop, 32 customers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *plot != "" {
		return drawPlot(*out, *plot)
	}
	b := &bench{gateway: *gateway, bearer: func(c string) string { return stack.BearerSignedWith(*key, c) },
		run: fmt.Sprintf("lc%d", time.Now().Unix()%100000), step: *step}
	var err error
	if b.products, err = stockUp(ctx, *gateway, stack.BearerSignedWith(*key, "bench", "admin"), 20); err != nil {
		return err
	}
	if b.sim, err = newPaysim(*paysimURL, *paysimCA, *paysimKey); err != nil {
		return err
	}
	if b.db, err = pgxpool.New(ctx, *orderDB); err != nil {
		return err
	}
	defer b.db.Close()

	res := Results{Label: *label, When: time.Now().UTC().Format(time.RFC3339)}
	want := map[string]bool{}
	for _, s := range strings.Split(*scenarios, ",") {
		want[s] = true
	}
	if res.Sustained = *sustained; res.Sustained > 0 {
		fmt.Printf("sustained: %.1f orders/s (given)\n", res.Sustained)
	} else {
		if res.Sustained, err = b.sustained(ctx); err != nil {
			return err
		}
		fmt.Printf("sustained: %.1f orders/s (closed loop, 32 customers)\n", res.Sustained)
	}
	if want["slow"] {
		if err := b.sim.setFaults(ctx, `{"latency":"2500ms"}`); err != nil {
			return err
		}
		s, err := b.offer(ctx, "slow", 0.25, res.Sustained)
		_ = b.sim.setFaults(context.WithoutCancel(ctx), "{}")
		if err != nil {
			return err
		}
		st := stepOf(s, 0.25)
		res.SlowProvider = &st
		fmt.Printf("provider answering in 2.5s, 0.25×: %s\n", s.String())
	}
	if want["flaky"] {
		if err := b.flaky(ctx, &res); err != nil {
			return err
		}
	}
	if want["curve"] {
		for _, f := range parseFactors(*factors) {
			// Keys and customers allow letters, digits, '-' and '_' only.
			s, err := b.offer(ctx, fmt.Sprintf("c%03d", int(f*100)), f, res.Sustained)
			if err != nil {
				return err
			}
			fmt.Printf("%4.2f×: %s\n", f, s.String())
			res.Curve = append(res.Curve, stepOf(s, f))
		}
	}
	if want["drain"] {
		res.DrainSeconds = b.drain(ctx, time.Minute)
		fmt.Printf("no order PENDING %.1fs after the last step\n", res.DrainSeconds)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(*out, "overload-"+*label+".json"), append(raw, '\n'), 0o644)
}

// bench is one measurement session against a stack.
type bench struct {
	gateway  string
	bearer   func(string) string
	run      string // prefix of every key and customer of this session
	step     time.Duration
	products []string
	sim      *paysim
	db       *pgxpool.Pool
}

func (b *bench) options(name string) load.Options {
	return load.Options{Gateway: b.gateway, Duration: b.step, Bearer: b.bearer, Run: b.run + name, Products: b.products}
}

// sustained is the rate the stack confirms with 32 customers ordering back
// to back, measured after as long again of the same load unmeasured, so
// that the adaptive limits start from what they learned under load, not
// from their initial values.
func (b *bench) sustained(ctx context.Context) (float64, error) {
	o := b.options("warm")
	o.Workers = 32
	if _, err := load.Place(ctx, o); err != nil {
		return 0, err
	}
	o = b.options("s")
	o.Workers = 32
	ps, err := load.Place(ctx, o)
	if err != nil {
		return 0, err
	}
	time.Sleep(5 * time.Second)
	return load.Summarize(ps, 0, b.step).Goodput, nil
}

// offer places factor × sustained orders a second for one step, after a
// pause that lets the stack settle.
func (b *bench) offer(ctx context.Context, name string, factor, sustained float64) (load.Summary, error) {
	time.Sleep(5 * time.Second)
	o := b.options(name)
	o.Rate = factor * sustained
	ps, err := load.Place(ctx, o)
	if err != nil {
		return load.Summary{}, err
	}
	return load.Summarize(ps, o.Rate, b.step), nil
}

// drain returns the seconds until no order is PENDING, or -1 after limit.
func (b *bench) drain(ctx context.Context, limit time.Duration) float64 {
	start := time.Now()
	for time.Since(start) < limit {
		var n int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = 'PENDING'`).Scan(&n); err == nil && n == 0 {
			return time.Since(start).Seconds()
		}
		time.Sleep(250 * time.Millisecond)
	}
	return -1
}

// flaky runs the flaky-provider scenario and records its numbers in res.
func (b *bench) flaky(ctx context.Context, res *Results) error {
	before, err := b.sim.charges(ctx)
	if err != nil {
		return err
	}
	if err := b.sim.setFaults(ctx, `{"error_rate":0.3,"drop_rate":0.3}`); err != nil {
		return err
	}
	s, err := b.offer(ctx, "flaky", 0.25, res.Sustained)
	_ = b.sim.setFaults(context.WithoutCancel(ctx), "{}")
	if err != nil {
		return err
	}
	st := stepOf(s, 0.25)
	res.FlakyProvider = &st
	if b.drain(ctx, time.Minute) < 0 {
		return errors.New("flaky provider: orders still PENDING a minute after the run")
	}
	after, err := b.sim.charges(ctx)
	if err != nil {
		return err
	}
	res.FlakyCharges = after - before
	if err := b.db.QueryRow(ctx, `SELECT count(*) FROM orders WHERE customer_id LIKE $1 AND status = 'CONFIRMED'`,
		b.run+"flaky-%").Scan(&res.FlakyConfirmed); err != nil {
		return err
	}
	res.FlakyConfirmedInside = float64(s.ByStatus[201]) / float64(s.Sent)
	fmt.Printf("flaky provider, 0.25×: %s; %.1f%% confirmed inside the request; %d charges for %d confirmed orders\n",
		s.String(), 100*res.FlakyConfirmedInside, res.FlakyCharges, res.FlakyConfirmed)
	return nil
}

func parseFactors(s string) []float64 {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		var f float64
		if _, err := fmt.Sscan(part, &f); err == nil && f > 0 {
			out = append(out, f)
		}
	}
	return out
}
