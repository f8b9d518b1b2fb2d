package httpapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

func TestAPI_OverloadLimit(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}, 8), make(chan struct{})
	limiter := overload.New(overload.Options{Name: "gateway", MinLimit: 2, InitialLimit: 2, MaxLimit: 2, MaxWait: time.Millisecond})
	inv := &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
		return &inventoryv1.ListProductsResponse{}, nil
	}}
	h := newHandler(t, inv, &fakeOrders{placeOrder: func(_ context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
		entered <- struct{}{}
		<-release
		return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId())}, nil
	}}, func(c *httpapi.Config) { c.Limiter = limiter })

	// Two requests hold the route's two permits...
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody) })
		<-entered
	}
	// ...so the next is refused at once, with nothing done.
	rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
	wantProblem(t, rec, http.StatusServiceUnavailable, "overloaded")
	if got := rec.Result().Header.Get("Retry-After"); got != "1" {
		t.Errorf("got Retry-After %q, want 1", got)
	}
	select {
	case <-entered:
		t.Error("the refused request reached the order service")
	default:
	}
	// Another route has a limit of its own.
	if rec := serve(t, h, http.MethodGet, "/v1/products", nil, ""); rec.Code != http.StatusOK {
		t.Errorf("GET /v1/products while orders are full: %d, want 200", rec.Code)
	}
	close(release)
	wg.Wait()
	if rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody); rec.Code != http.StatusCreated {
		t.Errorf("after the load passed: %d, want 201", rec.Code)
	}
}
