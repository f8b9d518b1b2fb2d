package api_test

import (
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	shippingv1 "github.com/shopmesh/shopmesh/pkg/api/shipping/v1"
)

var services = []grpc.ServiceDesc{
	inventoryv1.InventoryService_ServiceDesc,
	paymentv1.PaymentService_ServiceDesc,
	orderv1.OrderService_ServiceDesc,
	shippingv1.ShippingService_ServiceDesc,
}

func TestBudgets_EveryMethodHasOne(t *testing.T) {
	t.Parallel()
	n := 0
	for _, sd := range services {
		for _, m := range sd.Methods {
			n++
			full := "/" + sd.ServiceName + "/" + m.MethodName
			if d, ok := api.Budgets[full]; !ok || d <= 0 {
				t.Errorf("%s has no budget in api.Budgets", full)
			}
		}
	}
	if n != len(api.Budgets) {
		t.Errorf("api.Budgets has %d rows for %d methods: remove the rows of methods that are gone", len(api.Budgets), n)
	}
}

// TestBudgets_Nest checks that each outer hop holds what it contains, so a
// caller never gives a call more than its callee may spend and the callee's
// own hops still fit (DESIGN.md: provider timeout < Charge < PlaceOrder <
// the gateway's request budget).
func TestBudgets_Nest(t *testing.T) {
	t.Parallel()
	b := api.Budgets
	tests := []struct {
		outer    string
		budget   time.Duration
		contains time.Duration
	}{
		{"PlaceOrder (create, reserve, charge, commit and three step records)", b[api.OrderPlaceOrder],
			b[api.InventoryReserve] + b[api.PaymentCharge] +
				b[api.InventoryCommit] + 4*api.RecordBudget},
		{"CancelOrder (read, refund, release, three records)", b[api.OrderCancelOrder],
			api.ReadBudget + b[api.PaymentRefund] +
				b[api.InventoryRelease] + 3*api.RecordBudget},
		{"CompensateOrder (as CancelOrder)", b[api.OrderCompensateOrder],
			b[api.OrderCancelOrder]},
		{"Charge (provider timeout, lookup, two records)", b[api.PaymentCharge],
			api.ProviderTimeoutMax + api.ProviderLookupBudget + 2*api.RecordBudget},
	}
	for _, tt := range tests {
		if tt.budget < tt.contains {
			t.Errorf("%s: budget %v cannot hold its parts (%v)", tt.outer, tt.budget, tt.contains)
		}
	}
	if api.ProviderTimeoutMax < time.Second {
		t.Errorf("ProviderTimeoutMax %v: the provider would get less than a second", api.ProviderTimeoutMax)
	}
}
