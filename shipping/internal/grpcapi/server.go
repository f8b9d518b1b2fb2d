// Package grpcapi is shipping's gRPC transport: proto ⇄ domain only.
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/shopmesh/shopmesh/pkg/api"
	shippingv1 "github.com/shopmesh/shopmesh/pkg/api/shipping/v1"

	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
)

// AllowedCallers says who may call each method: only order tells shipping
// what to ship, and only order reads it back (the gateway shows an order's
// state from the order).
var AllowedCallers = map[string][]string{
	api.ShippingCreateShipment: {"order"},
	api.ShippingCancelShipment: {"order"},
	api.ShippingGetShipment:    {"order"},
}

// Server implements shippingv1.ShippingServiceServer.
type Server struct {
	shippingv1.UnimplementedShippingServiceServer
	svc *shipping.Service
}

var _ shippingv1.ShippingServiceServer = (*Server)(nil)

// New returns a Server over svc.
func New(svc *shipping.Service) *Server { return &Server{svc: svc} }

// CreateShipment implements shippingv1.ShippingServiceServer.
func (s *Server) CreateShipment(ctx context.Context, req *shippingv1.CreateShipmentRequest) (*shippingv1.CreateShipmentResponse, error) {
	items := make([]shipping.Item, len(req.GetItems()))
	for i, it := range req.GetItems() {
		items[i] = shipping.Item{ProductID: it.GetProductId(), Quantity: it.GetQuantity()}
	}
	sh, err := s.svc.Create(ctx, shipping.CreateRequest{OrderID: req.GetOrderId(), CustomerID: req.GetCustomerId(), Items: items})
	if err != nil {
		return nil, err
	}
	return &shippingv1.CreateShipmentResponse{Shipment: toProto(sh)}, nil
}

// CancelShipment implements shippingv1.ShippingServiceServer.
func (s *Server) CancelShipment(ctx context.Context, req *shippingv1.CancelShipmentRequest) (*shippingv1.CancelShipmentResponse, error) {
	sh, err := s.svc.Cancel(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &shippingv1.CancelShipmentResponse{Shipment: toProto(sh)}, nil
}

// GetShipment implements shippingv1.ShippingServiceServer.
func (s *Server) GetShipment(ctx context.Context, req *shippingv1.GetShipmentRequest) (*shippingv1.GetShipmentResponse, error) {
	sh, err := s.svc.Get(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &shippingv1.GetShipmentResponse{Shipment: toProto(sh)}, nil
}

func toProto(sh shipping.Shipment) *shippingv1.Shipment {
	items := make([]*shippingv1.Item, len(sh.Items))
	for i, it := range sh.Items {
		items[i] = &shippingv1.Item{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	status := shippingv1.ShipmentStatus_SHIPMENT_STATUS_CREATED
	if sh.Status == shipping.Cancelled {
		status = shippingv1.ShipmentStatus_SHIPMENT_STATUS_CANCELLED
	}
	return &shippingv1.Shipment{
		OrderId: sh.OrderID, Status: status, Items: items,
		CreatedAt: timestamppb.New(sh.CreatedAt), UpdatedAt: timestamppb.New(sh.UpdatedAt),
	}
}
