package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"

	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
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

// FuzzProblemMapping answers POST /v1/orders with an arbitrary failure of
// the order service (any code, message, reason, order id and field
// violations) through the real handler: the answer is always a
// problem+json 4xx or 5xx whose status and title agree, whose detail is
// shopmesh's own text (never the callee's message), with Retry-After on a
// 503 and only there.
func FuzzProblemMapping(f *testing.F) {
	f.Add(uint8(codes.FailedPrecondition), "stock 0 < 1", "OUT_OF_STOCK", "ord_1", "", "")
	f.Add(uint8(codes.Unavailable), "dial tcp 10.0.0.7:8080: connection refused", "OVERLOADED", "", "", "")
	f.Add(uint8(codes.Unavailable), "connection reset", "", "", "", "")
	f.Add(uint8(codes.InvalidArgument), "bad", "", "", "items[0].quantity", "must be 1..1000")
	f.Add(uint8(codes.InvalidArgument), "bad", "MIXED_CURRENCY", "ord_2", "", "")
	f.Add(uint8(codes.OK), "", "", "", "", "")
	f.Add(uint8(200), "\xff", "\x00", "<script>", "\"", "\n")
	var failure error
	h := newHandler(f, nil, &fakeOrders{placeOrder: func(context.Context, *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
		return nil, failure
	}}, withRateLimit(1e9, 1<<30))
	const marker = "CALLEE-SAYS:"
	f.Fuzz(func(t *testing.T, code uint8, msg, reason, orderID, field, fieldDetail string) {
		st := status.New(codes.Code(code), marker+msg)
		var details []protoadapt.MessageV1
		if reason != "" || orderID != "" {
			details = append(details, &errdetails.ErrorInfo{Reason: reason, Domain: marker, Metadata: map[string]string{"order_id": orderID}})
		}
		if field != "" {
			details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: fieldDetail}}})
		}
		if withDetails, err := st.WithDetails(details...); err == nil {
			st = withDetails
		}
		failure = st.Err() // nil for OK: the fake then answers with no order
		rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
		if rec.Code < 400 {
			if codes.Code(code) != codes.OK {
				t.Fatalf("code %v answered %d", codes.Code(code), rec.Code)
			}
			return
		}
		var p httpapi.Problem
		if ct := rec.Result().Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("code %v: %d with Content-Type %q", codes.Code(code), rec.Code, ct)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("code %v: body %q is no JSON problem: %v", codes.Code(code), rec.Body, err)
		}
		if p.Status != rec.Code || p.Title != http.StatusText(rec.Code) {
			t.Errorf("status %d, problem status %d title %q", rec.Code, p.Status, p.Title)
		}
		if strings.Contains(p.Detail, marker) || strings.Contains(p.Type, marker) || strings.Contains(p.Title, marker) {
			t.Errorf("the callee's words reached the client: %s", rec.Body)
		}
		if got := rec.Result().Header.Get("Retry-After"); (rec.Code == http.StatusServiceUnavailable) != (got != "") {
			t.Errorf("status %d with Retry-After %q: want one on a 503 and only there", rec.Code, got)
		}
	})
}
