package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

func TestAPI_RateLimit(t *testing.T) {
	t.Parallel()
	inv := &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
		return &inventoryv1.ListProductsResponse{}, nil
	}}
	orders := &fakeOrders{listOrders: func(context.Context, *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
		return &orderv1.ListOrdersResponse{}, nil
	}}
	// A burst of 2 and one token every 10s: the third request is refused.
	slow := withRateLimit(0.1, 2)

	t.Run("the burst is spent, then 429 with Retry-After", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, inv, orders, slow)
		for i := range 2 {
			if rec := serve(t, h, http.MethodGet, "/v1/orders", as("c-1"), ""); rec.Code != http.StatusOK {
				t.Fatalf("request %d: got status %d, want 200", i+1, rec.Code)
			}
		}
		rec := serve(t, h, http.MethodGet, "/v1/orders", as("c-1"), "")
		wantProblem(t, rec, http.StatusTooManyRequests, "rate_limited")
		secs, err := strconv.Atoi(rec.Result().Header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 10 {
			t.Errorf("got Retry-After %q, want 1..10 seconds", rec.Result().Header.Get("Retry-After"))
		}
	})

	t.Run("each subject has its own bucket", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, inv, orders, slow)
		for range 2 {
			serve(t, h, http.MethodGet, "/v1/orders", as("c-1"), "")
		}
		if rec := serve(t, h, http.MethodGet, "/v1/orders", as("c-2"), ""); rec.Code != http.StatusOK {
			t.Errorf("c-2 after c-1 spent its burst: got status %d, want 200", rec.Code)
		}
		if rec := serve(t, h, http.MethodGet, "/v1/products", nil, ""); rec.Code != http.StatusOK {
			t.Errorf("anonymous after c-1 spent its burst: got status %d, want 200", rec.Code)
		}
	})

	t.Run("anonymous clients are limited by IP, whatever X-Forwarded-For says", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, inv, orders, slow)
		for i, xff := range []string{"198.51.100.1", "198.51.100.2"} {
			if rec := serve(t, h, http.MethodGet, "/v1/products", map[string]string{"X-Forwarded-For": xff}, ""); rec.Code != http.StatusOK {
				t.Fatalf("request %d: got status %d, want 200", i+1, rec.Code)
			}
		}
		rec := serve(t, h, http.MethodGet, "/v1/products", map[string]string{"X-Forwarded-For": "198.51.100.3"}, "")
		wantProblem(t, rec, http.StatusTooManyRequests, "rate_limited")
	})

	t.Run("refused tokens count against the IP", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, inv, orders, slow)
		bad := map[string]string{"Authorization": "Bearer nope"}
		for range 2 {
			wantProblem(t, serve(t, h, http.MethodGet, "/v1/orders", bad, ""), http.StatusUnauthorized, "unauthenticated")
		}
		wantProblem(t, serve(t, h, http.MethodGet, "/v1/orders", bad, ""), http.StatusTooManyRequests, "rate_limited")
	})
}

// TestAPI_RateLimitIPv6Net: anonymous requests from two addresses of one
// IPv6 /64 share one budget; another /64 has its own.
func TestAPI_RateLimitIPv6Net(t *testing.T) {
	t.Parallel()
	inv := &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
		return &inventoryv1.ListProductsResponse{}, nil
	}}
	h := newHandler(t, inv, nil, withRateLimit(0.001, 1))
	from := func(addr string) int {
		req := httptest.NewRequest(http.MethodGet, "/v1/products", nil)
		req.RemoteAddr = addr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if got := from("[2001:db8:1:2::1]:40000"); got != http.StatusOK {
		t.Fatalf("first request: %d, want 200", got)
	}
	if got := from("[2001:db8:1:2::99]:40001"); got != http.StatusTooManyRequests {
		t.Errorf("same /64, another address: %d, want 429 (one budget per /64)", got)
	}
	if got := from("[2001:db8:1:3::1]:40002"); got != http.StatusOK {
		t.Errorf("another /64: %d, want 200", got)
	}
}
