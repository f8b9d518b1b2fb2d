// Command loadcurve measures how a running shopmesh (`make up`) behaves in
// bad weather, for `make bench` and docs/deadlines.md:
//
//   - saturation: the most orders a second the stack confirms inside their
//     request, found by offering rising rates open-loop (from what 32
//     customers ordering back to back get confirmed) until the goodput stops
//     growing;
//   - reads (bench-checkout): the highest rate of catalog reads the stack
//     answers (95 % with 200, p99 under a second), and its curve;
//   - profile (bench-checkout): a CPU profile of each service while orders
//     come at the saturation rate;
//   - slow provider: the provider answering in 2.5 s, at a quarter of the
//     saturation rate;
//   - flaky provider: 30 % of provider calls failing and 30 % of its
//     answers lost, at a quarter of the saturation rate: how many orders are
//     confirmed inside their request, and whether the charges equal the
//     confirmed orders;
//   - curve: goodput and latency offered open-loop from a quarter of the
//     saturation rate to four times it;
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
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/e2e/load"
	"github.com/shopmesh/shopmesh/e2e/stack"
	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
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
	Factor  float64     `json:"factor"` // offered rate / saturation rate
	Offered float64     `json:"offered_per_s"`
	Goodput float64     `json:"goodput_per_s"` // confirmed inside the request
	P50     float64     `json:"p50_ms"`        // of admitted requests
	P90     float64     `json:"p90_ms"`
	P99     float64     `json:"p99_ms"`
	Answers map[int]int `json:"answers"`
	// Rounds is the goodput of each round at this rate, in the order
	// offered, when the curve was offered more than once; the step's
	// numbers are then the medians of the rounds'.
	Rounds []float64 `json:"round_goodputs_per_s,omitempty"`
}

