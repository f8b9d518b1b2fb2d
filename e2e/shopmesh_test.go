package e2e_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/e2e/check"
	"github.com/shopmesh/shopmesh/e2e/load"
	"github.com/shopmesh/shopmesh/e2e/stack"
)

// TestShopmesh runs the end-to-end suite against one stack, built from the
// repository's images on a private Docker network: Postgres, a 3-member
// etcd cluster, the collector, the payment-provider simulator, two
// replicas each of inventory, payment, shipping and order, and two
// gateways. The
// scenarios run one after another; each uses products and customers of its
// own, and puts back whatever it breaks, so the next finds a healthy stack.
// Run one alone with, e.g.:
//
//	go test -v -run 'TestShopmesh/faults/postgres' ./e2e/
//
// docs/testing.md says what each scenario proves.
func TestShopmesh(t *testing.T) {
	// A rotated certificate is picked up within a second (faults/every
	// certificate is re-issued), not the default 30.
	reload := map[string]string{"TLS_RELOAD_INTERVAL": "1s"}
	s := stack.StartWith(t, stack.Options{EtcdMembers: 3, Env: map[string]map[string]string{
		// Pick up orders left under way by a crash quickly: the shortest
		// claim that still holds PlaceOrder's whole budget (9s).
		"order": {"RECOVERY_AFTER": "10s", "RECOVERY_INTERVAL": "1s", "SHIPPING_RELAY_INTERVAL": "500ms",
			"TLS_RELOAD_INTERVAL": "1s"},
		"inventory": reload, "payment": reload, "shipping": reload, "gateway": reload,
	}})
	t.Run("order flow", func(t *testing.T) { testOrderFlow(t, s) })
	t.Run("storefront", func(t *testing.T) { testStorefront(t, s) })
	t.Run("saga", func(t *testing.T) { testSaga(t, s) })
	t.Run("weather", func(t *testing.T) { testWeather(t, s) })
	t.Run("faults", func(t *testing.T) { testFaults(t, s) })
}

// scenario is one run of the load against the stack while something
// breaks, and the check of its whole history afterwards.
type scenario struct {
	name string
	// Rate orders a second for Duration, each from a customer of its own,
	// over products of the scenario's own with ample stock, retried by the
	// client (same key, next gateway) on 503, 504, 429 or no answer.
	rate     float64
	duration time.Duration
	retries  int
	tokens   []string
	// during runs beside the load: the fault.
	during func(ctx context.Context)
	// parkedIsFine: NEEDS_ATTENTION orders are an expected outcome.
	parkedIsFine bool
}

// result is a scenario's history, settled, and its report.
type result struct {
	outcomes []check.Outcome
	report   check.Report
}

// run places the scenario's load while its fault runs, waits for every
// order to end, and checks the history against the system's own records
// (check.Verify); it fails the test on any broken invariant and prints the
// report either way.
func (sc scenario) run(t *testing.T, s *stack.Stack) result {
	t.Helper()
	ctx := t.Context()
	c := newClient(t, s.GatewayURL)
	sim := newPaysim(t, s)
	run := fmt.Sprintf("%s%d", strings.NewReplacer(" ", "", "-", "").Replace(sc.name), time.Now().UnixNano()%1e6)
	var products []string
	before := map[string]int64{}
	for i := range 4 {
		id := fmt.Sprintf("%s-p%d", run, i)
		c.createProduct(t, id, 100_000)
		products = append(products, id)
		before[id] = c.product(ctx, id).Available
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if sc.during != nil {
			sc.during(ctx)
		}
	}()
	ps, err := load.Place(ctx, load.Options{
		Gateways: s.GatewayURLs, Rate: sc.rate, Duration: sc.duration, Retries: sc.retries,
		Bearer: func(customer string) string { return stack.Bearer(customer) }, Run: run,
		Products: products, Tokens: sc.tokens,
	})
	<-done
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	outcomes, err := check.Settle(ctx, s.GatewayURL, func(customer string) string { return stack.Bearer(customer) }, ps, 3*time.Minute)
	if err != nil {
		t.Fatalf("settle: %v", err)
	}
	after := map[string]int64{}
	for _, id := range products {
		after[id] = c.product(ctx, id).Available
	}
	report, err := check.Verify(sc.name, outcomes, check.Records{
		Charges: sim.charges(t), StockBefore: before, StockAfter: after, ParkedIsFine: sc.parkedIsFine,
		Shipments: shipments(t, s, check.Orders(outcomes), time.Minute),
	})
	t.Log(report)
	if err != nil {
		t.Errorf("invariants broken: %v", err)
	}
	return result{outcomes: outcomes, report: report}
}

// shipments waits until the shipping service holds what the orders'
// statuses call for (order tells it after the fact, every
// SHIPPING_RELAY_INTERVAL), for at most wait, and returns what it holds.
func shipments(t *testing.T, s *stack.Stack, orders []check.Order, wait time.Duration) map[string]string {
	t.Helper()
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	deadline := time.Now().Add(wait)
	for {
		got, err := s.Shipments(t.Context(), ids)
		if err != nil {
			t.Fatal(err)
		}
		if check.Shipped(orders, got) == nil || time.Now().After(deadline) {
			return got
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// finalFailures returns the placements whose last answer said nothing was
// done, or none came.
func (r result) finalFailures() []check.Outcome {
	var out []check.Outcome
	for _, o := range r.outcomes {
		if o.Status == 0 || o.Status >= 500 || o.Status == http.StatusTooManyRequests {
			out = append(out, o)
		}
	}
	return out
}
