// Package memstore is an in-memory inventory.Store: the store of the walking
// skeleton and of unit tests. One mutex makes every operation atomic.
package memstore

import (
	"context"
	"slices"
	"sort"
	"sync"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Store is an in-memory inventory.Store.
type Store struct {
	mu           sync.Mutex
	products     map[string]inventory.Product
	reservations map[string]inventory.Reservation
}

var _ inventory.Store = (*Store)(nil)

// New returns a store holding products.
func New(products []inventory.Product) *Store {
	s := &Store{products: make(map[string]inventory.Product), reservations: make(map[string]inventory.Reservation)}
	for _, p := range products {
		s.products[p.ID] = p
	}
	return s
}

// ListProducts implements inventory.Store.
func (s *Store) ListProducts(_ context.Context, after string, limit int) ([]inventory.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.products))
	for id := range s.products {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) > limit {
		ids = ids[:limit]
	}
	out := make([]inventory.Product, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.products[id])
	}
	return out, nil
}

// GetProduct implements inventory.Store.
func (s *Store) GetProduct(_ context.Context, id string) (inventory.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.products[id]
	if !ok {
		return inventory.Product{}, apperr.New(apperr.NotFound, "product %s not found", id)
	}
	return p, nil
}

// Reserve implements inventory.Store.
func (s *Store) Reserve(_ context.Context, orderID string, items []inventory.Item) (inventory.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reservations[orderID]; ok {
		return clone(r), nil
	}
	// Check everything before changing anything: all or nothing. Sum per
	// product, so a product listed twice cannot overdraw it.
	requested := make(map[string]int64, len(items))
	for _, it := range items {
		p, ok := s.products[it.ProductID]
		if !ok {
			return inventory.Reservation{}, apperr.New(apperr.NotFound, "product %s not found", it.ProductID)
		}
		requested[it.ProductID] += int64(it.Quantity)
		if p.Available < requested[it.ProductID] {
			return inventory.Reservation{}, apperr.New(apperr.FailedPrecondition, "product %s: %d available, %d requested", it.ProductID, p.Available, requested[it.ProductID]).
				WithReason(inventory.ReasonOutOfStock, "product_id", it.ProductID)
		}
	}
	lines, total, err := inventory.PriceLines(items, s.products)
	if err != nil {
		return inventory.Reservation{}, err
	}
	for _, it := range items {
		p := s.products[it.ProductID]
		p.Available -= int64(it.Quantity)
		s.products[it.ProductID] = p
	}
	r := inventory.Reservation{OrderID: orderID, Lines: lines, Total: total, State: inventory.Reserved}
	s.reservations[orderID] = r
	return clone(r), nil
}

// Commit implements inventory.Store.
func (s *Store) Commit(_ context.Context, orderID string) (inventory.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reservations[orderID]
	if !ok || r.State == inventory.Released {
		return inventory.Reservation{}, apperr.New(apperr.FailedPrecondition, "order %s holds no reservation to commit", orderID).
			WithReason(inventory.ReasonNotReserved, "order_id", orderID)
	}
	r.State = inventory.Committed
	s.reservations[orderID] = r
	return clone(r), nil
}

// Release implements inventory.Store.
func (s *Store) Release(_ context.Context, orderID string) (inventory.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reservations[orderID]
	if !ok {
		// Remember the release, so a late Reserve for the same order (a
		// retry that lost the race with compensation) cannot hold stock.
		r = inventory.Reservation{OrderID: orderID, State: inventory.Released}
		s.reservations[orderID] = r
		return r, nil
	}
	if r.State == inventory.Released {
		return clone(r), nil
	}
	for _, l := range r.Lines {
		p := s.products[l.ProductID]
		p.Available += int64(l.Quantity)
		s.products[l.ProductID] = p
	}
	r.State = inventory.Released
	s.reservations[orderID] = r
	return clone(r), nil
}

func clone(r inventory.Reservation) inventory.Reservation {
	r.Lines = slices.Clone(r.Lines)
	return r
}
