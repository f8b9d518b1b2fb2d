// Package grpcapi is inventory's gRPC transport: it converts between proto
// messages and the domain and does nothing else.
package grpcapi

import (
	"context"

	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	moneyv1 "github.com/shopmesh/shopmesh/pkg/api/money/v1"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
)

// AllowedCallers says which services may call which methods, checked from
// the caller's certificate: anyone inside the mesh may read the catalog,
// only order may move stock, and only the gateway may change the catalog
// (it lets admins alone do so; inventory sees services, not users).
var AllowedCallers = map[string][]string{
	"/inventory.v1.InventoryService/ListProducts":  {"gateway", "order"},
	"/inventory.v1.InventoryService/GetProduct":    {"gateway", "order"},
	"/inventory.v1.InventoryService/Reserve":       {"order"},
	"/inventory.v1.InventoryService/Commit":        {"order"},
	"/inventory.v1.InventoryService/Release":       {"order"},
	"/inventory.v1.InventoryService/CreateProduct": {"gateway"},
	"/inventory.v1.InventoryService/SetStock":      {"gateway"},
}

// Server implements inventoryv1.InventoryServiceServer over the domain service.
type Server struct {
	inventoryv1.UnimplementedInventoryServiceServer
	svc *inventory.Service
}

var _ inventoryv1.InventoryServiceServer = (*Server)(nil)

// New returns a Server over svc.
func New(svc *inventory.Service) *Server { return &Server{svc: svc} }

// ListProducts implements inventoryv1.InventoryServiceServer.
func (s *Server) ListProducts(ctx context.Context, req *inventoryv1.ListProductsRequest) (*inventoryv1.ListProductsResponse, error) {
	products, next, err := s.svc.ListProducts(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &inventoryv1.ListProductsResponse{NextPageToken: next}
	for _, p := range products {
		resp.Products = append(resp.Products, productToProto(p))
	}
	return resp, nil
}

// GetProduct implements inventoryv1.InventoryServiceServer.
func (s *Server) GetProduct(ctx context.Context, req *inventoryv1.GetProductRequest) (*inventoryv1.GetProductResponse, error) {
	p, err := s.svc.GetProduct(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &inventoryv1.GetProductResponse{Product: productToProto(p)}, nil
}

// Reserve implements inventoryv1.InventoryServiceServer.
func (s *Server) Reserve(ctx context.Context, req *inventoryv1.ReserveRequest) (*inventoryv1.ReserveResponse, error) {
	items := make([]inventory.Item, 0, len(req.GetItems()))
	for _, it := range req.GetItems() {
		items = append(items, inventory.Item{ProductID: it.GetProductId(), Quantity: it.GetQuantity()})
	}
	r, err := s.svc.Reserve(ctx, req.GetOrderId(), items)
	if err != nil {
		return nil, err
	}
	resp := &inventoryv1.ReserveResponse{Total: moneyToProto(r.Total), State: stateToProto(r.State)}
	for _, l := range r.Lines {
		resp.Lines = append(resp.Lines, &inventoryv1.ReservedLine{ProductId: l.ProductID, Quantity: l.Quantity, UnitPrice: moneyToProto(l.UnitPrice)})
	}
	return resp, nil
}

// Commit implements inventoryv1.InventoryServiceServer.
func (s *Server) Commit(ctx context.Context, req *inventoryv1.CommitRequest) (*inventoryv1.CommitResponse, error) {
	r, err := s.svc.Commit(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &inventoryv1.CommitResponse{State: stateToProto(r.State)}, nil
}

// Release implements inventoryv1.InventoryServiceServer.
func (s *Server) Release(ctx context.Context, req *inventoryv1.ReleaseRequest) (*inventoryv1.ReleaseResponse, error) {
	r, err := s.svc.Release(ctx, req.GetOrderId())
	if err != nil {
		return nil, err
	}
	return &inventoryv1.ReleaseResponse{State: stateToProto(r.State)}, nil
}

// CreateProduct implements inventoryv1.InventoryServiceServer.
func (s *Server) CreateProduct(ctx context.Context, req *inventoryv1.CreateProductRequest) (*inventoryv1.CreateProductResponse, error) {
	p, err := s.svc.CreateProduct(ctx, inventory.Product{
		ID:        req.GetId(),
		Name:      req.GetName(),
		Price:     moneyFromProto(req.GetPrice()),
		Available: req.GetAvailable(),
	})
	if err != nil {
		return nil, err
	}
	return &inventoryv1.CreateProductResponse{Product: productToProto(p)}, nil
}

// SetStock implements inventoryv1.InventoryServiceServer.
func (s *Server) SetStock(ctx context.Context, req *inventoryv1.SetStockRequest) (*inventoryv1.SetStockResponse, error) {
	p, err := s.svc.SetStock(ctx, req.GetProductId(), req.GetAvailable())
	if err != nil {
		return nil, err
	}
	return &inventoryv1.SetStockResponse{Product: productToProto(p)}, nil
}

func productToProto(p inventory.Product) *inventoryv1.Product {
	return &inventoryv1.Product{Id: p.ID, Name: p.Name, Price: moneyToProto(p.Price), Available: p.Available}
}

func moneyToProto(m inventory.Money) *moneyv1.Money {
	return &moneyv1.Money{CurrencyCode: m.Currency, MinorUnits: m.Minor}
}

// moneyFromProto reads a missing price as zero, which validation rejects.
func moneyFromProto(m *moneyv1.Money) inventory.Money {
	return inventory.Money{Currency: m.GetCurrencyCode(), Minor: m.GetMinorUnits()}
}

func stateToProto(s inventory.State) inventoryv1.ReservationState {
	switch s {
	case inventory.Reserved:
		return inventoryv1.ReservationState_RESERVATION_STATE_RESERVED
	case inventory.Committed:
		return inventoryv1.ReservationState_RESERVATION_STATE_COMMITTED
	case inventory.Released:
		return inventoryv1.ReservationState_RESERVATION_STATE_RELEASED
	}
	return inventoryv1.ReservationState_RESERVATION_STATE_UNSPECIFIED
}
