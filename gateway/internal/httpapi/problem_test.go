package httpapi_test

import (
	"context"
	"errors"
	"log/slog"
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

// secret is a callee's message no client may see: a dependency's words, a
// private address. Every case below fails with it.
const secret = "pq: password authentication failed for user shopmesh at 10.0.0.7"

// Public details, as the gateway words them.
const (
	unknownOutcome = "the outcome is unknown (the request's time ran out, or a dependency failed when it may have taken effect): repeat it, with the same Idempotency-Key if it had one, to learn it"
	notNow         = "shopmesh cannot serve this now and nothing was done: retry after Retry-After seconds"
)

// TestAPI_Problems: every failure of a callee is answered with the status
// and type of its code or reason and shopmesh's own public detail for it;
// the callee's message reaches only the access log.
func TestAPI_Problems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		code   int
		typ    string
		detail string
	}{
		{"out of stock", withReason(t, codes.FailedPrecondition, secret, "OUT_OF_STOCK"), http.StatusConflict, "out_of_stock",
			"an item is out of stock: the order was rejected and nothing was charged"},
		{"payment declined", withReason(t, codes.FailedPrecondition, secret, "PAYMENT_DECLINED"), http.StatusPaymentRequired, "payment_declined",
			"the payment was declined: nothing was charged and the stock went back"},
		{"payment refused by the provider", withReason(t, codes.FailedPrecondition, secret, "PAYMENT_FAILED"), http.StatusUnprocessableEntity, "payment_failed",
			"the payment provider refused the payment details: nothing was charged and the stock went back"},
		{"mixed currencies", withReason(t, codes.InvalidArgument, secret, "MIXED_CURRENCY"), http.StatusUnprocessableEntity, "mixed_currency",
			"the items are priced in different currencies: order them separately"},
		{"out of stock via apperr", grpcx.ToStatus(apperr.New(apperr.FailedPrecondition, secret).WithReason("OUT_OF_STOCK", "order_id", "ord_1")).Err(),
			http.StatusConflict, "out_of_stock", "an item is out of stock: the order was rejected and nothing was charged"},
		{"failed precondition without a reason", status.Error(codes.FailedPrecondition, secret), http.StatusConflict, "failed_precondition",
			"not possible in the resource's current state"},
		{"unknown reason keeps the code's answer", withReason(t, codes.FailedPrecondition, secret, "SOMETHING_ELSE"), http.StatusConflict, "failed_precondition",
			"not possible in the resource's current state"},
		{"idempotency key reused", status.Error(codes.AlreadyExists, secret), http.StatusConflict, "already_exists", "it exists already, with other contents"},
		{"aborted", status.Error(codes.Aborted, secret), http.StatusConflict, "conflict", "another request changed the resource at the same time: retry"},
		{"invalid argument", status.Error(codes.InvalidArgument, secret), http.StatusBadRequest, "invalid_argument", "the request is not valid"},
		{"not found", status.Error(codes.NotFound, secret), http.StatusNotFound, "not_found", "no such resource"},
		{"permission denied", status.Error(codes.PermissionDenied, secret), http.StatusForbidden, "forbidden", "not allowed"},
		{"unauthenticated", status.Error(codes.Unauthenticated, secret), http.StatusUnauthorized, "unauthenticated", "not authenticated"},
		{"resource exhausted", status.Error(codes.ResourceExhausted, secret), http.StatusTooManyRequests, "rate_limited",
			"too many requests: retry after Retry-After seconds"},
		// A placement refused before any work: 503, nothing was done.
		{"refused for overload", grpcx.ToStatus(apperr.New(apperr.Unavailable, secret).WithReason(overload.Reason)).Err(),
			http.StatusServiceUnavailable, "unavailable", notNow},
		// Any other UNAVAILABLE, or a cancelled call, may come after the
		// order was made: the outcome is unknown, 504.
		{"unavailable without a refusal", status.Error(codes.Unavailable, secret), http.StatusGatewayTimeout, "timeout", unknownOutcome},
		{"canceled", status.Error(codes.Canceled, secret), http.StatusGatewayTimeout, "timeout", unknownOutcome},
		{"deadline exceeded", status.Error(codes.DeadlineExceeded, secret), http.StatusGatewayTimeout, "timeout", unknownOutcome},
		{"internal", status.Error(codes.Internal, secret), http.StatusInternalServerError, "internal", "internal error"},
		{"data loss", status.Error(codes.DataLoss, secret), http.StatusInternalServerError, "internal", "internal error"},
		{"a non-status error", errors.New(secret), http.StatusInternalServerError, "internal", "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var log syncBuffer
			logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			h := newLoggingHandler(t, logger, nil, &fakeOrders{placeOrder: func(context.Context, *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
				return nil, tt.err
			}})
			rec := serve(t, h, http.MethodPost, "/v1/orders", orderHeaders, orderBody)
			p := wantProblem(t, rec, tt.code, tt.typ)
			if p.Detail != tt.detail {
				t.Errorf("got detail %q, want %q", p.Detail, tt.detail)
			}
			if strings.Contains(rec.Body.String(), "password") || strings.Contains(rec.Body.String(), "10.0.0.7") {
				t.Errorf("body %s carries the callee's message", rec.Body)
			}
			// The services' log handler adds the trace id to every line.
			if line := log.String(); !strings.Contains(line, `msg="http request"`) || !strings.Contains(line, "peer_detail=") ||
				!strings.Contains(line, "10.0.0.7") {
				t.Errorf("want the callee's message in the access log line, got:\n%s", line)
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
