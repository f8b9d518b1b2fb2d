package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

func TestAPI_ListProducts(t *testing.T) {
	t.Parallel()

	t.Run("200 with the JSON shape", func(t *testing.T) {
		t.Parallel()
		var got *inventoryv1.ListProductsRequest
		h := newHandler(t, &fakeInventory{listProducts: func(_ context.Context, in *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
			got = in
			return &inventoryv1.ListProductsResponse{
				Products:      []*inventoryv1.Product{{Id: "p-1001", Name: "Espresso beans, 1 kg", Price: eur(2490), Available: 100}},
				NextPageToken: "p-1001",
			}, nil
		}}, nil)

		rec := serve(t, h, http.MethodGet, "/v1/products?page_size=1&page_token=p-1000", nil, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
		}
		want := map[string]any{
			"products": []any{map[string]any{
				"id": "p-1001", "name": "Espresso beans, 1 kg", "available": float64(100),
				"price": map[string]any{"currency": "EUR", "amount_minor": float64(2490)},
			}},
			"next_page_token": "p-1001",
		}
		if body := decodeJSON(t, rec); !reflect.DeepEqual(body, want) {
			t.Errorf("got body %v, want %v", body, want)
		}
		if got.GetPageSize() != 1 || got.GetPageToken() != "p-1000" {
			t.Errorf("inventory got page size %d token %q, want 1 and p-1000", got.GetPageSize(), got.GetPageToken())
		}
	})

	t.Run("an empty catalog is an empty list, not null", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
			return &inventoryv1.ListProductsResponse{}, nil
		}}, nil)
		rec := serve(t, h, http.MethodGet, "/v1/products", nil, "")
		if products, ok := decodeJSON(t, rec)["products"].([]any); !ok || len(products) != 0 {
			t.Errorf("got products %s, want []", rec.Body)
		}
	})

	for _, size := range []string{"0", "201", "-1", "ten", "1.5"} {
		t.Run("page_size "+size, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil, nil) // inventory must not be called
			rec := serve(t, h, http.MethodGet, "/v1/products?page_size="+size, nil, "")
			wantProblem(t, rec, http.StatusBadRequest, "invalid_argument")
		})
	}

	t.Run("inventory unavailable", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, &fakeInventory{listProducts: func(context.Context, *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
			return nil, status.Error(codes.Unavailable, "no healthy upstream")
		}}, nil)
		wantProblem(t, serve(t, h, http.MethodGet, "/v1/products", nil, ""), http.StatusServiceUnavailable, "unavailable")
	})
}

func TestAPI_GetProduct(t *testing.T) {
	t.Parallel()

	t.Run("200", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, &fakeInventory{getProduct: func(_ context.Context, in *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
			return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: in.GetId(), Name: "Hand grinder", Price: eur(8900), Available: 25}}, nil
		}}, nil)
		rec := serve(t, h, http.MethodGet, "/v1/products/p-1003", nil, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
		}
		if body := decodeJSON(t, rec); body["id"] != "p-1003" || body["available"] != float64(25) {
			t.Errorf("got %v, want product p-1003 with 25 available", body)
		}
	})

	for _, tt := range []struct{ name, id string }{
		{"dot", "p.1003"},
		{"65 characters", strings.Repeat("p", 65)},
		{"space", "p%201003"},
		{"non-ASCII", "p-%C3%A91003"},
	} {
		t.Run("bad id: "+tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil, nil) // inventory must not be called
			rec := serve(t, h, http.MethodGet, "/v1/products/"+tt.id, nil, "")
			wantProblem(t, rec, http.StatusBadRequest, "invalid_argument")
		})
	}

	t.Run("64 characters is fine", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, &fakeInventory{getProduct: func(_ context.Context, in *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
			return &inventoryv1.GetProductResponse{Product: &inventoryv1.Product{Id: in.GetId()}}, nil
		}}, nil)
		if rec := serve(t, h, http.MethodGet, "/v1/products/"+strings.Repeat("p", 64), nil, ""); rec.Code != http.StatusOK {
			t.Errorf("got status %d, want 200", rec.Code)
		}
	})

	t.Run("unknown product", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, &fakeInventory{getProduct: func(context.Context, *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
			return nil, status.Error(codes.NotFound, "product p-9 not found")
		}}, nil)
		p := wantProblem(t, serve(t, h, http.MethodGet, "/v1/products/p-9", nil, ""), http.StatusNotFound, "not_found")
		if p.Detail != "no such resource" || p.Instance != "/v1/products/p-9" {
			t.Errorf("got detail %q instance %q, want the public detail and the path", p.Detail, p.Instance)
		}
	})
}

