package api_test

import (
	"testing"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	shippingv1 "github.com/shopmesh/shopmesh/pkg/api/shipping/v1"
)

// TestMethods checks the method names declared in package api against the
// generated code, and that every generated method has one.
func TestMethods(t *testing.T) {
	t.Parallel()
	declared := map[string]string{
		api.InventoryListProducts:  inventoryv1.InventoryService_ListProducts_FullMethodName,
		api.InventoryGetProduct:    inventoryv1.InventoryService_GetProduct_FullMethodName,
		api.InventoryReserve:       inventoryv1.InventoryService_Reserve_FullMethodName,
		api.InventoryCommit:        inventoryv1.InventoryService_Commit_FullMethodName,
		api.InventoryRelease:       inventoryv1.InventoryService_Release_FullMethodName,
		api.InventoryCreateProduct: inventoryv1.InventoryService_CreateProduct_FullMethodName,
		api.InventorySetStock:      inventoryv1.InventoryService_SetStock_FullMethodName,
		api.PaymentCharge:          paymentv1.PaymentService_Charge_FullMethodName,
		api.PaymentRefund:          paymentv1.PaymentService_Refund_FullMethodName,
		api.PaymentGetPayment:      paymentv1.PaymentService_GetPayment_FullMethodName,
		api.OrderPlaceOrder:        orderv1.OrderService_PlaceOrder_FullMethodName,
		api.OrderGetOrder:          orderv1.OrderService_GetOrder_FullMethodName,
		api.OrderListOrders:        orderv1.OrderService_ListOrders_FullMethodName,
		api.OrderCancelOrder:       orderv1.OrderService_CancelOrder_FullMethodName,
		api.OrderListParkedOrders:  orderv1.OrderService_ListParkedOrders_FullMethodName,
		api.OrderRetryOrder:        orderv1.OrderService_RetryOrder_FullMethodName,
		api.OrderCompensateOrder:   orderv1.OrderService_CompensateOrder_FullMethodName,
		api.ShippingCreateShipment: shippingv1.ShippingService_CreateShipment_FullMethodName,
		api.ShippingCancelShipment: shippingv1.ShippingService_CancelShipment_FullMethodName,
		api.ShippingGetShipment:    shippingv1.ShippingService_GetShipment_FullMethodName,
	}
	for name, generated := range declared {
		if name != generated {
			t.Errorf("api declares %q, the generated code names it %q", name, generated)
		}
	}
	for _, sd := range services {
		for _, m := range sd.Methods {
			full := "/" + sd.ServiceName + "/" + m.MethodName
			if _, ok := declared[full]; !ok {
				t.Errorf("%s has no name declared in package api (methods.go)", full)
			}
		}
	}
}
