package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

// asAdmin are the headers of a caller with the admin role.
var asAdmin = map[string]string{"Authorization": mustBearer("ops-1", "admin")}

const productBody = `{"id":"p-2001","name":"Pour-over kettle","price":{"currency":"EUR","amount_minor":4500},"available":12}`

func TestAPI_CreateProduct(t *testing.T) {
	t.Parallel()
	created := func(got **inventoryv1.CreateProductRequest) *fakeInventory {
		return &fakeInventory{createProduct: func(_ context.Context, in *inventoryv1.CreateProductRequest) (*inventoryv1.CreateProductResponse, error) {
			*got = in
			return &inventoryv1.CreateProductResponse{Product: &inventoryv1.Product{Id: in.GetId(), Name: in.GetName(), Price: in.GetPrice(), Available: in.GetAvailable()}}, nil
		}}
	}

	t.Run("201 with the product", func(t *testing.T) {
		t.Parallel()
		var got *inventoryv1.CreateProductRequest
		rec := serve(t, newHandler(t, created(&got), nil), http.MethodPost, "/v1/admin/products", asAdmin, productBody)
		if rec.Code != http.StatusCreated {
			t.Fatalf("got status %d, want 201 (body %s)", rec.Code, rec.Body)
		}
		want := map[string]any{"id": "p-2001", "name": "Pour-over kettle", "available": float64(12),
			"price": map[string]any{"currency": "EUR", "amount_minor": float64(4500)}}
		if body := decodeJSON(t, rec); !reflect.DeepEqual(body, want) {
			t.Errorf("got body %v, want %v", body, want)
		}
		if got.GetId() != "p-2001" || got.GetPrice().GetCurrencyCode() != "EUR" || got.GetPrice().GetMinorUnits() != 4500 || got.GetAvailable() != 12 {
			t.Errorf("inventory got %v, want p-2001 at 4500 EUR with 12 available", got)
		}
	})

	refused := []struct {
		name   string
		header map[string]string
		code   int
		typ    string
	}{
		{"no token", nil, http.StatusUnauthorized, "unauthenticated"},
		{"a customer without the admin role", as("c-1"), http.StatusForbidden, "forbidden"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil, nil) // inventory must not be called
			wantProblem(t, serve(t, h, http.MethodPost, "/v1/admin/products", tt.header, productBody), tt.code, tt.typ)
		})
	}

	invalid := []struct {
		name, body string
		want       []httpapi.FieldError
	}{
		{"everything wrong", `{"id":"p 1","name":"","price":{"currency":"eur","amount_minor":0},"available":-1}`, []httpapi.FieldError{
			{Field: "id", Detail: "must be 1-64 letters, digits, '-' or '_'"},
			{Field: "name", Detail: "must be 1..200 printable characters"},
			{Field: "price.currency", Detail: "must be an ISO 4217 code such as EUR"},
			{Field: "price.amount_minor", Detail: "must be greater than 0"},
			{Field: "available", Detail: "must be 0..1000000"},
		}},
		{"name of 201 characters", `{"id":"p-1","name":"` + strings.Repeat("n", 201) + `","price":{"currency":"EUR","amount_minor":1},"available":0}`,
			[]httpapi.FieldError{{Field: "name", Detail: "must be 1..200 printable characters"}}},
		{"too much stock", `{"id":"p-1","name":"n","price":{"currency":"EUR","amount_minor":1},"available":1000001}`,
			[]httpapi.FieldError{{Field: "available", Detail: "must be 0..1000000"}}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := wantProblem(t, serve(t, newHandler(t, nil, nil), http.MethodPost, "/v1/admin/products", asAdmin, tt.body), http.StatusUnprocessableEntity, "validation_failed")
			if !reflect.DeepEqual(p.Errors, tt.want) {
				t.Errorf("got errors %+v, want %+v", p.Errors, tt.want)
			}
		})
	}

	t.Run("unknown field", func(t *testing.T) {
		t.Parallel()
		body := `{"id":"p-1","name":"n","price":{"currency":"EUR","amount_minor":1,"vat":20},"available":0}`
		wantProblem(t, serve(t, newHandler(t, nil, nil), http.MethodPost, "/v1/admin/products", asAdmin, body), http.StatusBadRequest, "invalid_argument")
	})

	t.Run("id taken by another product", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, &fakeInventory{createProduct: func(context.Context, *inventoryv1.CreateProductRequest) (*inventoryv1.CreateProductResponse, error) {
			return nil, status.Error(codes.AlreadyExists, "product p-2001 exists with other fields")
		}}, nil)
		wantProblem(t, serve(t, h, http.MethodPost, "/v1/admin/products", asAdmin, productBody), http.StatusConflict, "already_exists")
	})
}

