// Package api holds shopmesh's gRPC API: the .proto files and generated
// code in <service>/v1, and the facts about the API that clients need
// beyond the generated stubs.
package api

// Idempotent names, per peer service, the gRPC services or methods whose
// calls are safe to repeat, so clients may retry them when the callee was
// UNAVAILABLE. Every entry is idempotent by construction, not by luck:
//
//   - reads (ListProducts, GetProduct, GetPayment, GetOrder, ListOrders,
//     ListParkedOrders, GetShipment);
//   - Reserve, Commit and Release, keyed by order id in inventory;
//   - Charge and Refund, keyed by order id, and sent to the provider with an
//     Idempotency-Key derived from it;
//   - PlaceOrder, keyed by (customer, idempotency key);
//   - CancelOrder, which returns the cancelled order when repeated;
//   - CreateProduct, keyed by product id: a repeat with the same fields
//     returns the existing product;
//   - SetStock, which sets an absolute count, not a delta;
//   - CreateShipment and CancelShipment, keyed by order id.
//
// A method added to the API without an entry here is never retried.
var Idempotent = map[string][]string{
	"inventory": {
		"inventory.v1.InventoryService/ListProducts",
		"inventory.v1.InventoryService/GetProduct",
		"inventory.v1.InventoryService/Reserve",
		"inventory.v1.InventoryService/Commit",
		"inventory.v1.InventoryService/Release",
		"inventory.v1.InventoryService/CreateProduct",
		"inventory.v1.InventoryService/SetStock",
	},
	"payment": {
		"payment.v1.PaymentService/Charge",
		"payment.v1.PaymentService/Refund",
		"payment.v1.PaymentService/GetPayment",
	},
	"order": {
		"order.v1.OrderService/PlaceOrder",
		"order.v1.OrderService/GetOrder",
		"order.v1.OrderService/ListOrders",
		"order.v1.OrderService/CancelOrder",
		"order.v1.OrderService/ListParkedOrders",
	},
	"shipping": {
		"shipping.v1.ShippingService/CreateShipment",
		"shipping.v1.ShippingService/CancelShipment",
		"shipping.v1.ShippingService/GetShipment",
	},
}
