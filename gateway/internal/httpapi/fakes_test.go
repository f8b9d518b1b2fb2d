package httpapi_test

import (
	"context"

	"google.golang.org/grpc"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
)

// fakeInventory is an inventoryv1.InventoryServiceClient whose catalog methods
// are set per test. Any other method, or one left nil, panics, which the
// API's recovery turns into a 500 the test notices.
type fakeInventory struct {
	inventoryv1.InventoryServiceClient
	listProducts  func(ctx context.Context, in *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error)
	getProduct    func(ctx context.Context, in *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error)
	createProduct func(ctx context.Context, in *inventoryv1.CreateProductRequest) (*inventoryv1.CreateProductResponse, error)
	setStock      func(ctx context.Context, in *inventoryv1.SetStockRequest) (*inventoryv1.SetStockResponse, error)
}

func (f *fakeInventory) ListProducts(ctx context.Context, in *inventoryv1.ListProductsRequest, _ ...grpc.CallOption) (*inventoryv1.ListProductsResponse, error) {
	return f.listProducts(ctx, in)
}

func (f *fakeInventory) GetProduct(ctx context.Context, in *inventoryv1.GetProductRequest, _ ...grpc.CallOption) (*inventoryv1.GetProductResponse, error) {
	return f.getProduct(ctx, in)
}

func (f *fakeInventory) CreateProduct(ctx context.Context, in *inventoryv1.CreateProductRequest, _ ...grpc.CallOption) (*inventoryv1.CreateProductResponse, error) {
	return f.createProduct(ctx, in)
}

func (f *fakeInventory) SetStock(ctx context.Context, in *inventoryv1.SetStockRequest, _ ...grpc.CallOption) (*inventoryv1.SetStockResponse, error) {
	return f.setStock(ctx, in)
}

// fakeOrders is an orderv1.OrderServiceClient whose methods are set per
// test; one left nil panics like fakeInventory's.
type fakeOrders struct {
	orderv1.OrderServiceClient
	placeOrder  func(ctx context.Context, in *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error)
	getOrder    func(ctx context.Context, in *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error)
	listOrders  func(ctx context.Context, in *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error)
	cancelOrder func(ctx context.Context, in *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error)
	listParked  func(ctx context.Context, in *orderv1.ListParkedOrdersRequest) (*orderv1.ListParkedOrdersResponse, error)
	retry       func(ctx context.Context, in *orderv1.RetryOrderRequest) (*orderv1.RetryOrderResponse, error)
	compensate  func(ctx context.Context, in *orderv1.CompensateOrderRequest) (*orderv1.CompensateOrderResponse, error)
}

func (f *fakeOrders) ListParkedOrders(ctx context.Context, in *orderv1.ListParkedOrdersRequest, _ ...grpc.CallOption) (*orderv1.ListParkedOrdersResponse, error) {
	return f.listParked(ctx, in)
}

func (f *fakeOrders) RetryOrder(ctx context.Context, in *orderv1.RetryOrderRequest, _ ...grpc.CallOption) (*orderv1.RetryOrderResponse, error) {
	return f.retry(ctx, in)
}

func (f *fakeOrders) CompensateOrder(ctx context.Context, in *orderv1.CompensateOrderRequest, _ ...grpc.CallOption) (*orderv1.CompensateOrderResponse, error) {
	return f.compensate(ctx, in)
}

func (f *fakeOrders) PlaceOrder(ctx context.Context, in *orderv1.PlaceOrderRequest, _ ...grpc.CallOption) (*orderv1.PlaceOrderResponse, error) {
	return f.placeOrder(ctx, in)
}

func (f *fakeOrders) GetOrder(ctx context.Context, in *orderv1.GetOrderRequest, _ ...grpc.CallOption) (*orderv1.GetOrderResponse, error) {
	return f.getOrder(ctx, in)
}

func (f *fakeOrders) ListOrders(ctx context.Context, in *orderv1.ListOrdersRequest, _ ...grpc.CallOption) (*orderv1.ListOrdersResponse, error) {
	return f.listOrders(ctx, in)
}

func (f *fakeOrders) CancelOrder(ctx context.Context, in *orderv1.CancelOrderRequest, _ ...grpc.CallOption) (*orderv1.CancelOrderResponse, error) {
	return f.cancelOrder(ctx, in)
}
