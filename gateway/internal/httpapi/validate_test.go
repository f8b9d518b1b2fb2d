package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

// items returns n order lines of quantity q as JSON.
func items(n, q int) string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf(`{"product_id":"p-%d","quantity":%d}`, i, q)
	}
	return "[" + strings.Join(lines, ",") + "]"
}

func TestAPI_PlaceOrder_Validation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []httpapi.FieldError
	}{
		{"no items", `{"items":[],"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items", Detail: "must have 1..100 items"}}},
		{"items missing", `{"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items", Detail: "must have 1..100 items"}}},
		{"101 items", `{"items":` + items(101, 1) + `,"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items", Detail: "must have 1..100 items, has 101"}}},
		{"quantity 0", `{"items":[{"product_id":"p-1","quantity":0}],"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items[0].quantity", Detail: "must be 1..1000"}}},
		{"quantity 1001", `{"items":[{"product_id":"p-1","quantity":1},{"product_id":"p-2","quantity":1001}],"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items[1].quantity", Detail: "must be 1..1000"}}},
		{"negative quantity", `{"items":[{"product_id":"p-1","quantity":-5}],"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items[0].quantity", Detail: "must be 1..1000"}}},
		{"bad product id", `{"items":[{"product_id":"p/1","quantity":1}],"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items[0].product_id", Detail: "must be 1-64 letters, digits, '-' or '_'"}}},
		{"empty product id", `{"items":[{"quantity":1}],"payment_token":"tok_visa"}`,
			[]httpapi.FieldError{{Field: "items[0].product_id", Detail: "must be 1-64 letters, digits, '-' or '_'"}}},
		{"no payment token", `{"items":[{"product_id":"p-1","quantity":1}]}`,
			[]httpapi.FieldError{{Field: "payment_token", Detail: "is required"}}},
		{"payment token too long", `{"items":[{"product_id":"p-1","quantity":1}],"payment_token":"` + strings.Repeat("t", 257) + `"}`,
			[]httpapi.FieldError{{Field: "payment_token", Detail: "must be at most 256 bytes"}}},
		{"payment token with a control character", `{"items":[{"product_id":"p-1","quantity":1}],"payment_token":"tok\u0000"}`,
			[]httpapi.FieldError{{Field: "payment_token", Detail: "must be printable text"}}},
		{"everything at once", `{"items":[{"product_id":"","quantity":0}]}`, []httpapi.FieldError{
			{Field: "items[0].product_id", Detail: "must be 1-64 letters, digits, '-' or '_'"},
			{Field: "items[0].quantity", Detail: "must be 1..1000"},
			{Field: "payment_token", Detail: "is required"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int64
			h := newHandler(t, nil, &fakeOrders{placeOrder: func(context.Context, *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
				calls.Add(1)
				return nil, status.Error(codes.Internal, "must not be called")
			}})
			p := wantProblem(t, serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, tt.body), http.StatusUnprocessableEntity, "validation_failed")
			if !reflect.DeepEqual(p.Errors, tt.want) {
				t.Errorf("got errors %+v, want %+v", p.Errors, tt.want)
			}
			if got := calls.Load(); got != 0 {
				t.Errorf("got %d calls to the order service, want 0", got)
			}
		})
	}

	t.Run("100 items of 1000 are fine", func(t *testing.T) {
		t.Parallel()
		var n int
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(_ context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			n = len(in.GetItems())
			return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId())}, nil
		}})
		rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, `{"items":`+items(100, 1000)+`,"payment_token":"tok_visa"}`)
		if rec.Code != http.StatusCreated || n != 100 {
			t.Errorf("got status %d and %d items downstream, want 201 and 100 (body %s)", rec.Code, n, rec.Body)
		}
	})

	t.Run("the key is checked before the body", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, nil, nil)
		rec := serve(t, h, http.MethodPost, "/v1/orders", as("c-1"), `{"items":[]}`)
		wantProblem(t, rec, http.StatusBadRequest, "invalid_argument")
	})

	t.Run("the callee's field violations are a 422 too", func(t *testing.T) {
		t.Parallel()
		st, err := status.New(codes.InvalidArgument, "invalid order").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "items[0].product_id", Description: "unknown product"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(context.Context, *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			return nil, st.Err()
		}})
		p := wantProblem(t, serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody), http.StatusUnprocessableEntity, "validation_failed")
		if want := []httpapi.FieldError{{Field: "items[0].product_id", Detail: "unknown product"}}; !reflect.DeepEqual(p.Errors, want) {
			t.Errorf("got errors %+v, want %+v", p.Errors, want)
		}
	})

	t.Run("same key, other body is 409", func(t *testing.T) {
		t.Parallel()
		h := newHandler(t, nil, &fakeOrders{placeOrder: func(context.Context, *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
			return nil, status.Error(codes.AlreadyExists, "idempotency key k-1 was used for a different order")
		}})
		wantProblem(t, serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody), http.StatusConflict, "already_exists")
	})
}
