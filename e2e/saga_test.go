package e2e_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/e2e/check"
	"github.com/shopmesh/shopmesh/e2e/stack"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// testSaga breaks the order flow on purpose through the real stack and
// checks the invariants of DESIGN.md: stock never negative, nothing sold
// twice, no order charged twice, and every unsuccessful order has its
// stock back. The subtests use different products.
func testSaga(t *testing.T, s *stack.Stack) {
	c := newClient(t, s.GatewayURL)
	sim := newPaysim(t, s)

	t.Run("oversell: 50 buyers, 10 units", func(t *testing.T) {
		ctx := t.Context()
		c.setStock(t, "p-1004", 10)
		charges := sim.stats(t).Charges
		const buyers = 50
		statuses := make([]int, buyers)
		var wg sync.WaitGroup
		for i := range buyers {
			wg.Go(func() {
				// A burst on a cold stack may be refused (503, nothing
				// done) or outlast its budget (504, unknown); buyers repeat
				// with the same key, as clients do, and an order accepted
				// (202) is followed to its end.
				customer := fmt.Sprintf("buyer-%d", i)
				st, body := c.placeUntilAnswered(ctx, customer, "oversell", "p-1004", 1, "tok_visa")
				if st == http.StatusAccepted {
					if o := c.waitOrderID(t, customer, idOf(body), "", 60*time.Second); o.Status == "CONFIRMED" {
						st = http.StatusCreated
					} else if o.Status == "REJECTED" {
						st = http.StatusConflict
					}
				}
				statuses[i] = st
			})
		}
		wg.Wait()
		count := map[int]int{}
		for _, st := range statuses {
			count[st]++
		}
		if count[http.StatusCreated] != 10 || count[http.StatusConflict] != 40 {
			t.Errorf("outcomes %v, want 10 confirmed (201) and 40 rejected (409)", count)
		}
		if got := c.product(ctx, "p-1004").Available; got != 0 {
			t.Errorf("stock of p-1004 is %d, want 0", got)
		}
		if got := sim.stats(t).Charges - charges; got != 10 {
			t.Errorf("%d charges at the provider, want 10", got)
		}
	})

	t.Run("decline: stock back, no charge", func(t *testing.T) {
		ctx := t.Context()
		before, charges := c.product(ctx, "p-1005").Available, sim.stats(t).Charges
		status, body := c.place(ctx, "decliner", "decline-1", "p-1005", 2, "tok_decline")
		if status != http.StatusPaymentRequired {
			t.Fatalf("status %d (%s), want 402", status, body)
		}
		var p struct {
			Type    string `json:"type"`
			OrderID string `json:"order_id"`
		}
		_ = json.Unmarshal(body, &p)
		if o := c.order(t, "decliner", p.OrderID); o.Status != "PAYMENT_DECLINED" {
			t.Errorf("order %s is %s, want PAYMENT_DECLINED", p.OrderID, o.Status)
		}
		if got := c.product(ctx, "p-1005").Available; got != before {
			t.Errorf("stock of p-1005 is %d after a declined order, want %d (back)", got, before)
		}
		if got := sim.stats(t).Charges - charges; got != 0 {
			t.Errorf("%d charges for a declined order, want 0", got)
		}
	})

	t.Run("provider hangs: accepted, then confirmed once it answers, with one charge", func(t *testing.T) {
		ctx := t.Context()
		before, charges := c.product(ctx, "p-1001").Available, sim.stats(t).Charges
		sim.setFaults(t, `{"hang_rate":1}`)
		// The order is recorded but cannot finish inside the request: 202,
		// never a 5xx (a 5xx means no order or no charge).
		status, body := c.place(ctx, "patient", "hang-1", "p-1001", 1, "tok_visa")
		if status != http.StatusAccepted || !strings.Contains(string(body), `"status":"PENDING"`) {
			t.Fatalf("with the provider hanging: status %d (%s), want 202 with the order PENDING", status, body)
		}
		id := idOf(body)
		// A repeat while it is pending answers its current state, at once.
		if status, body = c.place(ctx, "patient", "hang-1", "p-1001", 1, "tok_visa"); status != http.StatusAccepted || idOf(body) != id {
			t.Errorf("repeat while pending: status %d (%s), want 202 with order %s", status, body, id)
		}
		sim.setFaults(t, `{}`)
		// Finished in the background, without a client retry.
		c.waitOrder(t, "patient", "CONFIRMED", 60*time.Second)
		status, body = c.place(ctx, "patient", "hang-1", "p-1001", 1, "tok_visa")
		if status != http.StatusOK || idOf(body) != id || !strings.Contains(string(body), `"status":"CONFIRMED"`) {
			t.Fatalf("repeat after the provider recovered: status %d (%s), want 200 with order %s CONFIRMED", status, body, id)
		}
		if got := sim.stats(t).Charges - charges; got != 1 {
			t.Errorf("%d charges at the provider, want exactly 1", got)
		}
		if got := c.product(ctx, "p-1001").Available; got != before-1 {
			t.Errorf("stock of p-1001 is %d, want %d", got, before-1)
		}
	})

	t.Run("same key twice and twenty times at once: one order each", func(t *testing.T) {
		ctx := t.Context()
		charges := sim.stats(t).Charges
		st1, first := c.place(ctx, "repeater", "dup-1", "p-1001", 1, "tok_visa")
		st2, second := c.place(ctx, "repeater", "dup-1", "p-1001", 1, "tok_visa")
		if st1 != http.StatusCreated || st2 != http.StatusOK || idOf(first) == "" || idOf(first) != idOf(second) {
			t.Errorf("sequential repeat: %d %q then %d %q, want 201 then 200 with one order", st1, idOf(first), st2, idOf(second))
		}
		ids := make([]string, 20)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				// One call gets 201; the others the same order, as a replay
				// (200) or, while its saga still runs, as it is (202).
				st, body := c.place(ctx, "repeater", "dup-2", "p-1001", 1, "tok_visa")
				if st == http.StatusCreated || st == http.StatusOK || st == http.StatusAccepted {
					ids[i] = idOf(body)
				}
			})
		}
		wg.Wait()
		if ids[0] != "" {
			if o := c.waitOrderID(t, "repeater", ids[0], "CONFIRMED", 30*time.Second); o.ID != ids[0] {
				t.Errorf("order %s did not confirm", ids[0])
			}
		}
		for i, id := range ids {
			if id == "" || id != ids[0] {
				t.Errorf("concurrent repeat %d got order %q, want %q", i, id, ids[0])
			}
		}
		if got := sim.stats(t).Charges - charges; got != 2 {
			t.Errorf("%d charges for two idempotency keys, want 2", got)
		}
	})

	t.Run("the provider refuses the payment details: 422, PAYMENT_FAILED, the stock back at once", func(t *testing.T) {
		ctx := t.Context()
		before, charges := c.product(ctx, "p-1003").Available, sim.stats(t).Charges
		status, body := c.place(ctx, "refused", "invalid-1", "p-1003", 2, "tok_invalid")
		var p struct {
			Type    string `json:"type"`
			OrderID string `json:"order_id"`
		}
		_ = json.Unmarshal(body, &p)
		if status != http.StatusUnprocessableEntity || !strings.HasSuffix(p.Type, "/payment_failed") {
			t.Fatalf("status %d (%s), want 422 payment_failed", status, body)
		}
		if o := c.order(t, "refused", p.OrderID); o.Status != "PAYMENT_FAILED" {
			t.Errorf("order %s is %s, want PAYMENT_FAILED", p.OrderID, o.Status)
		}
		// At once, not when the reservation would have expired.
		if got := c.product(ctx, "p-1003").Available; got != before {
			t.Errorf("stock of p-1003 is %d right after the refusal, want %d (back)", got, before)
		}
		if got := sim.stats(t).Charges - charges; got != 0 {
			t.Errorf("%d charges for a refused payment, want 0", got)
		}
	})

	t.Run("a cancellation while inventory is down: 202 CANCELLING, then CANCELLED with the stock back", func(t *testing.T) {
		ctx := t.Context()
		before := c.product(ctx, "p-1003").Available
		status, body := c.place(ctx, "canceller", "cancel-1", "p-1003", 1, "tok_visa")
		if status != http.StatusCreated {
			t.Fatalf("place: status %d (%s), want 201", status, body)
		}
		id, refunds := idOf(body), sim.stats(t).Refunds
		for _, inv := range s.Replicas("inventory") {
			s.Stop(t, inv, 10*time.Second)
		}
		var o order
		status, _ = c.do(ctx, http.MethodPost, "/v1/orders/"+id+"/cancel", map[string]string{"Authorization": stack.Bearer("canceller")}, nil, &o)
		if status != http.StatusAccepted || o.Status != "CANCELLING" {
			t.Errorf("cancel with inventory down: status %d, order %s; want 202 CANCELLING", status, o.Status)
		}
		if got := sim.stats(t).Refunds - refunds; got != 1 {
			t.Errorf("%d refunds while inventory is down, want 1: the money goes back first", got)
		}
		for _, inv := range s.Replicas("inventory") {
			s.Start(t, inv)
		}
		c.waitOrderID(t, "canceller", id, "CANCELLED", 90*time.Second)
		if got := c.product(ctx, "p-1003").Available; got != before {
			t.Errorf("stock of p-1003 is %d after the cancellation, want %d (back)", got, before)
		}
		if got := sim.stats(t).Refunds - refunds; got != 1 {
			t.Errorf("%d refunds in all, want 1", got)
		}
	})

	t.Run("order service killed between charge and commit: recovery confirms, one charge", func(t *testing.T) {
		ctx := t.Context()
		before, charges := c.product(ctx, "p-1002").Available, sim.stats(t).Charges
		// A slow provider keeps the saga inside Charge long enough to kill it there.
		sim.setFaults(t, `{"latency":"1500ms"}`)
		placed := make(chan int, 1)
		go func() {
			st, _ := c.place(ctx, "crasher", "crash-1", "p-1002", 1, "tok_visa")
			placed <- st
		}()
		time.Sleep(700 * time.Millisecond)
		for _, o := range s.Replicas("order") {
			s.Stop(t, o, 0) // SIGKILL: no drain, no deregistration
		}
		// The request fails (5xx), or a twin replica still alive for a
		// moment answers the order as it is (202, PENDING).
		if st := <-placed; st < 500 && st != http.StatusAccepted {
			t.Errorf("placing while order died: status %d, want a 5xx or 202", st)
		}
		sim.setFaults(t, `{}`)
		for _, o := range s.Replicas("order") {
			s.Start(t, o)
		}
		o := c.waitOrder(t, "crasher", "CONFIRMED", 60*time.Second)
		if got := sim.stats(t).Charges - charges; got != 1 {
			t.Errorf("order %s: %d charges at the provider, want exactly 1", o.ID, got)
		}
		if got := c.product(ctx, "p-1002").Available; got != before-1 {
			t.Errorf("stock of p-1002 is %d, want %d", got, before-1)
		}
	})
}

