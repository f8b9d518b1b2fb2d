// Package memstore is an in-memory shipping.Store, for unit tests;
// production uses the Postgres store. The same contract tests (storetest)
// hold both.
package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
)

// Store is an in-memory shipping.Store. One mutex makes every operation
// atomic.
type Store struct {
	mu        sync.Mutex
	shipments map[string]shipping.Shipment
}

var _ shipping.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store { return &Store{shipments: map[string]shipping.Shipment{}} }

// Create implements shipping.Store.
func (s *Store) Create(ctx context.Context, sh shipping.Shipment) (shipping.Shipment, bool, error) {
	if err := ctx.Err(); err != nil {
		return shipping.Shipment{}, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if have, ok := s.shipments[sh.OrderID]; ok {
		return clone(have), false, nil
	}
	s.shipments[sh.OrderID] = clone(sh)
	return clone(sh), true, nil
}

// Cancel implements shipping.Store.
func (s *Store) Cancel(ctx context.Context, orderID string, at time.Time) (shipping.Shipment, error) {
	if err := ctx.Err(); err != nil {
		return shipping.Shipment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shipments[orderID]
	switch {
	case !ok:
		sh = shipping.Shipment{OrderID: orderID, Status: shipping.Cancelled, CreatedAt: at, UpdatedAt: at}
	case sh.Status != shipping.Cancelled:
		sh.Status, sh.UpdatedAt = shipping.Cancelled, at
	}
	s.shipments[orderID] = sh
	return clone(sh), nil
}

// Get implements shipping.Store.
func (s *Store) Get(ctx context.Context, orderID string) (shipping.Shipment, error) {
	if err := ctx.Err(); err != nil {
		return shipping.Shipment{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shipments[orderID]
	if !ok {
		return shipping.Shipment{}, apperr.New(apperr.NotFound, "no shipment for order %s", orderID)
	}
	return clone(sh), nil
}

func clone(sh shipping.Shipment) shipping.Shipment {
	sh.Items = slices.Clone(sh.Items)
	return sh
}
