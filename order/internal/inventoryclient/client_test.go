package inventoryclient_test

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/order/internal/inventoryclient"
	"github.com/shopmesh/shopmesh/order/internal/order"
)

// fakeAPI answers Reserve with a reservation in a given state; the other
// methods are never called (the embedded nil interface would panic).
type fakeAPI struct {
	inventoryv1.InventoryServiceClient
	state inventoryv1.ReservationState
}

func (f *fakeAPI) Reserve(context.Context, *inventoryv1.ReserveRequest, ...grpc.CallOption) (*inventoryv1.ReserveResponse, error) {
	return &inventoryv1.ReserveResponse{
		State: f.state,
		Lines: []*inventoryv1.ReservedLine{{ProductId: "p-1", Quantity: 2, UnitPrice: &moneyv1.Money{CurrencyCode: "EUR", MinorUnits: 500}}},
		Total: &moneyv1.Money{CurrencyCode: "EUR", MinorUnits: 1000},
	}, nil
}

func TestClient_Reserve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		state  inventoryv1.ReservationState
		code   apperr.Code
		reason string
	}{
		{"reserved", inventoryv1.ReservationState_RESERVATION_STATE_RESERVED, "", ""},
		{"committed (a repeat after commit)", inventoryv1.ReservationState_RESERVATION_STATE_COMMITTED, "", ""},
		// The saga rejects the order: its stock went back, nothing was charged.
		{"released (expired)", inventoryv1.ReservationState_RESERVATION_STATE_RELEASED, apperr.FailedPrecondition, order.ReasonReservationExpired},
		// Not an answer inventory gives: the saga retries, it does not reject.
		{"unspecified", inventoryv1.ReservationState_RESERVATION_STATE_UNSPECIFIED, apperr.Internal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := inventoryclient.New(&fakeAPI{state: tt.state})
			res, err := c.Reserve(t.Context(), "ord_1", []order.Item{{ProductID: "p-1", Quantity: 2}})
			if apperr.CodeOf(err) != tt.code || apperr.ReasonOf(err) != tt.reason {
				t.Fatalf("got %v (code %q, reason %q), want code %q reason %q", err, apperr.CodeOf(err), apperr.ReasonOf(err), tt.code, tt.reason)
			}
			if err == nil && (res.Total != order.Money{Currency: "EUR", Minor: 1000} || len(res.Lines) != 1) {
				t.Errorf("got reservation %+v, want one line and a total of 1000 EUR", res)
			}
		})
	}
}