// orderHeaders are the headers of a valid POST /v1/orders.
var orderHeaders = map[string]string{"Authorization": mustBearer("c-1"), "Idempotency-Key": "k-1"}

const orderBody = `{"items":[{"product_id":"p-1001","quantity":2}],"payment_token":"tok_visa"}`

func TestAPI_PlaceOrder(t *testing.T) {
	t.Parallel()

	t.Run("200 for a replay of the same key", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(_ context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId()), Replayed: true}, nil
		}})
		rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"id":"ord_1"`) {
			t.Fatalf("got status %d (body %s), want 200 with order ord_1", rec.Code, rec.Body)
		}
	})

	for _, replayed := range []bool{false, true} {
		t.Run(fmt.Sprintf("202 with Location and Retry-After for an order not finished in time (replayed %v)", replayed), func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil, &fakeOrders{placeOrder: func(_ context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
				o := confirmed("ord_1", in.GetCustomerId())
				o.Status = orderv1.OrderStatus_ORDER_STATUS_PENDING
				return &orderv1.PlaceOrderResponse{Order: o, Replayed: replayed}, nil
			}})
			rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
			if rec.Code != http.StatusAccepted || !strings.Contains(rec.Body.String(), `"status":"PENDING"`) {
				t.Fatalf("got status %d (body %s), want 202 with the PENDING order", rec.Code, rec.Body)
			}
			if got := rec.Result().Header.Get("Location"); got != "/v1/orders/ord_1" {
				t.Errorf("got Location %q, want /v1/orders/ord_1", got)
			}
			if got := rec.Result().Header.Get("Retry-After"); got != "1" {
				t.Errorf("got Retry-After %q, want 1", got)
			}
		})
	}

	t.Run("the order service gets the request's budget less what the gateway keeps to answer", func(t *testing.T) {
		t.Parallel()
		var left time.Duration
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(ctx context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			left, _ = deadline.Left(ctx)
			return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId())}, nil
		}}, func(c *httpapi.Config) { c.RequestTimeout = 2 * time.Second })
		serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
		if want := 2*time.Second - api.AnswerBudget; left > want || left < want-500*time.Millisecond {
			t.Errorf("the call had %v to spend, want just under %v", left, want)
		}
	})

	t.Run("201 with the confirmed order", func(t *testing.T) {
		t.Parallel()
		var got *orderv1.PlaceOrderRequest
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(_ context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			got = in
			return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId())}, nil
		}})
		rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
		if rec.Code != http.StatusCreated {
			t.Fatalf("got status %d, want 201 (body %s)", rec.Code, rec.Body)
		}
		want := map[string]any{
			"id": "ord_1", "customer_id": "c-1", "status": "CONFIRMED",
			"lines": []any{map[string]any{
				"product_id": "p-1001", "quantity": float64(2),
				"unit_price": map[string]any{"currency": "EUR", "amount_minor": float64(2490)},
			}},
			"total":      map[string]any{"currency": "EUR", "amount_minor": float64(4980)},
			"created_at": "2025-01-02T03:04:05Z", "updated_at": "2025-01-02T03:04:05Z",
		}
		if body := decodeJSON(t, rec); !reflect.DeepEqual(body, want) {
			t.Errorf("got body %v, want %v", body, want)
		}
		if got.GetCustomerId() != "c-1" || got.GetIdempotencyKey() != "k-1" || got.GetPaymentToken() != "tok_visa" {
			t.Errorf("order service got customer %q key %q token %q, want c-1 k-1 tok_visa", got.GetCustomerId(), got.GetIdempotencyKey(), got.GetPaymentToken())
		}
		if items := got.GetItems(); len(items) != 1 || items[0].GetProductId() != "p-1001" || items[0].GetQuantity() != 2 {
			t.Errorf("order service got items %v, want 2 × p-1001", items)
		}
	})

	tooBig := `{"items":[{"product_id":"p-1001","quantity":2}],"payment_token":"` + strings.Repeat("x", 64<<10) + `"}`
	rejected := []struct {
		name   string
		header map[string]string
		body   string
		code   int
		typ    string
	}{
		{"no token", map[string]string{"Idempotency-Key": "k-1"}, orderBody, http.StatusUnauthorized, "unauthenticated"},
		{"no Idempotency-Key", map[string]string{"Authorization": mustBearer("c-1")}, orderBody, http.StatusBadRequest, "invalid_argument"},
		{"Idempotency-Key of 65 characters", map[string]string{"Authorization": mustBearer("c-1"), "Idempotency-Key": strings.Repeat("k", 65)}, orderBody, http.StatusBadRequest, "invalid_argument"},
		{"unknown JSON field", orderHeaders, `{"items":[],"payment_token":"t","coupon":"FREE"}`, http.StatusBadRequest, "invalid_argument"},
		{"unknown nested field", orderHeaders, `{"items":[{"product_id":"p","quantity":1,"price":1}]}`, http.StatusBadRequest, "invalid_argument"},
		{"trailing object", orderHeaders, orderBody + `{}`, http.StatusBadRequest, "invalid_argument"},
		{"trailing garbage", orderHeaders, orderBody + ` x`, http.StatusBadRequest, "invalid_argument"},
		{"wrong type", orderHeaders, `{"items":[{"product_id":"p","quantity":"2"}]}`, http.StatusBadRequest, "invalid_argument"},
		{"not JSON", orderHeaders, `items=p-1001`, http.StatusBadRequest, "invalid_argument"},
		{"empty body", orderHeaders, ``, http.StatusBadRequest, "invalid_argument"},
		{"body over 64 KiB", orderHeaders, tooBig, http.StatusBadRequest, "invalid_argument"},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			h := newHandler(t, nil, &fakeOrders{placeOrder: func(context.Context, *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
				calls.Add(1)
				return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", "c-1")}, nil
			}})
			wantProblem(t, serve(t, h, http.MethodPost, "/v1/orders", tt.header, tt.body), tt.code, tt.typ)
			if got := calls.Load(); got != 0 {
				t.Errorf("got %d calls to the order service, want 0", got)
			}
		})
	}

	t.Run("trailing whitespace is fine", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(_ context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId())}, nil
		}})
		if rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody+"\n \n"); rec.Code != http.StatusCreated {
			t.Errorf("got status %d, want 201 (body %s)", rec.Code, rec.Body)
		}
	})

	t.Run("the body limit names itself", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, nil, nil)
		p := wantProblem(t, serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, tooBig), http.StatusBadRequest, "invalid_argument")
		if !strings.Contains(p.Detail, "65536") {
			t.Errorf("got detail %q, want it to name the 65536-byte limit", p.Detail)
		}
	})
}

func TestAPI_ListOrders(t *testing.T) {
	t.Parallel()
	var got *orderv1.ListOrdersRequest
	h := newHandler(t, nil, &fakeOrders{listOrders: func(_ context.Context, in *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
		got = in
		return &orderv1.ListOrdersResponse{Orders: []*orderv1.Order{confirmed("ord_2", "c-1"), confirmed("ord_1", "c-1")}, NextPageToken: "ord_1"}, nil
	}})
	rec := serve(t, h, http.MethodGet, "/v1/orders?page_size=2", as("c-1"), "")
	if rec.Code != http.StatusOK {
		t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
	}
	body := decodeJSON(t, rec)
	if orders, _ := body["orders"].([]any); len(orders) != 2 || body["next_page_token"] != "ord_1" {
		t.Errorf("got %v, want 2 orders and next_page_token ord_1", body)
	}
	if got.GetCustomerId() != "c-1" || got.GetPageSize() != 2 {
		t.Errorf("order service got customer %q page size %d, want c-1 and 2", got.GetCustomerId(), got.GetPageSize())
	}

	t.Run("needs a customer", func(t *testing.T) {
		t.Parallel()
		wantProblem(t, serve(t, newHandler(t, nil, nil), http.MethodGet, "/v1/orders", nil, ""), http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("a page larger than order serves is refused, not cut silently", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, nil, nil) // order must not be called
		rec := serve(t, h, http.MethodGet, fmt.Sprintf("/v1/orders?page_size=%d", api.OrdersPage.Max+1), as("c-1"), "")
		wantProblem(t, rec, http.StatusBadRequest, "invalid_argument")
	})
}

func TestAPI_GetOrder(t *testing.T) {
	t.Parallel()
	orders := &fakeOrders{getOrder: func(_ context.Context, in *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
		if in.GetId() != "ord_1" {
			return nil, status.Errorf(codes.NotFound, "order %s not found", in.GetId())
		}
		return &orderv1.GetOrderResponse{Order: confirmed("ord_1", "c-1")}, nil
	}}
	h := newHandler(t, nil, orders)

	t.Run("own order", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodGet, "/v1/orders/ord_1", as("c-1"), "")
		if rec.Code != http.StatusOK {
			t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
		}
		if body := decodeJSON(t, rec); body["id"] != "ord_1" || body["status"] != "CONFIRMED" {
			t.Errorf("got %v, want ord_1 CONFIRMED", body)
		}
	})

	t.Run("another customer's order is not found", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodGet, "/v1/orders/ord_1", as("c-2"), "")
		wantProblem(t, rec, http.StatusNotFound, "not_found")
		if strings.Contains(rec.Body.String(), "c-1") {
			t.Errorf("body %s names the owner, want nothing about them", rec.Body)
		}
	})

	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		wantProblem(t, serve(t, h, http.MethodGet, "/v1/orders/ord_9", as("c-1"), ""), http.StatusNotFound, "not_found")
	})

	t.Run("no customer", func(t *testing.T) {
		t.Parallel()
		wantProblem(t, serve(t, h, http.MethodGet, "/v1/orders/ord_1", nil, ""), http.StatusUnauthorized, "unauthenticated")
	})

	t.Run("malformed id", func(t *testing.T) {
		t.Parallel()
		wantProblem(t, serve(t, h, http.MethodGet, "/v1/orders/ord.1", as("c-1"), ""), http.StatusBadRequest, "invalid_argument")
	})
}

func TestAPI_CancelOrder(t *testing.T) {
	t.Parallel()
	newOrders := func(cancels *atomic.Int64) *fakeOrders {
		return &fakeOrders{
			getOrder: func(context.Context, *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
				return &orderv1.GetOrderResponse{Order: confirmed("ord_1", "c-1")}, nil
			},
			cancelOrder: func(_ context.Context, in *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error) {
				cancels.Add(1)
				o := confirmed(in.GetId(), "c-1")
				o.Status = orderv1.OrderStatus_ORDER_STATUS_CANCELLED
				return &orderv1.CancelOrderResponse{Order: o}, nil
			},
		}
	}

	t.Run("own order", func(t *testing.T) {
		t.Parallel()
		var cancels atomic.Int64
		h := newHandler(t, nil, newOrders(&cancels))
		rec := serve(t, h, http.MethodPost, "/v1/orders/ord_1/cancel", as("c-1"), "")
		if rec.Code != http.StatusOK {
			t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
		}
		if body := decodeJSON(t, rec); body["status"] != "CANCELLED" {
			t.Errorf("got status %v, want CANCELLED", body["status"])
		}
		if got := cancels.Load(); got != 1 {
			t.Errorf("got %d cancels, want 1", got)
		}
	})

	t.Run("another customer's order is neither found nor cancelled", func(t *testing.T) {
		t.Parallel()
		var cancels atomic.Int64
		h := newHandler(t, nil, newOrders(&cancels))
		wantProblem(t, serve(t, h, http.MethodPost, "/v1/orders/ord_1/cancel", as("c-2"), ""), http.StatusNotFound, "not_found")
		if got := cancels.Load(); got != 0 {
			t.Errorf("got %d cancels, want 0", got)
		}
	})

	t.Run("a cancellation finished in the background: 202 CANCELLING with Location", func(t *testing.T) {
		t.Parallel()
		orders := newOrders(new(atomic.Int64))
		orders.cancelOrder = func(_ context.Context, in *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error) {
			o := confirmed(in.GetId(), "c-1")
			o.Status = orderv1.OrderStatus_ORDER_STATUS_CANCELLING
			return &orderv1.CancelOrderResponse{Order: o}, nil
		}
		rec := serve(t, newHandler(t, nil, orders), http.MethodPost, "/v1/orders/ord_1/cancel", as("c-1"), "")
		if rec.Code != http.StatusAccepted || rec.Header().Get("Location") != "/v1/orders/ord_1" {
			t.Fatalf("got %d, Location %q; want 202 and /v1/orders/ord_1", rec.Code, rec.Header().Get("Location"))
		}
		if body := decodeJSON(t, rec); body["status"] != "CANCELLING" {
			t.Errorf("got status %v, want CANCELLING", body["status"])
		}
	})

	t.Run("not cancellable", func(t *testing.T) {
		t.Parallel()
		orders := newOrders(new(atomic.Int64))
		orders.cancelOrder = func(context.Context, *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error) {
			return nil, status.Error(codes.FailedPrecondition, "order ord_1 is PENDING and cannot be cancelled")
		}
		h := newHandler(t, nil, orders)
		wantProblem(t, serve(t, h, http.MethodPost, "/v1/orders/ord_1/cancel", as("c-1"), ""), http.StatusConflict, "failed_precondition")
	})
}
