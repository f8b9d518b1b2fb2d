package grpcapi_test

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/grpc/codes"

	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"

	"github.com/shopmesh/shopmesh/order/internal/grpcapi"
	"github.com/shopmesh/shopmesh/order/internal/memstore"
	"github.com/shopmesh/shopmesh/order/internal/order"
)

// fakeInventory is an order.Inventory whose methods are set per test.
type fakeInventory struct {
	reserve func(ctx context.Context, orderID string, items []order.Item) (order.Reservation, error)
	commit  func(ctx context.Context, orderID string) error
	release func(ctx context.Context, orderID string) error
}

func (f *fakeInventory) Reserve(ctx context.Context, id string, items []order.Item) (order.Reservation, error) {
	return f.reserve(ctx, id, items)
}
func (f *fakeInventory) Commit(ctx context.Context, id string) error  { return f.commit(ctx, id) }
func (f *fakeInventory) Release(ctx context.Context, id string) error { return f.release(ctx, id) }

// fakePayment is an order.Payment whose methods are set per test.
type fakePayment struct {
	charge func(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error)
	refund func(ctx context.Context, orderID string) error
}

func (f *fakePayment) Charge(ctx context.Context, id string, amount order.Money, token string) (order.ChargeResult, error) {
	return f.charge(ctx, id, amount, token)
}
func (f *fakePayment) Refund(ctx context.Context, id string) error { return f.refund(ctx, id) }

// newServer returns a Server over a memstore and peers that accept
// everything; tests change the peers before the first call.
func newServer(t *testing.T) (*grpcapi.Server, *fakeInventory, *fakePayment) {
	t.Helper()
	inv := &fakeInventory{
		reserve: func(context.Context, string, []order.Item) (order.Reservation, error) {
			return order.Reservation{
				Lines: []order.Line{{ProductID: "p-1", Quantity: 1, UnitPrice: order.Money{Currency: "EUR", Minor: 250}}},
				Total: order.Money{Currency: "EUR", Minor: 250},
			}, nil
		},
		commit:  func(context.Context, string) error { return nil },
		release: func(context.Context, string) error { return nil },
	}
	pay := &fakePayment{
		charge: func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
			return order.ChargeResult{}, nil
		},
		refund: func(context.Context, string) error { return nil },
	}
	svc, err := order.NewService(memstore.New(), inv, pay, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return grpcapi.New(svc), inv, pay
}

func placeRequest(key string) *orderv1.PlaceOrderRequest {
	return &orderv1.PlaceOrderRequest{
		CustomerId: "c-1", IdempotencyKey: key, PaymentToken: "tok_visa",
		Items: []*orderv1.LineItem{{ProductId: "p-1", Quantity: 1}},
	}
}

func TestServer_PlaceOrder(t *testing.T) {
	t.Parallel()
	srv, _, _ := newServer(t)
	resp, err := srv.PlaceOrder(t.Context(), placeRequest("k-1"))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	o := resp.GetOrder()
	if o.GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CONFIRMED || o.GetCustomerId() != "c-1" ||
		o.GetTotal().GetMinorUnits() != 250 || o.GetTotal().GetCurrencyCode() != "EUR" || len(o.GetLines()) != 1 {
		t.Errorf("got %v, want a confirmed order of c-1 with one line and a total of 250 EUR", o)
	}
	got, err := srv.GetOrder(t.Context(), &orderv1.GetOrderRequest{Id: o.GetId()})
	if err != nil || got.GetOrder().GetId() != o.GetId() {
		t.Errorf("GetOrder: got %v, %v; want order %s", got, err, o.GetId())
	}
}

