// Package grpcapi is order's gRPC transport: proto ⇄ domain only.
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// AllowedCallers says who may call each method: orders are placed and read
// through the gateway only.
var AllowedCallers = map[string][]string{
	"/order.v1.OrderService/": {"gateway"},
}

// Server implements orderv1.OrderServiceServer.
type Server struct {
	orderv1.UnimplementedOrderServiceServer
	svc *order.Service
}

var _ orderv1.OrderServiceServer = (*Server)(nil)

// New returns a Server over svc.
func New(svc *order.Service) *Server { return &Server{svc: svc} }

// PlaceOrder implements orderv1.OrderServiceServer.
func (s *Server) PlaceOrder(ctx context.Context, req *orderv1.PlaceOrderRequest) (*orderv1.PlaceOrderResponse, error) {
	items := make([]order.Item, 0, len(req.GetItems()))
	for _, it := range req.GetItems() {
		items = append(items, order.Item{ProductID: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	o, replayed, err := s.svc.Place(ctx, order.PlaceRequest{
		CustomerID: req.GetCustomerId(), IdempotencyKey: req.GetIdempotencyKey(),
		Items: items, PaymentToken: req.GetPaymentToken(),
	})
	if err != nil {
		return nil, err
	}
	return &orderv1.PlaceOrderResponse{Order: toProto(o), Replayed: replayed}, nil
}

// GetOrder implements orderv1.OrderServiceServer.
func (s *Server) GetOrder(ctx context.Context, req *orderv1.GetOrderRequest) (*orderv1.GetOrderResponse, error) {
	o, err := s.svc.GetOrder(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &orderv1.GetOrderResponse{Order: toProto(o)}, nil
}

// ListOrders implements orderv1.OrderServiceServer.
func (s *Server) ListOrders(ctx context.Context, req *orderv1.ListOrdersRequest) (*orderv1.ListOrdersResponse, error) {
	orders, next, err := s.svc.ListOrders(ctx, req.GetCustomerId(), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListOrdersResponse{NextPageToken: next}
	for _, o := range orders {
		resp.Orders = append(resp.Orders, toProto(o))
	}
	return resp, nil
}

// CancelOrder implements orderv1.OrderServiceServer.
func (s *Server) CancelOrder(ctx context.Context, req *orderv1.CancelOrderRequest) (*orderv1.CancelOrderResponse, error) {
	o, err := s.svc.CancelOrder(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &orderv1.CancelOrderResponse{Order: toProto(o)}, nil
}

// ListParkedOrders implements orderv1.OrderServiceServer.
func (s *Server) ListParkedOrders(ctx context.Context, req *orderv1.ListParkedOrdersRequest) (*orderv1.ListParkedOrdersResponse, error) {
	orders, next, err := s.svc.ListParked(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &orderv1.ListParkedOrdersResponse{NextPageToken: next}
	for _, o := range orders {
		resp.Orders = append(resp.Orders, toProto(o))
	}
	return resp, nil
}

// RetryOrder implements orderv1.OrderServiceServer.
func (s *Server) RetryOrder(ctx context.Context, req *orderv1.RetryOrderRequest) (*orderv1.RetryOrderResponse, error) {
	o, err := s.svc.RetryOrder(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &orderv1.RetryOrderResponse{Order: toProto(o)}, nil
}

// CompensateOrder implements orderv1.OrderServiceServer.
func (s *Server) CompensateOrder(ctx context.Context, req *orderv1.CompensateOrderRequest) (*orderv1.CompensateOrderResponse, error) {
	o, err := s.svc.CompensateOrder(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &orderv1.CompensateOrderResponse{Order: toProto(o)}, nil
}

func toProto(o order.Order) *orderv1.Order {
	pb := &orderv1.Order{
		Id: o.ID, CustomerId: o.CustomerID, Status: statusToProto(o.Status),
		Total:     money(o.Total),
		CreatedAt: timestamppb.New(o.CreatedAt), UpdatedAt: timestamppb.New(o.UpdatedAt),
		Reason: o.Reason, Attention: o.Attention, TraceId: o.TraceID,
	}
	for _, l := range o.Lines {
		pb.Lines = append(pb.Lines, &orderv1.OrderLine{ProductId: l.ProductID, Quantity: l.Quantity, UnitPrice: money(l.UnitPrice)})
	}
	return pb
}

func money(m order.Money) *moneyv1.Money {
	return &moneyv1.Money{CurrencyCode: m.Currency, MinorUnits: m.Minor}
}

// statuses maps every domain status to its wire status.
var statuses = map[order.Status]orderv1.OrderStatus{
	order.Pending:         orderv1.OrderStatus_ORDER_STATUS_PENDING,
	order.Confirmed:       orderv1.OrderStatus_ORDER_STATUS_CONFIRMED,
	order.Rejected:        orderv1.OrderStatus_ORDER_STATUS_REJECTED,
	order.PaymentDeclined: orderv1.OrderStatus_ORDER_STATUS_PAYMENT_DECLINED,
	order.Cancelled:       orderv1.OrderStatus_ORDER_STATUS_CANCELLED,
	order.PaymentFailed:   orderv1.OrderStatus_ORDER_STATUS_PAYMENT_FAILED,
	order.Cancelling:      orderv1.OrderStatus_ORDER_STATUS_CANCELLING,
	order.NeedsAttention:  orderv1.OrderStatus_ORDER_STATUS_NEEDS_ATTENTION,
}

func statusToProto(s order.Status) orderv1.OrderStatus {
	if st, ok := statuses[s]; ok {
		return st
	}
	return orderv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
}
