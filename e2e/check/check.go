// Package check reads back, through the public API, what became of the
// orders a load run placed, and states the invariants every run must keep
// (DESIGN.md, order flow, and docs/deadlines.md's answers): what each answer
// promised is what happened.
package check

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/shopmesh/shopmesh/e2e/load"
	"github.com/shopmesh/shopmesh/pkg/platform/backoff"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// Order is the part of an order the checks read.
type Order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Lines  []struct {
		ProductID string `json:"product_id"`
		Quantity  int    `json:"quantity"`
	} `json:"lines"`
}

// Outcome is one placement and the orders its customer has: exactly what
// that one request created, since every placement has a customer of its own.
type Outcome struct {
	load.Placement
	Orders []Order
}

// Settle waits until no order of the placements' customers is under way
// (PENDING or CANCELLING; or timeout passes) and returns every placement with its customer's orders.
// It reads with bearer(customer) through the gateway, a few customers at a
// time, retrying refusals (503, 429) as a client would.
func Settle(ctx context.Context, gateway string, bearer func(string) string, ps []load.Placement, timeout time.Duration) ([]Outcome, error) {
	hc, err := httpclient.New(httpclient.Options{Name: "check", Timeout: 10 * time.Second, ResponseHeaderTimeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	defer hc.CloseIdleConnections()
	out := make([]Outcome, len(ps))
	for i, p := range ps {
		out[i].Placement = p
	}
	end := time.Now().Add(timeout)
	pending := make([]int, len(out))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		var mu sync.Mutex
		var still []int
		var firstErr error
		sem := make(chan struct{}, 16)
		var wg sync.WaitGroup
		for _, i := range pending {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				orders, err := ordersOf(ctx, hc, gateway, bearer(out[i].Customer))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
					still = append(still, i)
				case anyUnderWay(orders):
					still = append(still, i)
				}
				out[i].Orders = orders
			})
		}
		wg.Wait()
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Now().After(end) {
			return out, fmt.Errorf("%d customers still have an order under way (or could not be read) after %v; first error: %w", len(pending), timeout, firstErr)
		}
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return out, nil
}

// anyUnderWay reports whether a placement or a cancellation of orders is
// still under way (docs/order-states.md).
func anyUnderWay(orders []Order) bool {
	for _, o := range orders {
		if o.Status == "PENDING" || o.Status == "CANCELLING" {
			return true
		}
	}
	return false
}

func ordersOf(ctx context.Context, hc *http.Client, gateway, auth string) ([]Order, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(gateway, "/")+"/v1/orders?page_size=10", nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", auth)
		resp, err := hc.Do(req) //nolint:bodyclose // httpclient.DrainAndClose closes it below
		if err != nil {
			return nil, err
		}
		var page struct {
			Orders []Order `json:"orders"`
		}
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		httpclient.DrainAndClose(resp.Body)
		switch {
		case resp.StatusCode == http.StatusOK:
			if err := json.Unmarshal(buf.Bytes(), &page); err != nil {
				return nil, fmt.Errorf("GET /v1/orders: %w", err)
			}
			return page.Orders, nil
		case (resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests) && attempt < 20:
			if !backoff.Sleep(ctx, 200*time.Millisecond) {
				return nil, ctx.Err()
			}
		default:
			return nil, fmt.Errorf("GET /v1/orders: %s: %s", resp.Status, buf.Bytes())
		}
	}
}

// Answers fails for every placement whose status is not among allowed (0
// stands for no answer at all).
func Answers(outcomes []Outcome, allowed ...int) error {
	ok := map[int]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	var errs []error
	for _, o := range outcomes {
		if !ok[o.Status] {
			errs = append(errs, fmt.Errorf("%s: answered %d (%s), want one of %v", o.Key, o.Status, o.Err, allowed))
		}
	}
	return first(errs)
}

// Promises fails for every placement whose answer promised something that
// did not happen:
//
//   - 201: one order, CONFIRMED, the one the answer named;
//   - 202: one order, the one the answer named, ended in a final state;
//   - 200 (a repeat, after a retry): one order, the one the answer named;
//   - 402: one order, PAYMENT_DECLINED; 409: one order, REJECTED; 422
//     naming an order: that order, PAYMENT_FAILED;
//   - 429 or 503: no CONFIRMED order: nothing was done, no order was
//     created, or nothing will be charged for it; unless an earlier attempt
//     of the same key was answered 504 or not at all: a refusal speaks for
//     its own attempt only, and the earlier one's outcome stays unknown;
//   - 504 or no answer: the outcome is unknown; any order may exist.
func Promises(outcomes []Outcome) error {
	var errs []error
	for _, o := range outcomes {
		if err := promise(o); err != nil {
			errs = append(errs, fmt.Errorf("%s (answered %d; its attempts %v): %w", o.Key, o.Status, statuses(o.Attempts), err))
		}
	}
	return first(errs)
}

