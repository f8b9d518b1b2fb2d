package grpcapi

import (
	"testing"

	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// TestStatusToProto checks that every status of the state machine reaches
// the API as a status of its own.
func TestStatusToProto(t *testing.T) {
	t.Parallel()
	seen := map[orderv1.OrderStatus]order.Status{}
	for _, st := range order.Statuses {
		got := statusToProto(st)
		if got == orderv1.OrderStatus_ORDER_STATUS_UNSPECIFIED {
			t.Errorf("%s reaches the API as UNSPECIFIED", st)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s and %s both reach the API as %s", st, other, got)
		}
		seen[got] = st
		if want := "ORDER_STATUS_" + st.String(); got.String() != want {
			t.Errorf("%s reaches the API as %s, want %s", st, got, want)
		}
	}
}
