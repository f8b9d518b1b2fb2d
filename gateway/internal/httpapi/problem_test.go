package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// withReason returns a status error carrying an ErrorInfo, as order sends
// for an order that ended unsuccessfully.
func withReason(t *testing.T, c codes.Code, msg, reason string) error {
	t.Helper()
	st, err := status.New(c, msg).WithDetails(&errdetails.ErrorInfo{
		Reason: reason, Domain: "shopmesh", Metadata: map[string]string{"order_id": "ord_1"},
	})
	if err != nil {
		t.Fatalf("WithDetails: %v", err)
	}
	return st.Err()
}

const secret = "pq: password authentication failed for user shopmesh at 10.0.0.7"

const unknownOutcome = "the outcome is unknown: the call failed after it may have taken effect; repeat the request with the same Idempotency-Key to learn it"

func TestAPI_Problems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		code       int
		typ        string
		wantDetail string // "" means the callee's message must not show
	}{
		{"out of stock", withReason(t, codes.FailedPrecondition, "order ord_1 rejected: out of stock", "OUT_OF_STOCK"), http.StatusConflict, "out_of_stock", "order ord_1 rejected: out of stock"},
		{"payment declined", withReason(t, codes.FailedPrecondition, "order ord_1: payment declined", "PAYMENT_DECLINED"), http.StatusPaymentRequired, "payment_declined", "order ord_1: payment declined"},
		{"payment refused by the provider", withReason(t, codes.FailedPrecondition, "order ord_1: the payment provider refused the payment details", "PAYMENT_FAILED"), http.StatusUnprocessableEntity, "payment_failed", "order ord_1: the payment provider refused the payment details"},
		{"mixed currencies", withReason(t, codes.InvalidArgument, "order ord_1 rejected: mixed currencies", "MIXED_CURRENCY"), http.StatusUnprocessableEntity, "mixed_currency", "order ord_1 rejected: mixed currencies"},
		{"out of stock via apperr", grpcx.ToStatus(apperr.New(apperr.FailedPrecondition, "short").WithReason("OUT_OF_STOCK", "order_id", "ord_1")).Err(), http.StatusConflict, "out_of_stock", "short"},
		{"failed precondition without a reason", status.Error(codes.FailedPrecondition, "not now"), http.StatusConflict, "failed_precondition", "not now"},
		{"unknown reason keeps the code's status", withReason(t, codes.FailedPrecondition, "odd", "SOMETHING_ELSE"), http.StatusConflict, "failed_precondition", "odd"},
		{"idempotency key reused", status.Error(codes.AlreadyExists, "key used for a different order"), http.StatusConflict, "already_exists", "key used for a different order"},
		{"aborted", status.Error(codes.Aborted, "try again"), http.StatusConflict, "conflict", "try again"},
		{"invalid argument", status.Error(codes.InvalidArgument, "quantity must be 1..1000"), http.StatusBadRequest, "invalid_argument", "quantity must be 1..1000"},
		{"not found", status.Error(codes.NotFound, "product p-9 not found"), http.StatusNotFound, "not_found", "product p-9 not found"},
		{"permission denied", status.Error(codes.PermissionDenied, "no"), http.StatusForbidden, "forbidden", "no"},
		{"unauthenticated", status.Error(codes.Unauthenticated, "who"), http.StatusUnauthorized, "unauthenticated", "who"},
		{"resource exhausted", status.Error(codes.ResourceExhausted, "slow down"), http.StatusTooManyRequests, "rate_limited", "slow down"},
		// A placement refused before any work: 503, nothing was done.
		{"refused for overload", grpcx.ToStatus(apperr.New(apperr.Unavailable, "order.PlaceOrder is at capacity").WithReason(overload.Reason)).Err(),
			http.StatusServiceUnavailable, "unavailable", "order.PlaceOrder is at capacity"},
		// Any other UNAVAILABLE, or a cancelled call, may come after the
		// order was made: the outcome is unknown, 504.
		{"unavailable without a refusal", status.Error(codes.Unavailable, "error reading from server: EOF"), http.StatusGatewayTimeout, "timeout", unknownOutcome},
		{"canceled", status.Error(codes.Canceled, "context canceled"), http.StatusGatewayTimeout, "timeout", unknownOutcome},
		{"deadline exceeded", status.Error(codes.DeadlineExceeded, "context deadline exceeded"), http.StatusGatewayTimeout, "timeout", "context deadline exceeded"},
		{"internal hides its message", status.Error(codes.Internal, secret), http.StatusInternalServerError, "internal", ""},
		{"data loss hides its message", status.Error(codes.DataLoss, secret), http.StatusInternalServerError, "internal", ""},
		{"a non-status error hides its message", errors.New(secret), http.StatusInternalServerError, "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHandler(t, nil, &fakeOrders{placeOrder: func(context.Context, *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
				return nil, tt.err
			}})
			rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
			p := wantProblem(t, rec, tt.code, tt.typ)
			if tt.wantDetail != "" && p.Detail != tt.wantDetail {
				t.Errorf("got detail %q, want %q", p.Detail, tt.wantDetail)
			}
			if tt.wantDetail == "" {
				if p.Detail != "internal error" {
					t.Errorf("got detail %q, want the generic \"internal error\"", p.Detail)
				}
				if strings.Contains(rec.Body.String(), "password") || strings.Contains(rec.Body.String(), "10.0.0.7") {
					t.Errorf("body %s leaks the callee's message", rec.Body)
				}
			}
			// Every case built with an ErrorInfo carries order_id ord_1.
			wantOrder := tt.typ == "out_of_stock" || tt.typ == "payment_declined" || tt.typ == "payment_failed" ||
				tt.typ == "mixed_currency" || strings.HasPrefix(tt.name, "unknown reason")
			if wantOrder && p.OrderID != "ord_1" {
				t.Errorf("got order_id %q, want ord_1 from the ErrorInfo metadata", p.OrderID)
			} else if !wantOrder && p.OrderID != "" {
				t.Errorf("got order_id %q on a problem about no order", p.OrderID)
			}
			if got := rec.Result().Header.Get("Retry-After"); (tt.code == http.StatusServiceUnavailable) != (got != "") {
				t.Errorf("status %d with Retry-After %q: want one on a 503 and only there", tt.code, got)
			}
			if p.Instance != "/v1/orders" {
				t.Errorf("got instance %q, want /v1/orders", p.Instance)
			}
			if len(p.TraceID) != 32 {
				t.Errorf("got trace_id %q, want 32 hex digits", p.TraceID)
			}
		})
	}
}
