// Package memstore is an in-memory payment.Store for unit tests. It keeps
// the same contract as the Postgres store (payment/internal/payment/storetest).
package memstore

import (
	"context"
	"sync"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Store is an in-memory payment.Store.
type Store struct {
	mu       sync.Mutex
	payments map[string]payment.Payment
}

var _ payment.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store { return &Store{payments: make(map[string]payment.Payment)} }

// Create implements payment.Store.
func (s *Store) Create(_ context.Context, p payment.Payment) (payment.Payment, bool, error) {
	if p.OrderID == "" {
		return payment.Payment{}, false, apperr.New(apperr.Invalid, "payment without an order id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.payments[p.OrderID]; ok {
		return old, false, nil
	}
	for _, other := range s.payments {
		if other.ChargeKey == p.ChargeKey {
			return payment.Payment{}, false, apperr.New(apperr.Conflict, "charge key %q of order %s is already used by another payment", p.ChargeKey, p.OrderID)
		}
	}
	s.payments[p.OrderID] = p
	return p, true, nil
}

// Get implements payment.Store.
func (s *Store) Get(_ context.Context, orderID string) (payment.Payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.payments[orderID]
	if !ok {
		return payment.Payment{}, apperr.New(apperr.NotFound, "no payment for order %s", orderID)
	}
	return p, nil
}

// Update implements payment.Store.
func (s *Store) Update(_ context.Context, p payment.Payment, from payment.Status) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.payments[p.OrderID]
	if !ok {
		return apperr.New(apperr.NotFound, "no payment for order %s", p.OrderID)
	}
	if old.Status != from {
		return apperr.New(apperr.Aborted, "payment of order %s is %s, not %s", p.OrderID, old.Status, from)
	}
	// What never changes is kept from the stored payment.
	p.Amount, p.ChargeKey, p.CreatedAt = old.Amount, old.ChargeKey, old.CreatedAt
	s.payments[p.OrderID] = p
	return nil
}
