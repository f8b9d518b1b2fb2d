package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

// FuzzPlaceOrderDecode sends arbitrary bodies to POST /v1/orders through
// the real handler: whatever the body, the answer is never a 5xx nor a
// panic, and the order service only ever sees requests that passed
// validation. `go test` runs the seeds; `go test -fuzz FuzzPlaceOrderDecode`
// explores further.
func FuzzPlaceOrderDecode(f *testing.F) {
	for _, seed := range []string{
		orderBody,
		orderBody + "\n",
		orderBody + "{}",
		`{"items":[],"payment_token":"t"}`,
		`{"items":[{"product_id":"p-1","quantity":1000}],"payment_token":"t"}`,
		`{"items":[{"product_id":"p-1","quantity":1001}],"payment_token":"t"}`,
		`{"items":[{"product_id":"p-1","quantity":-2147483648}],"payment_token":"t"}`,
		`{"items":[{"product_id":"p-1","quantity":2147483648}],"payment_token":"t"}`,
		`{"items":[{"product_id":"p-1","quantity":1.5}],"payment_token":"t"}`,
		`{"items":[{"product_id":"\u00e9","quantity":1}],"payment_token":"\ud800"}`,
		`{"items":null,"payment_token":null}`,
		`{"items":{"product_id":"p-1"}}`,
		`{"coupon":"FREE"}`,
		`[]`, `null`, `""`, `0`, `{`, ``, "\xff\xfe",
		`{"items":` + items(101, 1) + `,"payment_token":"t"}`,
		`{"items":[{"product_id":"p-1","quantity":1,"product_id":"p-2"}],"payment_token":"t"}`,
		`{"ITEMS":[{"PRODUCT_ID":"p-1","QUANTITY":1}],"Payment_Token":"t"}`,
		strings.Repeat(`[`, 10000),
	} {
		f.Add(seed)
	}
	h := newHandler(f, nil, &fakeOrders{placeOrder: func(_ context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
		items := in.GetItems()
		if len(items) < 1 || len(items) > 100 || in.GetPaymentToken() == "" {
			return nil, status.Errorf(codes.Internal, "invalid request passed validation: %v", in)
		}
		for _, it := range items {
			if it.GetQuantity() < 1 || it.GetQuantity() > 1000 || it.GetProductId() == "" {
				return nil, status.Errorf(codes.Internal, "invalid item passed validation: %v", it)
			}
		}
		return &orderv1.PlaceOrderResponse{Order: confirmed("ord_1", in.GetCustomerId())}, nil
	}}, withRateLimit(1e9, 1<<30))
	f.Fuzz(func(t *testing.T, body string) {
		rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, body)
		if rec.Code >= 500 {
			t.Fatalf("body %q: got status %d (%s), want no 5xx", body, rec.Code, rec.Body)
		}
		if rec.Code != http.StatusCreated && rec.Result().Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("body %q: got a %d that is not a problem", body, rec.Code)
		}
	})
}
