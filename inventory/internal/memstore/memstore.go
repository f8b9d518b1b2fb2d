// Package memstore is an in-memory inventory.Store and inventory.Expirer,
// for unit tests; production uses the Postgres store. One mutex makes every
// operation atomic. The same contract tests (storetest) hold both stores.
package memstore

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shopmesh/shopmesh/inventory/internal/inventory"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Store is an in-memory inventory.Store and inventory.Expirer.
type Store struct {
	ttl time.Duration
	now func() time.Time

	mu       sync.Mutex
	products map[string]inventory.Product
	// initial holds each product's stock when it was created, which
	// CreateProduct compares a repeat with.
	initial      map[string]int64
	reservations map[string]inventory.Reservation
	// expires holds the expiry of every reservation still Reserved.
	expires map[string]time.Time
}

var (
	_ inventory.Store   = (*Store)(nil)
	_ inventory.Expirer = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// WithTTL sets how long a reservation stays Reserved before it expires
// (default inventory.DefaultReservationTTL); a d that is not positive keeps
// the default.
func WithTTL(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.ttl = d
		}
	}
}

// WithClock sets the clock Reserve stamps reservations with (default
// time.Now); a nil now keeps the default.
func WithClock(now func() time.Time) Option {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// New returns a store holding products.
func New(products []inventory.Product, opts ...Option) *Store {
	s := &Store{
		ttl:          inventory.DefaultReservationTTL,
		now:          time.Now,
		products:     make(map[string]inventory.Product),
		initial:      make(map[string]int64),
		reservations: make(map[string]inventory.Reservation),
		expires:      make(map[string]time.Time),
	}
	for _, o := range opts {
		o(s)
	}
	for _, p := range products {
		s.products[p.ID] = p
		s.initial[p.ID] = p.Available
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

// CreateProduct implements inventory.Store.
func (s *Store) CreateProduct(_ context.Context, p inventory.Product) (inventory.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.products[p.ID]; ok {
		if old.Name != p.Name || old.Price != p.Price || s.initial[p.ID] != p.Available {
			return inventory.Product{}, apperr.New(apperr.Conflict, "product %s exists with other fields", p.ID)
		}
		return old, nil
	}
	s.products[p.ID] = p
	s.initial[p.ID] = p.Available
	return p, nil
}

// SetStock implements inventory.Store.
func (s *Store) SetStock(_ context.Context, id string, available int64) (inventory.Product, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.products[id]
	if !ok {
		return inventory.Product{}, apperr.New(apperr.NotFound, "product %s not found", id)
	}
	p.Available = available
	s.products[id] = p
	return p, nil
}

// Reserve implements inventory.Store.
func (s *Store) Reserve(_ context.Context, orderID string, items []inventory.Item) (inventory.Reservation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.reservations[orderID]; ok {
		if r.State == inventory.Reserved {
			s.expires[orderID] = s.now().Add(s.ttl) // held for another TTL
		}
		return clone(r), nil
	}
	// The rule decides, then the stock moves: all or nothing.
	a, err := inventory.Allocate(items, s.products)
	if err != nil {
		return inventory.Reservation{}, err
	}
	for id, n := range a.Take {
		p := s.products[id]
		p.Available -= n
		s.products[id] = p
	}
	r := inventory.Reservation{OrderID: orderID, Lines: a.Lines, Total: a.Total, State: inventory.Reserved}
	s.reservations[orderID] = r
	s.expires[orderID] = s.now().Add(s.ttl)
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
	delete(s.expires, orderID)
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
	return clone(s.release(r)), nil
}

// release returns r's stock and marks it Released; s.mu is held.
func (s *Store) release(r inventory.Reservation) inventory.Reservation {
	for _, l := range r.Lines {
		p := s.products[l.ProductID]
		p.Available += int64(l.Quantity)
		s.products[l.ProductID] = p
	}
	r.State = inventory.Released
	s.reservations[r.OrderID] = r
	delete(s.expires, r.OrderID)
	return r
}

// ReleaseExpired implements inventory.Expirer, oldest expiry first.
func (s *Store) ReleaseExpired(_ context.Context, now time.Time, limit int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var expired []string
	for id, at := range s.expires {
		if !at.After(now) {
			expired = append(expired, id)
		}
	}
	slices.SortFunc(expired, func(a, b string) int { return cmp.Or(s.expires[a].Compare(s.expires[b]), strings.Compare(a, b)) })
	if len(expired) > limit {
		expired = expired[:max(limit, 0)]
	}
	for _, id := range expired {
		s.release(s.reservations[id])
	}
	return len(expired), nil
}

func clone(r inventory.Reservation) inventory.Reservation {
	r.Lines = slices.Clone(r.Lines)
	return r
}