// TestServer_ErrorCodes checks that domain errors reach callers with the
// gRPC codes of apperr's one table (DESIGN.md, issue 5).
func TestServer_ErrorCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		call   func(t *testing.T, srv *grpcapi.Server, inv *fakeInventory, pay *fakePayment) error
		want   codes.Code
		reason string
	}{
		{"unknown order", func(t *testing.T, srv *grpcapi.Server, _ *fakeInventory, _ *fakePayment) error {
			_, err := srv.GetOrder(t.Context(), &orderv1.GetOrderRequest{Id: "ord_nope"})
			return err
		}, codes.NotFound, ""},
		{"invalid request", func(t *testing.T, srv *grpcapi.Server, _ *fakeInventory, _ *fakePayment) error {
			_, err := srv.PlaceOrder(t.Context(), &orderv1.PlaceOrderRequest{CustomerId: "c-1"})
			return err
		}, codes.InvalidArgument, ""},
		{"unknown page token", func(t *testing.T, srv *grpcapi.Server, _ *fakeInventory, _ *fakePayment) error {
			_, err := srv.ListOrders(t.Context(), &orderv1.ListOrdersRequest{CustomerId: "c-1", PageToken: "ord_nope"})
			return err
		}, codes.InvalidArgument, ""},
		{"out of stock", func(t *testing.T, srv *grpcapi.Server, inv *fakeInventory, _ *fakePayment) error {
			inv.reserve = func(context.Context, string, []order.Item) (order.Reservation, error) {
				return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "short").WithReason(order.ReasonOutOfStock)
			}
			_, err := srv.PlaceOrder(t.Context(), placeRequest("k-1"))
			return err
		}, codes.FailedPrecondition, order.ReasonOutOfStock},
		{"payment declined", func(t *testing.T, srv *grpcapi.Server, _ *fakeInventory, pay *fakePayment) error {
			pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
				return order.ChargeResult{Declined: true}, nil
			}
			_, err := srv.PlaceOrder(t.Context(), placeRequest("k-1"))
			return err
		}, codes.FailedPrecondition, order.ReasonPaymentDeclined},
		{"cancelling an order that is not confirmed", func(t *testing.T, srv *grpcapi.Server, _ *fakeInventory, pay *fakePayment) error {
			pay.charge = func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
				return order.ChargeResult{Declined: true}, nil
			}
			// The declined order comes with an error, not a response.
			_, _ = srv.PlaceOrder(t.Context(), placeRequest("k-1"))
			list, err := srv.ListOrders(t.Context(), &orderv1.ListOrdersRequest{CustomerId: "c-1"})
			if err != nil || len(list.GetOrders()) != 1 {
				t.Fatalf("ListOrders: got %v, %v; want one order", list, err)
			}
			_, err = srv.CancelOrder(t.Context(), &orderv1.CancelOrderRequest{Id: list.GetOrders()[0].GetId()})
			return err
		}, codes.FailedPrecondition, ""},
		{"key reused with another body", func(t *testing.T, srv *grpcapi.Server, _ *fakeInventory, _ *fakePayment) error {
			if _, err := srv.PlaceOrder(t.Context(), placeRequest("k-1")); err != nil {
				t.Fatalf("PlaceOrder: %v", err)
			}
			other := placeRequest("k-1")
			other.Items[0].Quantity = 2
			_, err := srv.PlaceOrder(t.Context(), other)
			return err
		}, codes.AlreadyExists, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, inv, pay := newServer(t)
			err := tt.call(t, srv, inv, pay)
			st := grpcx.ToStatus(err)
			if st.Code() != tt.want {
				t.Fatalf("got %v (gRPC code %s), want %s", err, st.Code(), tt.want)
			}
			if tt.reason != "" && apperr.ReasonOf(grpcx.FromStatus(st.Err())) != tt.reason {
				t.Errorf("got reason %q, want %q", apperr.ReasonOf(grpcx.FromStatus(st.Err())), tt.reason)
			}
		})
	}
}

// TestServer_CancelOrder_Concurrent: a cancellation that finds another one
// driving the order answers the order as it is, and the refund is made once.
func TestServer_CancelOrder_Concurrent(t *testing.T) {
	t.Parallel()
	srv, _, pay := newServer(t)
	resp, err := srv.PlaceOrder(t.Context(), placeRequest("k-1"))
	if err != nil {
		t.Fatalf("PlaceOrder: %v", err)
	}
	id := resp.GetOrder().GetId()
	refunds := 0
	var nested *orderv1.CancelOrderResponse
	pay.refund = func(ctx context.Context, _ string) error {
		refunds++
		if nested == nil { // another cancellation overtakes this one
			if nested, err = srv.CancelOrder(ctx, &orderv1.CancelOrderRequest{Id: id}); err != nil {
				t.Errorf("overtaking CancelOrder: %v", err)
			}
		}
		return nil
	}
	got, err := srv.CancelOrder(t.Context(), &orderv1.CancelOrderRequest{Id: id})
	if err != nil || got.GetOrder().GetStatus() != orderv1.OrderStatus_ORDER_STATUS_CANCELLED {
		t.Fatalf("CancelOrder: %v, %v; want CANCELLED", got.GetOrder().GetStatus(), err)
	}
	if s := nested.GetOrder().GetStatus(); s != orderv1.OrderStatus_ORDER_STATUS_CANCELLING {
		t.Errorf("the overtaking CancelOrder answered %s, want the order as it was, CANCELLING", s)
	}
	if refunds != 1 {
		t.Errorf("%d refunds, want 1", refunds)
	}
}