func promise(o Outcome) error {
	one := func(status string) error {
		if len(o.Orders) != 1 || o.Orders[0].Status != status || o.OrderID != "" && o.Orders[0].ID != o.OrderID {
			return fmt.Errorf("customer has %v, want exactly order %s %s", o.Orders, o.OrderID, status)
		}
		return nil
	}
	switch o.Status {
	case http.StatusCreated:
		return one("CONFIRMED")
	case http.StatusAccepted, http.StatusOK:
		// 202: recorded and finished later; 200: a repeat of a placement
		// that took place (a retry after a lost answer), in any state.
		if len(o.Orders) != 1 || o.Orders[0].ID != o.OrderID {
			return fmt.Errorf("customer has %v, want exactly order %s", o.Orders, o.OrderID)
		}
		return nil
	case http.StatusPaymentRequired:
		return one("PAYMENT_DECLINED")
	case http.StatusConflict:
		return one("REJECTED")
	case http.StatusUnprocessableEntity:
		if o.OrderID != "" {
			return one("PAYMENT_FAILED")
		}
	case http.StatusGatewayTimeout, 0:
		return nil
	}
	if unknownBefore(o.Attempts) {
		return nil
	}
	for _, ord := range o.Orders {
		if ord.Status == "CONFIRMED" {
			return fmt.Errorf("order %s is CONFIRMED although the answer said it failed", ord.ID)
		}
	}
	return nil
}

// unknownBefore reports whether an attempt before the last was answered
// 504 or not at all: it may have placed the order.
func unknownBefore(attempts []load.Attempt) bool {
	for _, a := range attempts[:max(0, len(attempts)-1)] {
		if a.Status == http.StatusGatewayTimeout || a.Status == 0 {
			return true
		}
	}
	return false
}

// statuses lists the attempts' HTTP statuses (0: no answer).
func statuses(attempts []load.Attempt) []int {
	out := make([]int, len(attempts))
	for i, a := range attempts {
		out[i] = a.Status
	}
	return out
}

// Confirmed counts the CONFIRMED orders and the units of each product they
// took.
func Confirmed(outcomes []Outcome) (orders int, units map[string]int) {
	units = map[string]int{}
	for _, o := range outcomes {
		for _, ord := range o.Orders {
			if ord.Status != "CONFIRMED" {
				continue
			}
			orders++
			for _, l := range ord.Lines {
				units[l.ProductID] += l.Quantity
			}
		}
	}
	return orders, units
}

// ByStatus counts placements per answer.
func ByStatus(outcomes []Outcome) map[int]int {
	m := map[int]int{}
	for _, o := range outcomes {
		m[o.Status]++
	}
	return m
}

// first joins up to five errors and says how many there were.
func first(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	shown := errs[:min(5, len(errs))]
	return fmt.Errorf("%d of them, first %d: %w", len(errs), len(shown), errors.Join(shown...))
}

// Charge is a charge at the payment provider, as its simulator lists them
// (GET /admin/charges): payment charges an order under the key
// "charge-<order id>".
type Charge struct {
	Key      string `json:"idempotency_key"`
	Status   string `json:"status"` // succeeded, declined
	Refunded bool   `json:"refunded"`
}

// Records is what the system says after a scenario, read from its own
// records rather than from the answers: the provider's charges and the
// stock of the scenario's products before and after.
type Records struct {
	Charges      []Charge
	StockBefore  map[string]int64
	StockAfter   map[string]int64
	ParkedIsFine bool // NEEDS_ATTENTION orders are expected (a refused refund, say)
	// Shipments is each order's shipment status in the shipping service
	// (CREATED, CANCELLED), by order id; an order without one is absent.
	// Nil: not checked.
	Shipments map[string]string
}

// Report sums a scenario up: what the load did and which invariants held.
type Report struct {
	Scenario     string
	Sent         int         // placements (customers, keys)
	Attempts     int         // requests, retries included
	Acknowledged int         // placements whose last answer named an order
	Final        map[int]int // placements by their last answer (0: none)
	Orders       map[string]int
	Checked      []string // the invariants checked, each with what it covered
}

// String prints the report on a few lines.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d placements, %d requests (%d retries), %d acknowledged; last answers %v; orders %v",
		r.Scenario, r.Sent, r.Attempts, r.Attempts-r.Sent, r.Acknowledged, r.Final, r.Orders)
	for _, c := range r.Checked {
		fmt.Fprintf(&b, "\n  ok: %s", c)
	}
	return b.String()
}

