// Package memstore is an in-memory payment.Store for the walking skeleton
// and unit tests.
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

// Put implements payment.Store.
func (s *Store) Put(_ context.Context, p payment.Payment) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.payments[p.OrderID] = p
	return nil
}
