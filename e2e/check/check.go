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
			return out, fmt.Errorf("%d customers still have an order under way (or could not be read) after %v; first error: %v", len(pending), timeout, firstErr)
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
		resp, err := hc.Do(req)
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
			time.Sleep(200 * time.Millisecond)
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
//   - 402: one order, PAYMENT_DECLINED; 409: one order, REJECTED; 422
//     naming an order: that order, PAYMENT_FAILED;
//   - 429, 503, 504 or no answer: no CONFIRMED order: a 5xx means no order
//     was created, or nothing will be charged for it.
func Promises(outcomes []Outcome) error {
	var errs []error
	for _, o := range outcomes {
		if err := promise(o); err != nil {
			errs = append(errs, fmt.Errorf("%s (answered %d): %w", o.Key, o.Status, err))
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
	case http.StatusAccepted:
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
	}
	for _, ord := range o.Orders {
		if ord.Status == "CONFIRMED" {
			return fmt.Errorf("order %s is CONFIRMED although the answer said it failed", ord.ID)
		}
	}
	return nil
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