// place posts an order of qty × product for customer with key, and returns
// the status and the raw body.
func (c *client) place(ctx context.Context, customer, key, product string, qty int, token string) (int, []byte) {
	body, _ := json.Marshal(map[string]any{
		"items": []map[string]any{{"product_id": product, "quantity": qty}}, "payment_token": token,
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/orders", bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", stack.Bearer(customer))
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer httpclient.DrainAndClose(resp.Body)
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, raw
}

// placeUntilAnswered is place, repeated with the same key while the answer
// says nothing was done or the outcome is unknown (503, 504, 429, none),
// at most ten times.
func (c *client) placeUntilAnswered(ctx context.Context, customer, key, product string, qty int, token string) (int, []byte) {
	for attempt := 1; ; attempt++ {
		status, body := c.place(ctx, customer, key, product, qty, token)
		switch status {
		case 0, http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if attempt < 10 {
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		return status, body
	}
}

func idOf(body []byte) string {
	var o order
	_ = json.Unmarshal(body, &o)
	return o.ID
}

// order fetches one of customer's orders.
func (c *client) order(t *testing.T, customer, id string) order {
	t.Helper()
	var o order
	if status, _ := c.do(t.Context(), http.MethodGet, "/v1/orders/"+id, map[string]string{"Authorization": stack.Bearer(customer)}, nil, &o); status != http.StatusOK {
		t.Fatalf("GET order %q of %s: status %d", id, customer, status)
	}
	return o
}

// waitOrderID polls one of customer's orders until it has status want
// ("": until it is no longer under way). It fails the test with Errorf,
// not Fatalf, so it may run in a goroutine of the test; the caller checks
// the order it returns.
func (c *client) waitOrderID(t *testing.T, customer, id, want string, timeout time.Duration) order {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var o order
	for time.Now().Before(deadline) {
		var got order
		status, _ := c.do(t.Context(), http.MethodGet, "/v1/orders/"+id, map[string]string{"Authorization": stack.Bearer(customer)}, nil, &got)
		switch status {
		case http.StatusOK:
			o = got
			if o.Status == want || want == "" && o.Status != "PENDING" && o.Status != "CANCELLING" {
				return o
			}
		case http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusTooManyRequests:
			// A busy stack may turn a read away or outlast its budget; a
			// client polling an order asks again.
		default:
			t.Errorf("GET order %q of %s: status %d", id, customer, status)
			return o
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Errorf("order %s of %s after %v: %s, want %s", id, customer, timeout, o.Status, want)
	return o
}

// waitOrder polls customer's only order until it has status want.
func (c *client) waitOrder(t *testing.T, customer, want string, timeout time.Duration) order {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []order
	for time.Now().Before(deadline) {
		var page struct {
			Orders []order `json:"orders"`
		}
		if status, _ := c.do(t.Context(), http.MethodGet, "/v1/orders", map[string]string{"Authorization": stack.Bearer(customer)}, nil, &page); status == http.StatusOK {
			last = page.Orders
			if len(page.Orders) == 1 && page.Orders[0].Status == want {
				return page.Orders[0]
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("orders of %s after %v: %+v, want one %s", customer, timeout, last, want)
	return order{}
}

// setStock sets a product's stock through the admin API, as an operator
// would.
func (c *client) setStock(t *testing.T, id string, n int) {
	t.Helper()
	var p product
	status, _ := c.do(t.Context(), http.MethodPut, "/v1/admin/products/"+id+"/stock",
		map[string]string{"Authorization": stack.Bearer("ops", "admin")}, map[string]any{"available": n}, &p)
	if status != http.StatusOK || p.Available != int64(n) {
		t.Fatalf("set stock of %s to %d: status %d, available %d", id, n, status, p.Available)
	}
}

// paysim is the test's view of the provider simulator.
type paysim struct {
	http *http.Client
	base string
}

func newPaysim(t *testing.T, s *stack.Stack) *paysim {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(s.CertsDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc, err := httpclient.New(httpclient.Options{Name: "paysim-admin", Timeout: 5 * time.Second,
		TLSConfig: &tls.Config{RootCAs: roots, ServerName: "paysim", MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	return &paysim{http: hc, base: s.PaysimURL}
}

type paysimStats struct {
	Charges  int `json:"charges"`
	Declines int `json:"declines"`
	Refunds  int `json:"refunds"`
}

func (p *paysim) stats(t *testing.T) paysimStats {
	t.Helper()
	var st paysimStats
	p.call(t.Context(), t, http.MethodGet, "/v1/stats", "", &st)
	return st
}

// charges lists every charge the simulator made, with its key.
func (p *paysim) charges(t *testing.T) []check.Charge {
	t.Helper()
	var list struct {
		Charges []check.Charge `json:"charges"`
	}
	p.call(t.Context(), t, http.MethodGet, "/admin/charges", "", &list)
	return list.Charges
}

// setFaults sets the simulator's faults until the test ends, so a failing
// subtest cannot leave them on for the next one.
func (p *paysim) setFaults(t *testing.T, faults string) {
	t.Helper()
	p.call(t.Context(), t, http.MethodPost, "/admin/faults", faults, nil)
	t.Cleanup(func() {
		// The test's context is already canceled when cleanups run.
		p.call(context.WithoutCancel(t.Context()), t, http.MethodPost, "/admin/faults", "{}", nil)
	})
}

func (p *paysim) call(ctx context.Context, t *testing.T, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+stack.PSPAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.http.Do(req)
	if err != nil {
		t.Fatalf("paysim %s %s: %v", method, path, err)
	}
	defer httpclient.DrainAndClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		t.Fatalf("paysim %s %s: %s: %s", method, path, resp.Status, raw)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("paysim %s %s: decode: %v", method, path, err)
		}
	}
}
