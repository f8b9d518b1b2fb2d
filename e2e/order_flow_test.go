package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/e2e/check"
	"github.com/shopmesh/shopmesh/e2e/stack"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
)

// product and order are the parts of the gateway's JSON the tests read.
type product struct {
	ID        string `json:"id"`
	Available int64  `json:"available"`
	Price     struct {
		Currency    string `json:"currency"`
		AmountMinor int64  `json:"amount_minor"`
	} `json:"price"`
}

type order struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Total  struct {
		Currency    string `json:"currency"`
		AmountMinor int64  `json:"amount_minor"`
	} `json:"total"`
}

// client talks to the gateway like a shop frontend would.
type client struct {
	t    *testing.T
	http *http.Client
	base string
}

func newClient(t *testing.T, base string) *client {
	// The gateway may take its whole request budget (10s) to answer, e.g.
	// with a 504 while the provider hangs: wait for it.
	hc, err := httpclient.New(httpclient.Options{Name: "e2e", Timeout: 15 * time.Second, ResponseHeaderTimeout: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, http: hc, base: base}
}

// do sends a request and decodes a JSON answer into out; it returns the
// status and the response headers.
func (c *client) do(ctx context.Context, method, path string, headers map[string]string, body, out any) (int, http.Header) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer httpclient.DrainAndClose(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			c.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode, resp.Header
}

func (c *client) product(ctx context.Context, id string) product {
	c.t.Helper()
	var p product
	if status, _ := c.do(ctx, http.MethodGet, "/v1/products/"+id, nil, nil, &p); status != http.StatusOK {
		c.t.Fatalf("GET product %s: status %d", id, status)
	}
	return p
}

// testOrderFlow places an order through the gateway and checks the whole
// path: the order is confirmed, stock went down by the quantity, the total
// is the inventory's price times the quantity, and one trace id ties
// together the spans of gateway, order, inventory, payment and the call to
// the provider, and the log lines every service wrote for the request.
func testOrderFlow(t *testing.T, s *stack.Stack) {
	ctx := t.Context()
	c := newClient(t, s.GatewayURL)

	before := c.product(ctx, "p-1002")
	const qty = 3
	var placed order
	status, hdr := c.do(ctx, http.MethodPost, "/v1/orders",
		map[string]string{"Authorization": stack.Bearer("alice"), "Idempotency-Key": "e2e-order-1"},
		map[string]any{"items": []map[string]any{{"product_id": "p-1002", "quantity": qty}}, "payment_token": "tok_visa"},
		&placed)
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/orders: status %d, want 201", status)
	}
	if placed.Status != "CONFIRMED" {
		t.Fatalf("order status %q, want CONFIRMED", placed.Status)
	}
	if want := before.Price.AmountMinor * qty; placed.Total.AmountMinor != want || placed.Total.Currency != before.Price.Currency {
		t.Errorf("total %d %s, want %d %s", placed.Total.AmountMinor, placed.Total.Currency, want, before.Price.Currency)
	}
	if after := c.product(ctx, "p-1002"); after.Available != before.Available-qty {
		t.Errorf("stock of p-1002: %d after the order, want %d", after.Available, before.Available-qty)
	}

	var fetched order
	if status, _ := c.do(ctx, http.MethodGet, "/v1/orders/"+placed.ID, map[string]string{"Authorization": stack.Bearer("alice")}, nil, &fetched); status != http.StatusOK || fetched.Status != "CONFIRMED" {
		t.Errorf("GET order: status %d, order status %q; want 200 CONFIRMED", status, fetched.Status)
	}
	if status, _ := c.do(ctx, http.MethodGet, "/v1/orders/"+placed.ID, map[string]string{"Authorization": stack.Bearer("bob")}, nil, nil); status != http.StatusNotFound {
		t.Errorf("GET alice's order as bob: status %d, want 404", status)
	}
	if status, hdr := c.do(ctx, http.MethodGet, "/v1/orders", nil, nil, nil); status != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") == "" {
		t.Errorf("GET /v1/orders without a token: status %d, WWW-Authenticate %q; want 401 with a challenge", status, hdr.Get("WWW-Authenticate"))
	}

	traceID := traceIDOf(t, hdr.Get("Traceparent"))
	want := []string{"gateway", "order", "inventory", "payment"}
	seen := waitForTrace(t, s, traceID, want...)
	if !contains(seen["payment"], "psp POST") {
		t.Errorf("payment's spans %v lack the call to the provider (psp POST)", seen["payment"])
	}
	// Every log line made while serving the request carries its trace id:
	// each service logged some, on whichever replica served it.
	for _, svc := range want {
		if n := s.LogLinesWith(t, svc, `"trace_id":"`+traceID+`"`); n == 0 {
			t.Errorf("no log line of %s carries the request's trace id %s", svc, traceID)
		}
	}
	testShipped(t, s, placed.ID)
}

// testShipped: after the order is confirmed, order's shipping relay tells
// shipping (found through etcd, over mTLS, authorized as order), which
// records the shipment; the call is traced from order into shipping.
func testShipped(t *testing.T, s *stack.Stack, orderID string) {
	ctx := t.Context()
	if got := shipments(t, s, []check.Order{{ID: orderID, Status: "CONFIRMED"}}, 30*time.Second); got[orderID] != "CREATED" {
		t.Fatalf("order %s is CONFIRMED but after 30s its shipment is %q, want CREATED", orderID, got[orderID])
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans, err := s.Spans(ctx)
		if err != nil {
			t.Fatal(err)
		}
		byTrace := map[string]map[string]bool{}
		for _, sp := range spans {
			if strings.Contains(sp.Name, "CreateShipment") {
				if byTrace[sp.TraceID] == nil {
					byTrace[sp.TraceID] = map[string]bool{}
				}
				byTrace[sp.TraceID][sp.Service] = true
			}
		}
		for _, services := range byTrace {
			if services["order"] && services["shipping"] {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no trace holds CreateShipment spans of both order and shipping (%d traces with one)", len(byTrace))
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func traceIDOf(t *testing.T, traceparent string) string {
	t.Helper()
	parts := strings.Split(traceparent, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		t.Fatalf("response traceparent %q is not W3C trace context", traceparent)
	}
	return parts[1]
}

// waitForTrace waits until the collector holds spans of traceID from every
// one of services, and returns the names of the trace's spans by service.
func waitForTrace(t *testing.T, s *stack.Stack, traceID string, services ...string) map[string][]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		spans, err := s.Spans(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string][]string{}
		for _, sp := range spans {
			if sp.TraceID == traceID {
				seen[sp.Service] = append(seen[sp.Service], sp.Name)
			}
		}
		if hasAll(seen, services) {
			return seen
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %s has spans from %v, want every one of %v", traceID, seen, services)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func hasAll(seen map[string][]string, services []string) bool {
	for _, s := range services {
		if len(seen[s]) == 0 {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
