// Package shipping is the shipping domain: one shipment per confirmed
// order, created when order says the order is confirmed and cancelled when
// it says the order was cancelled. It imports no transport and no database;
// the store is a port (Store), implemented in memstore and postgres.
package shipping

import (
	"context"
	"errors"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Status is where a shipment stands.
type Status int

const (
	// Created is a shipment waiting to be packed and handed to a carrier.
	Created Status = iota + 1
	// Cancelled is a shipment that will not ship: its order was cancelled.
	Cancelled
)

func (s Status) String() string {
	switch s {
	case Created:
		return "CREATED"
	case Cancelled:
		return "CANCELLED"
	}
	return "UNKNOWN"
}

// ParseStatus is the inverse of String.
func ParseStatus(s string) (Status, error) {
	switch s {
	case "CREATED":
		return Created, nil
	case "CANCELLED":
		return Cancelled, nil
	}
	return 0, errors.New("unknown shipment status " + s)
}

// Item is a product and how many of it to ship.
type Item struct {
	ProductID string
	Quantity  int32
}

// Shipment is the shipment of one order, keyed by the order's id.
type Shipment struct {
	OrderID    string
	CustomerID string
	Status     Status
	// Items is empty for a shipment cancelled before it was created.
	Items     []Item
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Store keeps shipments. Every method is atomic, also between processes.
type Store interface {
	// Create stores s unless its order has a shipment already, and returns
	// the order's shipment as stored: s with created=true, or the one
	// before (cancelled ones included) with created=false.
	Create(ctx context.Context, s Shipment) (_ Shipment, created bool, _ error)
	// Cancel sets the order's shipment Cancelled at `at`, or stores a
	// Cancelled one without items when the order has none, and returns it.
	// A shipment already Cancelled is returned unchanged.
	Cancel(ctx context.Context, orderID string, at time.Time) (Shipment, error)
	// Get returns the order's shipment, or an apperr NotFound.
	Get(ctx context.Context, orderID string) (Shipment, error)
}

// Service is shipping's use cases over a Store.
type Service struct {
	store Store
	clock func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the service's clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.clock = now } }

// NewService returns a Service over store.
func NewService(store Store, opts ...Option) (*Service, error) {
	if store == nil {
		return nil, errors.New("shipping: nil store")
	}
	s := &Service{store: store, clock: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// CreateRequest is the input of Create.
type CreateRequest struct {
	OrderID    string
	CustomerID string
	Items      []Item
}

func (r CreateRequest) validate() error {
	switch {
	case r.OrderID == "":
		return apperr.New(apperr.Invalid, "order id is required")
	case r.CustomerID == "":
		return apperr.New(apperr.Invalid, "customer id is required")
	case len(r.Items) == 0 || len(r.Items) > api.MaxOrderItems:
		return apperr.New(apperr.Invalid, "a shipment needs 1 to %d items, got %d", api.MaxOrderItems, len(r.Items))
	}
	for _, it := range r.Items {
		if it.ProductID == "" || it.Quantity < 1 || it.Quantity > api.MaxItemQuantity {
			return apperr.New(apperr.Invalid, "each item needs a product id and a quantity of 1 to %d", api.MaxItemQuantity)
		}
	}
	return nil
}

// Create records the shipment of a confirmed order. A repeat returns the
// shipment as it is: the order's items never change, and a shipment
// cancelled first stays cancelled (order told shipping of the cancellation
// before this late call arrived).
func (s *Service) Create(ctx context.Context, req CreateRequest) (Shipment, error) {
	if err := req.validate(); err != nil {
		return Shipment{}, err
	}
	now := s.clock()
	sh, _, err := s.store.Create(ctx, Shipment{
		OrderID: req.OrderID, CustomerID: req.CustomerID, Status: Created,
		Items: append([]Item(nil), req.Items...), CreatedAt: now, UpdatedAt: now,
	})
	return sh, err
}

// Cancel cancels the order's shipment; see Store.Cancel.
func (s *Service) Cancel(ctx context.Context, orderID string) (Shipment, error) {
	if orderID == "" {
		return Shipment{}, apperr.New(apperr.Invalid, "order id is required")
	}
	return s.store.Cancel(ctx, orderID, s.clock())
}

// Get returns the order's shipment, or an apperr NotFound.
func (s *Service) Get(ctx context.Context, orderID string) (Shipment, error) {
	if orderID == "" {
		return Shipment{}, apperr.New(apperr.Invalid, "order id is required")
	}
	return s.store.Get(ctx, orderID)
}
