package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

func TestNew_MissingDependencies(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		inv    inventoryv1.InventoryServiceClient
		orders orderv1.OrderServiceClient
		logger *slog.Logger
	}{
		{"inventory", nil, &fakeOrders{}, logger},
		{"orders", &fakeInventory{}, nil, logger},
		{"logger", &fakeInventory{}, &fakeOrders{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := httpapi.New(tt.inv, tt.orders, tt.logger, httpapi.Config{Auth: testAuth}); err == nil {
				t.Errorf("New without %s returned no error", tt.name)
			}
		})
	}
}

func TestAPI_RequestBudget(t *testing.T) {
	t.Parallel()

	t.Run("peers get a context with the request's deadline", func(t *testing.T) {
		t.Parallel()
		var (
			deadline time.Time
			ok       bool
		)
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(ctx context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			deadline, ok = ctx.Deadline()
			return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId())}, nil
		}})
		before := time.Now()
		rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
		if rec.Code != http.StatusCreated {
			t.Fatalf("got status %d, want 201 (body %s)", rec.Code, rec.Body)
		}
		if !ok {
			t.Fatal("the order service got a context without a deadline")
		}
		if d := deadline.Sub(before); d <= 0 || d > requestTimeout+time.Second {
			t.Errorf("got a deadline %v after the request started, want about %v", d, requestTimeout)
		}
	})

	t.Run("a client that hung up cancels the call", func(t *testing.T) {
		t.Parallel()
		var err error
		h := newHandler(t, &fakeInventory{listProducts: func(ctx context.Context, _ *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
			err = ctx.Err()
			return &inventoryv1.ListProductsResponse{}, nil
		}}, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/products", nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if err == nil {
			t.Error("the inventory call's context was not cancelled with the client's")
		}
	})
}

func TestAPI_Correlation(t *testing.T) {
	t.Parallel()
	const (
		traceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentSpan  = "00f067aa0ba902b7"
		traceparent = "00-" + traceID + "-" + parentSpan + "-01"
	)
	traceparentRE := regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

	t.Run("an incoming trace is continued", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var peer trace.SpanContext
		h := newHandler(t, &fakeInventory{listProducts: func(ctx context.Context, _ *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
			mu.Lock()
			peer = trace.SpanContextFromContext(ctx)
			mu.Unlock()
			return &inventoryv1.ListProductsResponse{}, nil
		}}, nil)
		rec := serve(t, h, http.MethodGet, "/v1/products", map[string]string{"traceparent": traceparent}, "")
		m := traceparentRE.FindStringSubmatch(rec.Result().Header.Get("traceparent"))
		if m == nil {
			t.Fatalf("got traceparent %q, want a W3C traceparent", rec.Result().Header.Get("traceparent"))
		}
		if m[1] != traceID {
			t.Errorf("got trace id %s, want the incoming %s", m[1], traceID)
		}
		if m[2] == parentSpan {
			t.Errorf("got span id %s, want the gateway's own span, not the caller's", m[2])
		}
		mu.Lock()
		defer mu.Unlock()
		if got := peer.TraceID().String(); got != traceID {
			t.Errorf("inventory got trace id %s, want %s", got, traceID)
		}
	})

	t.Run("problems carry the trace id", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, newHandler(t, nil, nil), http.MethodGet, "/v1/products/bad.id", map[string]string{"traceparent": traceparent}, "")
		if p := wantProblem(t, rec, http.StatusBadRequest, "invalid_argument"); p.TraceID != traceID {
			t.Errorf("got trace_id %q, want %q", p.TraceID, traceID)
		}
	})

	t.Run("without a traceparent a trace starts", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, newHandler(t, nil, nil), http.MethodGet, "/v1/nope", nil, "")
		if got := rec.Result().Header.Get("traceparent"); !traceparentRE.MatchString(got) {
			t.Errorf("got traceparent %q, want a new W3C traceparent", got)
		}
	})

	requestIDs := []struct {
		name, in string
		keep     bool
	}{
		{"a client's request id is echoed", "req-123", true},
		{"a missing one is made", "", false},
		{"an overlong one is replaced", strings.Repeat("r", 129), false},
	}
	for _, tt := range requestIDs {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			header := map[string]string{}
			if tt.in != "" {
				header["X-Request-Id"] = tt.in
			}
			rec := serve(t, newHandler(t, nil, nil), http.MethodGet, "/v1/nope", header, "")
			got := rec.Result().Header.Get("X-Request-Id")
			switch {
			case tt.keep && got != tt.in:
				t.Errorf("got X-Request-Id %q, want %q", got, tt.in)
			case !tt.keep && !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got):
				t.Errorf("got X-Request-Id %q, want 32 fresh hex digits", got)
			}
		})
	}
}

func TestAPI_Routing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, path string
		code               int
		typ                string
	}{
		{"unknown route", http.MethodGet, "/v1/nope", http.StatusNotFound, "not_found"},
		{"wrong method", http.MethodDelete, "/v1/products", http.StatusMethodNotAllowed, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, serve(t, newHandler(t, nil, nil), tt.method, tt.path, nil, ""), tt.code, tt.typ)
		})
	}

	t.Run("a panicking handler answers 500", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
			panic("boom: " + secret)
		}}, nil)
		rec := serve(t, h, http.MethodGet, "/v1/products", nil, "")
		wantProblem(t, rec, http.StatusInternalServerError, "internal")
		if strings.Contains(rec.Body.String(), "boom") {
			t.Errorf("body %s leaks the panic", rec.Body)
		}
	})
}

// TestAPI_SecurityHeaders: every answer carries the security headers,
// served, refused, not found and panicked alike.
func TestAPI_SecurityHeaders(t *testing.T) {
	t.Parallel()
	inv := &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
		return &inventoryv1.ListProductsResponse{}, nil
	}, getProduct: func(context.Context, *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
		panic("a bug in a handler")
	}}
	h := newHandler(t, inv, &fakeOrders{}, withRateLimit(0.001, 4))
	want := map[string]string{
		"Cache-Control":           "no-store",
		"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
	}
	for _, tc := range []struct {
		method, target string
		header         map[string]string
		wantCode       int
	}{
		{http.MethodGet, "/v1/products", nil, http.StatusOK},
		{http.MethodGet, "/v1/nowhere", nil, http.StatusNotFound},
		{http.MethodPost, "/v1/orders", nil, http.StatusUnauthorized},
		{http.MethodGet, "/v1/products/p-1001", nil, http.StatusInternalServerError},
		// The fifth request of a client with a burst of four.
		{http.MethodGet, "/v1/products", nil, http.StatusTooManyRequests},
	} {
		rec := serve(t, h, tc.method, tc.target, tc.header, "")
		if rec.Code != tc.wantCode {
			t.Fatalf("%s %s: %d, want %d", tc.method, tc.target, rec.Code, tc.wantCode)
		}
		for k, v := range want {
			if got := rec.Header().Get(k); got != v {
				t.Errorf("%s %s (%d): %s = %q, want %q", tc.method, tc.target, rec.Code, k, got, v)
			}
		}
	}
}