// Verify checks a scenario's whole history (its settled outcomes) against
// the system's records, in the spirit of Jepsen and etcd's robustness
// tests: inject, record, then check everything that happened.
//
//   - every answer kept its promise (Promises): an acknowledged order exists,
//     with the answered status or a later final one; a refusal created no
//     confirmed order;
//   - no key made two orders;
//   - no order is still under way;
//   - every CONFIRMED order was charged exactly once, and not refunded;
//   - every other order has no net charge;
//   - the stock moved by exactly the units the CONFIRMED orders hold;
//   - every CONFIRMED order, and no other, is to be shipped;
//   - no order is parked, unless the scenario expects it.
func Verify(scenario string, outcomes []Outcome, rec Records) (Report, error) {
	r := Report{Scenario: scenario, Sent: len(outcomes), Final: map[int]int{}, Orders: map[string]int{}}
	var errs []error
	charges := map[string]Charge{}
	for _, c := range rec.Charges {
		charges[c.Key] = c
	}
	taken := func(id string) bool {
		c, ok := charges["charge-"+id]
		return ok && c.Status == "succeeded" && !c.Refunded
	}
	var orders []Order
	for _, o := range outcomes {
		r.Attempts += max(1, len(o.Attempts))
		r.Final[o.Status]++
		if o.OrderID != "" {
			r.Acknowledged++
		}
		if len(o.Orders) > 1 {
			errs = append(errs, fmt.Errorf("key %s made %d orders: %v", o.Key, len(o.Orders), o.Orders))
		}
		orders = append(orders, o.Orders...)
	}
	if err := Promises(outcomes); err != nil {
		errs = append(errs, err)
	}
	r.Checked = append(r.Checked,
		fmt.Sprintf("every answer kept its promise (%d placements, %d acknowledged)", r.Sent, r.Acknowledged),
		"no key made two orders")
	confirmed, units := 0, map[string]int{}
	for _, o := range orders {
		r.Orders[o.Status]++
		switch o.Status {
		case "PENDING", "CANCELLING":
			errs = append(errs, fmt.Errorf("order %s is still %s", o.ID, o.Status))
		case "NEEDS_ATTENTION":
			if !rec.ParkedIsFine {
				errs = append(errs, fmt.Errorf("order %s is parked (NEEDS_ATTENTION)", o.ID))
			}
		case "CONFIRMED":
			confirmed++
			if !taken(o.ID) {
				errs = append(errs, fmt.Errorf("order %s is CONFIRMED but the provider holds no charge for it (%+v)", o.ID, charges["charge-"+o.ID]))
			}
			for _, l := range o.Lines {
				units[l.ProductID] += l.Quantity
			}
		default:
			if taken(o.ID) {
				errs = append(errs, fmt.Errorf("order %s is %s but the provider holds its money", o.ID, o.Status))
			}
		}
	}
	r.Checked = append(r.Checked, fmt.Sprintf("no order under way (%d orders)", len(orders)),
		fmt.Sprintf("%d CONFIRMED orders charged once each, every other order with no net charge", confirmed))
	if rec.StockBefore != nil {
		for p, before := range rec.StockBefore {
			if got, want := before-rec.StockAfter[p], int64(units[p]); got != want {
				errs = append(errs, fmt.Errorf("stock of %s went down by %d, want %d (the units of the confirmed orders)", p, got, want))
			}
		}
		r.Checked = append(r.Checked, fmt.Sprintf("stock moved by exactly the confirmed units (%d products)", len(rec.StockBefore)))
	}
	if rec.Shipments != nil {
		if err := Shipped(orders, rec.Shipments); err != nil {
			errs = append(errs, err)
		}
		r.Checked = append(r.Checked, fmt.Sprintf("every CONFIRMED order and no other is to be shipped (%d orders)", len(orders)))
	}
	return r, first(errs)
}

// Shipped checks the shipping service's shipments (by order id) against
// the orders: a CONFIRMED order has a CREATED shipment, and any other order
// none, or a CANCELLED one.
func Shipped(orders []Order, shipments map[string]string) error {
	var errs []error
	for _, o := range orders {
		got := shipments[o.ID]
		switch {
		case o.Status == "CONFIRMED" && got != "CREATED":
			errs = append(errs, fmt.Errorf("order %s is CONFIRMED but its shipment is %q, want CREATED", o.ID, got))
		case o.Status != "CONFIRMED" && got == "CREATED":
			errs = append(errs, fmt.Errorf("order %s is %s but is to be shipped", o.ID, o.Status))
		}
	}
	return first(errs)
}

// Orders returns the orders of outcomes.
func Orders(outcomes []Outcome) []Order {
	var out []Order
	for _, o := range outcomes {
		out = append(out, o.Orders...)
	}
	return out
}
