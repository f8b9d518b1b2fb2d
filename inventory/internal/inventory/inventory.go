// Package inventory is the inventory domain: the catalog, stock, and
// reservations held for orders. It imports no transport or storage code.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Money is an amount in integer minor units with its ISO 4217 currency.
type Money struct {
	Currency string
	Minor    int64
}

// Product is a sellable item with its price and the units still available.
type Product struct {
	ID        string
	Name      string
	Price     Money
	Available int64
}

// Item is a quantity of one product requested by an order.
type Item struct {
	ProductID string
	Quantity  int32
}

// Line is an item priced at reservation time.
type Line struct {
	ProductID string
	Quantity  int32
	UnitPrice Money
}

// State is where a reservation is in its life.
type State int

// Reservation states. Reserved stock is out of Available; Committed stock is
// sold; Released stock went back.
const (
	Reserved State = iota + 1
	Committed
	Released
)

// Reservation is the stock held for one order.
type Reservation struct {
	OrderID string
	Lines   []Line
	Total   Money
	State   State
}

// Reasons of FailedPrecondition errors, declared for callers in pkg/api.
const (
	ReasonOutOfStock          = api.ReasonOutOfStock
	ReasonNotReserved         = api.ReasonNotReserved
	ReasonMixedPricing        = api.ReasonMixedCurrency
	ReasonReservationReleased = api.ReasonReservationReleased
)

// Store keeps products and reservations. Reserve, Commit and Release are
// atomic and idempotent by order id; implementations must never let
// Available go below zero, even under concurrent reservations.
type Store interface {
	// ListProducts returns up to limit products with ids after `after`, in id order.
	ListProducts(ctx context.Context, after string, limit int) ([]Product, error)
	// GetProduct returns a product or an apperr NotFound.
	GetProduct(ctx context.Context, id string) (Product, error)
	// Reserve holds every item for orderID or nothing (FailedPrecondition,
	// reason OUT_OF_STOCK; NotFound for an unknown product). A repeat for
	// the same order returns the existing reservation, and holds one that
	// is still Reserved for another TTL from now: a saga checks its
	// reservation this way before it charges.
	Reserve(ctx context.Context, orderID string, items []Item) (Reservation, error)
	// Commit marks the reservation sold. Committing twice is fine;
	// committing a released or unknown reservation is FailedPrecondition
	// (reason NOT_RESERVED). A reservation the Expirer released is released.
	Commit(ctx context.Context, orderID string) (Reservation, error)
	// Release returns a reserved or committed reservation's stock. Releasing
	// twice, or an order that never reserved, is fine.
	Release(ctx context.Context, orderID string) (Reservation, error)
	// CreateProduct stores p, which the Service has validated, with
	// p.Available units in stock. If p.ID is taken, it returns the stored
	// product (with its current stock) when p's name, price and initial
	// stock equal the stored product's, and an apperr Conflict otherwise:
	// a retried create succeeds, a clashing one fails.
	CreateProduct(ctx context.Context, p Product) (Product, error)
	// SetStock sets product id's Available to available (not negative) and
	// returns the product; NotFound for an unknown id. It sets the count
	// that can still be reserved, not the total: units held by
	// reservations stay held and come back on Release. Atomic with respect
	// to Reserve and Release, so a concurrent reservation is either
	// counted before the new value is set or taken from it.
	SetStock(ctx context.Context, id string, available int64) (Product, error)
}

// DefaultReservationTTL is how long stock stays reserved for an order that
// is neither committed nor released (RESERVATION_TTL). DESIGN.md, order
// flow: "Reservations that are never committed expire."
const DefaultReservationTTL = 15 * time.Minute

// Expirer releases reservations whose time ran out. A store sets a
// reservation's expiry when Reserve creates it (its creation time plus the
// store's TTL); a Sweeper calls ReleaseExpired periodically.
type Expirer interface {
	// ReleaseExpired releases up to limit reservations that are still
	// Reserved and expired at or before now, returning their stock as
	// Release does, and reports how many it released. Committed and
	// released reservations are never touched. Several callers (replicas)
	// may run it at once: each reservation is released, and its stock
	// returned, exactly once.
	ReleaseExpired(ctx context.Context, now time.Time, limit int) (int, error)
}

// Service is the inventory use cases: input validation in front of a Store.
type Service struct {
	store Store
}

// NewService returns a Service over store.
func NewService(store Store) (*Service, error) {
	if store == nil {
		return nil, errors.New("inventory: nil store")
	}
	return &Service{store: store}, nil
}

// ListProducts pages through the catalog; pageToken is the last id seen.
func (s *Service) ListProducts(ctx context.Context, pageSize int, pageToken string) (products []Product, next string, err error) {
	if pageSize < 0 {
		return nil, "", apperr.New(apperr.Invalid, "page_size must not be negative")
	}
	pageSize = api.ProductsPage.Clamp(pageSize)
	// Ask for one more to know whether another page exists.
	products, err = s.store.ListProducts(ctx, pageToken, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("list products: %w", err)
	}
	if len(products) > pageSize {
		products = products[:pageSize]
		next = products[len(products)-1].ID
	}
	return products, next, nil
}

// GetProduct returns one product.
func (s *Service) GetProduct(ctx context.Context, id string) (Product, error) {
	if id == "" {
		return Product{}, apperr.New(apperr.Invalid, "product id is required")
	}
	return s.store.GetProduct(ctx, id)
}

// Reserve validates the items and reserves them for orderID.
func (s *Service) Reserve(ctx context.Context, orderID string, items []Item) (Reservation, error) {
	if orderID == "" {
		return Reservation{}, apperr.New(apperr.Invalid, "order id is required")
	}
	if len(items) == 0 || len(items) > api.MaxOrderItems {
		return Reservation{}, apperr.New(apperr.Invalid, "an order needs 1 to %d items, got %d", api.MaxOrderItems, len(items))
	}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if it.ProductID == "" {
			return Reservation{}, apperr.New(apperr.Invalid, "product id is required")
		}
		if it.Quantity < 1 || it.Quantity > api.MaxItemQuantity {
			return Reservation{}, apperr.New(apperr.Invalid, "quantity of %s must be 1..%d, got %d", it.ProductID, api.MaxItemQuantity, it.Quantity)
		}
		if seen[it.ProductID] {
			return Reservation{}, apperr.New(apperr.Invalid, "product %s listed twice", it.ProductID)
		}
		seen[it.ProductID] = true
	}
	r, err := s.store.Reserve(ctx, orderID, items)
	if err == nil && r.State == Released {
		// A repeat for an order whose stock went back: it is not held
		// again under this order id, and saying so is a refusal, not a
		// reservation.
		return Reservation{}, apperr.New(apperr.FailedPrecondition, "the reservation of order %s was released; its stock is not held", orderID).
			WithReason(ReasonReservationReleased, "order_id", orderID)
	}
	return r, err
}

// Commit makes orderID's reservation a sale.
func (s *Service) Commit(ctx context.Context, orderID string) (Reservation, error) {
	if orderID == "" {
		return Reservation{}, apperr.New(apperr.Invalid, "order id is required")
	}
	return s.store.Commit(ctx, orderID)
}

// Release returns orderID's stock.
func (s *Service) Release(ctx context.Context, orderID string) (Reservation, error) {
	if orderID == "" {
		return Reservation{}, apperr.New(apperr.Invalid, "order id is required")
	}
	return s.store.Release(ctx, orderID)
}