// Results is one run of every scenario against one configuration.
type Results struct {
	Label string `json:"label"` // the stack's OVERLOAD_LIMIT
	When  string `json:"when"`
	// Saturation is the most orders a second the stack confirmed inside
	// their request at any rate offered, and Search the steps that found it.
	Saturation float64 `json:"saturation_per_s"`
	Search     []Step  `json:"saturation_search,omitempty"`
	Curve      []Step  `json:"curve"`
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
	// Reads is the catalog's curve, and Profiled the orders placed at the
	// saturation rate while each service's CPU profile was taken.
	Reads    *Reads `json:"reads,omitempty"`
	Profiled *Step  `json:"profiled,omitempty"`
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
	factors := fs.String("factors", "0.25,0.5,1,1.5,2,3,4", "offered rates, as multiples of the saturation rate")
	rounds := fs.Int("rounds", 3, "how many times the curve is offered, every rate once a round; each rate's numbers are the medians of its rounds")
	scenarios := fs.String("scenarios", "curve,drain,slow,flaky", "which scenarios to run (also: reads, profile)")
	readSaturation := fs.Float64("read-saturation", 0, "the catalog's saturation rate, in reads/s; 0 searches for it")
	readFactors := fs.String("read-factors", "0.25,0.5,1,1.5,2", "reads offered, as multiples of the catalog's saturation rate")
	services := fs.String("profile-services", "gateway,order,inventory,payment,shipping", "whose CPU profile to take (one replica each, by its compose name)")
	adminPort := fs.String("admin-port", "9090", "the services' admin port, which serves /debug/pprof/")
	label := fs.String("label", "adaptive", "names the configuration measured (the stack's OVERLOAD_LIMIT)")
	out := fs.String("out", "/out", "directory for overload-<label>.json")
	plot := fs.String("plot", "", "draw every overload-*.json in -out into this PNG and exit")
	plotCheckout := fs.String("plot-checkout", "", "draw -out's overload-<label>.json as the checkout's latency curves into this PNG and exit")
	saturation := fs.Float64("saturation", 0, "the stack's saturation rate, in orders/s; 0 searches for it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: want at least 1", *rounds)
	}
	if *plot != "" {
		return drawPlot(*out, *plot)
	}
	if *plotCheckout != "" {
		return drawCheckout(filepath.Join(*out, "overload-"+*label+".json"), *plotCheckout)
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
	if res.Saturation = *saturation; res.Saturation > 0 {
		fmt.Printf("saturation: %.1f orders/s (given)\n", res.Saturation)
	} else if err := b.saturation(ctx, &res); err != nil {
		return err
	}
	if want["slow"] {
		if err := b.sim.setFaults(ctx, `{"latency":"2500ms"}`); err != nil {
			return err
		}
		s, err := b.offer(ctx, "slow", 0.25, res.Saturation)
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
		// One 20 s step per rate moved by a tenth between runs on one
		// stack; rounds that each offer every rate in turn spread the
		// machine's drift over all of them, and each number is the median
		// of a rate's rounds.
		curve := parseFactors(*factors)
		byFactor := make([][]load.Summary, len(curve))
		for r := range *rounds {
			for i, f := range curve {
				// Keys and customers allow letters, digits, '-' and '_' only.
				s, err := b.offer(ctx, fmt.Sprintf("c%03dr%d", int(f*100), r), f, res.Saturation)
				if err != nil {
					return err
				}
				fmt.Printf("%4.2f×, round %d: %s\n", f, r+1, s.String())
				byFactor[i] = append(byFactor[i], s)
			}
		}
		for i, f := range curve {
			res.Curve = append(res.Curve, medianStep(byFactor[i], f))
		}
		for _, s := range res.Curve {
			fmt.Printf("%4.2f×, median of %d: goodput %.1f/s (rounds %v), p50 %.0f ms, p99 %.0f ms\n",
				s.Factor, *rounds, s.Goodput, s.Rounds, s.P50, s.P99)
		}
	}
	printTargets(res.Curve, res.Saturation)
	if want["drain"] {
		res.DrainSeconds = b.drain(ctx)
		if res.DrainSeconds < 0 {
			fmt.Printf("orders still PENDING %s after the last step\n", drainLimit)
		} else {
			fmt.Printf("no order PENDING %.1fs after the last step\n", res.DrainSeconds)
		}
	}
	if want["reads"] {
		if res.Reads, err = b.reads(ctx, *readSaturation, parseFactors(*readFactors)); err != nil {
			return err
		}
	}
	if want["profile"] {
		st, err := b.profile(ctx, res.Saturation, strings.Split(*services, ","), *adminPort, filepath.Join(*out, "profiles"))
		if err != nil {
			return err
		}
		res.Profiled = &st
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

// saturation finds the stack's saturation rate: the most orders a second it
// confirms inside their request, open-loop. It starts from what 32
// customers ordering back to back get confirmed, measured after as long
// again of the same load unmeasured (so the limits start from what they
// learned under load, not from their initial values), and offers 15 % more
// a step until two steps in a row confirm no more (2 %) than the best so
// far. A closed loop alone is no measure with the limits on: a refused
// customer orders again at once, and 32 of them become a storm of refusals
// that confirms less than the stack can. Nor is the highest rate of which
// nearly all is confirmed: the limits refuse a few orders before the stack
// is at capacity, and a search on that stops at different rates from run
// to run.
func (b *bench) saturation(ctx context.Context, res *Results) error {
	o := b.options("warm")
	o.Workers = 32
	if _, err := load.Place(ctx, o); err != nil {
		return err
	}
	o = b.options("s")
	o.Workers = 32
	ps, err := load.Place(ctx, o)
	if err != nil {
		return err
	}
	closed := load.Summarize(ps, 0, b.step).Goodput
	fmt.Printf("closed loop, 32 customers: %.1f orders/s\n", closed)
	// The search climbs from half the closed-loop rate: a stack without
	// the limits confirms less open-loop than 32 customers get back to
	// back, and a search that started there began past the peak and
	// reported its first, collapsed step (33.8/s of a stack that holds
	// more than 60/s).
	const stepUp, maxSteps = 1.15, 14
	rate, flat := max(closed/2, 1), 0
	for i := 0; i < maxSteps && flat < 2 && rate <= load.MaxRate; i++ {
		s, err := b.offerRate(ctx, fmt.Sprintf("s%d", i), rate, b.step/2)
		if err != nil {
			return err
		}
		fmt.Printf("searching: %s\n", s.String())
		res.Search = append(res.Search, stepOf(s, 0))
		if s.Goodput > 1.02*res.Saturation {
			flat = 0
		} else {
			flat++
		}
		res.Saturation = max(res.Saturation, s.Goodput)
		rate *= stepUp
	}
	if res.Saturation == 0 {
		return errors.New("saturation: no order was confirmed at any rate offered")
	}
	fmt.Printf("saturation: %.1f orders/s\n", res.Saturation)
	return nil
}

// offer places factor × saturation orders a second for one step.
func (b *bench) offer(ctx context.Context, name string, factor, saturation float64) (load.Summary, error) {
	return b.offerRate(ctx, name, factor*saturation, b.step)
}

// offerRate places rate orders a second for d, after a pause that lets the
// stack settle.
func (b *bench) offerRate(ctx context.Context, name string, rate float64, d time.Duration) (load.Summary, error) {
	if !backoff.Sleep(ctx, 5*time.Second) {
		return load.Summary{}, ctx.Err()
	}
	o := b.options(name)
	o.Rate, o.Duration = rate, d
	ps, err := load.Place(ctx, o)
	if err != nil {
		return load.Summary{}, err
	}
	return load.Summarize(ps, o.Rate, d), nil
}

// drainLimit is how long drain waits for the last PENDING order to end.
const drainLimit = time.Minute

// drain returns the seconds until no order is PENDING, or -1 after
// drainLimit.
func (b *bench) drain(ctx context.Context) float64 {
	start := time.Now()
	for time.Since(start) < drainLimit {
		var n int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM orders WHERE status = 'PENDING'`).Scan(&n); err == nil && n == 0 {
			return time.Since(start).Seconds()
		}
		if !backoff.Sleep(ctx, 250*time.Millisecond) {
			return -1
		}
	}
	return -1
}

// flaky runs the flaky-provider scenario and records its numbers in res.
func (b *bench) flaky(ctx context.Context, res *Results) error {
	// Orders left PENDING by an earlier step (the search, without the
	// limits) are charged when recovery finishes them: let that happen
	// first, or their charges count as this run's.
	if b.drain(ctx) < 0 {
		return fmt.Errorf("flaky provider: orders of earlier steps still PENDING after %s", drainLimit)
	}
	before, err := b.sim.charges(ctx)
	if err != nil {
		return err
	}
	if err := b.sim.setFaults(ctx, `{"error_rate":0.3,"drop_rate":0.3}`); err != nil {
		return err
	}
	s, err := b.offer(ctx, "flaky", 0.25, res.Saturation)
	_ = b.sim.setFaults(context.WithoutCancel(ctx), "{}")
	if err != nil {
		return err
	}
	st := stepOf(s, 0.25)
	res.FlakyProvider = &st
	if b.drain(ctx) < 0 {
		return fmt.Errorf("flaky provider: orders still PENDING %s after the run", drainLimit)
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

// printTargets compares the curve with docs/deadlines.md's targets: goodput
// at 2× and 4× the saturation rate against the goodput at saturation (the
// most the search saw confirmed), and the p99 of admitted orders at 2×
// against the p99 at half of it.
func printTargets(curve []Step, saturation float64) {
	at := map[float64]Step{}
	for _, s := range curve {
		at[s.Factor] = s
	}
	for _, f := range []float64{2, 4} {
		if s, ok := at[f]; ok && saturation > 0 {
			fmt.Printf("goodput at %g× = %.0f %% of the saturation goodput (target ≥ 90 %%)", f, 100*s.Goodput/saturation)
			if one, ok := at[1]; ok && one.Goodput > 0 {
				fmt.Printf(", %.0f %% of the 1× step's", 100*s.Goodput/one.Goodput)
			}
			fmt.Println()
		}
	}
	if half, ok := at[0.5]; ok && half.P99 > 0 {
		if s, ok := at[2]; ok {
			fmt.Printf("p99 at 2× = %.1f × p99 at 0.5× (target ≤ 2)\n", s.P99/half.P99)
		}
	}
}

// medianStep sums up a rate's rounds: each number is the median of the
// rounds' (goodput, p50, p90 and p99 each on its own; the lower middle one
// for an even count), the answers those of the round with the median
// goodput, and Rounds every round's goodput.
func medianStep(rounds []load.Summary, factor float64) Step {
	median := func(of func(load.Summary) float64) float64 {
		v := make([]float64, len(rounds))
		for i, r := range rounds {
			v[i] = of(r)
		}
		slices.Sort(v)
		return v[(len(v)-1)/2]
	}
	byGoodput := slices.Clone(rounds)
	slices.SortFunc(byGoodput, func(a, b load.Summary) int { return cmp.Compare(a.Goodput, b.Goodput) })
	st := stepOf(byGoodput[(len(byGoodput)-1)/2], factor)
	st.P50 = median(func(s load.Summary) float64 { return ms(s.P50) })
	st.P90 = median(func(s load.Summary) float64 { return ms(s.P90) })
	st.P99 = median(func(s load.Summary) float64 { return ms(s.P99) })
	if len(rounds) > 1 {
		for _, r := range rounds {
			st.Rounds = append(st.Rounds, r.Goodput)
		}
	}
	return st
}

// keptUp reports whether a step's rate was kept up with: at least 95 % of
// what was offered answered as it should be, with a p99 under a second.
func keptUp(s load.Summary) bool {
	return s.Goodput >= 0.95*s.Offered && s.P99 < time.Second
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
