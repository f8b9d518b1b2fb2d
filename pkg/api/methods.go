package api

// The full gRPC names of shopmesh's methods, as strings: the tables of this
// package are keyed by them, and domain packages read those tables without
// importing gRPC or the generated code. TestMethods checks each against the
// generated <Service>_<Method>_FullMethodName constant.
const (
	// inventory.v1.InventoryService
	InventoryListProducts  = "/inventory.v1.InventoryService/ListProducts"
	InventoryGetProduct    = "/inventory.v1.InventoryService/GetProduct"
	InventoryReserve       = "/inventory.v1.InventoryService/Reserve"
	InventoryCommit        = "/inventory.v1.InventoryService/Commit"
	InventoryRelease       = "/inventory.v1.InventoryService/Release"
	InventoryCreateProduct = "/inventory.v1.InventoryService/CreateProduct"
	InventorySetStock      = "/inventory.v1.InventoryService/SetStock"

	// payment.v1.PaymentService
	PaymentCharge     = "/payment.v1.PaymentService/Charge"
	PaymentRefund     = "/payment.v1.PaymentService/Refund"
	PaymentGetPayment = "/payment.v1.PaymentService/GetPayment"

	// order.v1.OrderService
	OrderPlaceOrder       = "/order.v1.OrderService/PlaceOrder"
	OrderGetOrder         = "/order.v1.OrderService/GetOrder"
	OrderListOrders       = "/order.v1.OrderService/ListOrders"
	OrderCancelOrder      = "/order.v1.OrderService/CancelOrder"
	OrderListParkedOrders = "/order.v1.OrderService/ListParkedOrders"
	OrderRetryOrder       = "/order.v1.OrderService/RetryOrder"
	OrderCompensateOrder  = "/order.v1.OrderService/CompensateOrder"

	// shipping.v1.ShippingService
	ShippingCreateShipment = "/shipping.v1.ShippingService/CreateShipment"
	ShippingCancelShipment = "/shipping.v1.ShippingService/CancelShipment"
	ShippingGetShipment    = "/shipping.v1.ShippingService/GetShipment"
)
