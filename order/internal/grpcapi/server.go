// Package grpcapi is order's gRPC transport: proto ⇄ domain only.
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// AllowedCallers: orders are placed and read through the gateway only.
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

func toProto(o order.Order) *orderv1.Order {
	pb := &orderv1.Order{
		Id: o.ID, CustomerId: o.CustomerID, Status: statusToProto(o.Status),
		Total:     money(o.Total),
		CreatedAt: timestamppb.New(o.CreatedAt), UpdatedAt: timestamppb.New(o.UpdatedAt),
	}
	for _, l := range o.Lines {
		pb.Lines = append(pb.Lines, &orderv1.OrderLine{ProductId: l.ProductID, Quantity: l.Quantity, UnitPrice: money(l.UnitPrice)})
	}
	return pb
}

func money(m order.Money) *moneyv1.Money {
	return &moneyv1.Money{CurrencyCode: m.Currency, MinorUnits: m.Minor}
}

func statusToProto(s order.Status) orderv1.OrderStatus {
	switch s {
	case order.Pending:
		return orderv1.OrderStatus_ORDER_STATUS_PENDING
	case order.Confirmed:
		return orderv1.OrderStatus_ORDER_STATUS_CONFIRMED
	case order.Rejected:
		return orderv1.OrderStatus_ORDER_STATUS_REJECTED
	case order.PaymentDeclined:
		return orderv1.OrderStatus_ORDER_STATUS_PAYMENT_DECLINED
	case order.Cancelled:
		return orderv1.OrderStatus_ORDER_STATUS_CANCELLED
	}
	return orderv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
}