func TestAPI_SetStock(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	inv := &fakeInventory{setStock: func(_ context.Context, in *inventoryv1.SetStockRequest) (*inventoryv1.SetStockResponse, error) {
		calls.Add(1)
		if in.GetProductId() != "p-1001" {
			return nil, status.Errorf(codes.NotFound, "product %s not found", in.GetProductId())
		}
		return &inventoryv1.SetStockResponse{Product: &inventoryv1.Product{Id: "p-1001", Price: eur(2490), Available: in.GetAvailable()}}, nil
	}}
	h := newHandler(t, inv, nil)

	t.Run("200 with the product", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodPut, "/v1/admin/products/p-1001/stock", asAdmin, `{"available":0}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("got status %d, want 200 (body %s)", rec.Code, rec.Body)
		}
		if body := decodeJSON(t, rec); body["id"] != "p-1001" || body["available"] != float64(0) {
			t.Errorf("got %v, want p-1001 with 0 available", body)
		}
	})

	t.Run("unknown product", func(t *testing.T) {
		t.Parallel()
		wantProblem(t, serve(t, h, http.MethodPut, "/v1/admin/products/p-9/stock", asAdmin, `{"available":5}`), http.StatusNotFound, "not_found")
	})

	tests := []struct {
		name, path, body string
		header           map[string]string
		code             int
		typ              string
	}{
		{"no token", "/v1/admin/products/p-1001/stock", `{"available":5}`, nil, http.StatusUnauthorized, "unauthenticated"},
		{"not an admin", "/v1/admin/products/p-1001/stock", `{"available":5}`, as("c-1"), http.StatusForbidden, "forbidden"},
		{"malformed id", "/v1/admin/products/p.1/stock", `{"available":5}`, asAdmin, http.StatusBadRequest, "invalid_argument"},
		{"not JSON", "/v1/admin/products/p-1001/stock", `5`, asAdmin, http.StatusBadRequest, "invalid_argument"},
		{"a delta is not a field", "/v1/admin/products/p-1001/stock", `{"delta":5}`, asAdmin, http.StatusBadRequest, "invalid_argument"},
		{"missing", "/v1/admin/products/p-1001/stock", `{}`, asAdmin, http.StatusUnprocessableEntity, "validation_failed"},
		{"negative", "/v1/admin/products/p-1001/stock", `{"available":-1}`, asAdmin, http.StatusUnprocessableEntity, "validation_failed"},
		{"too large", "/v1/admin/products/p-1001/stock", `{"available":1000001}`, asAdmin, http.StatusUnprocessableEntity, "validation_failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil, nil) // inventory must not be called
			p := wantProblem(t, serve(t, h, http.MethodPut, tt.path, tt.header, tt.body), tt.code, tt.typ)
			if tt.code == http.StatusUnprocessableEntity && (len(p.Errors) != 1 || p.Errors[0].Field != "available") {
				t.Errorf("got errors %+v, want one about available", p.Errors)
			}
		})
	}
}

func TestAPI_ParkedOrders(t *testing.T) {
	t.Parallel()
	parked := func(id string) *orderv1.Order {
		o := confirmed(id, "c-1")
		o.Status, o.Attention = orderv1.OrderStatus_ORDER_STATUS_NEEDS_ATTENTION, "REFUND_REFUSED: the provider refused"
		o.TraceId = "4bf92f3577b34da6a3ce929d0e0e4736"
		return o
	}
	notParked := status.Error(codes.FailedPrecondition, "order ord_2 is CONFIRMED, not parked")
	orders := &fakeOrders{
		listParked: func(_ context.Context, in *orderv1.ListParkedOrdersRequest) (*orderv1.ListParkedOrdersResponse, error) {
			return &orderv1.ListParkedOrdersResponse{Orders: []*orderv1.Order{parked("ord_1")}, NextPageToken: "ord_1"}, nil
		},
		retry: func(_ context.Context, in *orderv1.RetryOrderRequest) (*orderv1.RetryOrderResponse, error) {
			if in.GetId() != "ord_1" {
				return nil, notParked
			}
			o := parked(in.GetId())
			o.Status, o.Attention = orderv1.OrderStatus_ORDER_STATUS_PENDING, ""
			return &orderv1.RetryOrderResponse{Order: o}, nil
		},
		compensate: func(_ context.Context, in *orderv1.CompensateOrderRequest) (*orderv1.CompensateOrderResponse, error) {
			if in.GetId() != "ord_1" {
				return nil, notParked
			}
			o := parked(in.GetId())
			o.Status, o.Attention, o.Reason = orderv1.OrderStatus_ORDER_STATUS_CANCELLED, "", "COMPENSATED"
			return &orderv1.CompensateOrderResponse{Order: o}, nil
		},
	}
	h := newHandler(t, nil, orders)

	t.Run("the list shows each order's attention and trace", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodGet, "/v1/admin/orders/parked?page_size=1", asAdmin, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("got %d (body %s), want 200", rec.Code, rec.Body)
		}
		var body struct {
			Orders []struct {
				ID, Status, Attention string
				TraceID               string `json:"trace_id"`
			} `json:"orders"`
			Next string `json:"next_page_token"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if len(body.Orders) != 1 || body.Orders[0].Status != "NEEDS_ATTENTION" || !strings.HasPrefix(body.Orders[0].Attention, "REFUND_REFUSED") ||
			body.Orders[0].TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || body.Next != "ord_1" {
			t.Errorf("got %+v, want the parked order with its attention, its trace id and the next page token", body)
		}
	})

	t.Run("retry: 202, PENDING again, with Location", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodPost, "/v1/admin/orders/ord_1/retry", asAdmin, "")
		if rec.Code != http.StatusAccepted || rec.Header().Get("Location") != "/v1/orders/ord_1" {
			t.Fatalf("got %d, Location %q (body %s); want 202 with the order's Location", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		if body := decodeJSON(t, rec); body["status"] != "PENDING" {
			t.Errorf("got status %v, want PENDING", body["status"])
		}
	})

	t.Run("compensate: 200, CANCELLED, COMPENSATED", func(t *testing.T) {
		t.Parallel()
		rec := serve(t, h, http.MethodPost, "/v1/admin/orders/ord_1/compensate", asAdmin, "")
		if rec.Code != http.StatusOK {
			t.Fatalf("got %d (body %s), want 200", rec.Code, rec.Body)
		}
		if body := decodeJSON(t, rec); body["status"] != "CANCELLED" || body["reason"] != "COMPENSATED" {
			t.Errorf("got %v, want CANCELLED for COMPENSATED", body)
		}
	})

	tests := []struct {
		name, method, path string
		header             map[string]string
		code               int
		typ                string
	}{
		{"list without a token", http.MethodGet, "/v1/admin/orders/parked", nil, http.StatusUnauthorized, "unauthenticated"},
		{"list as a customer", http.MethodGet, "/v1/admin/orders/parked", as("c-1"), http.StatusForbidden, "forbidden"},
		{"retry as a customer", http.MethodPost, "/v1/admin/orders/ord_1/retry", as("c-1"), http.StatusForbidden, "forbidden"},
		{"compensate as a customer", http.MethodPost, "/v1/admin/orders/ord_1/compensate", as("c-1"), http.StatusForbidden, "forbidden"},
		{"retry an order that is not parked", http.MethodPost, "/v1/admin/orders/ord_2/retry", asAdmin, http.StatusConflict, "failed_precondition"},
		{"compensate an order that is not parked", http.MethodPost, "/v1/admin/orders/ord_2/compensate", asAdmin, http.StatusConflict, "failed_precondition"},
		{"malformed id", http.MethodPost, "/v1/admin/orders/ord.1/retry", asAdmin, http.StatusBadRequest, "invalid_argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantProblem(t, serve(t, h, tt.method, tt.path, tt.header, ""), tt.code, tt.typ)
		})
	}
}
