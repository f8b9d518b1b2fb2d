// Package memstore is an in-memory order.Store for the walking skeleton and
// unit tests.
package memstore

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Store is an in-memory order.Store.
type Store struct {
	mu     sync.Mutex
	orders map[string]order.Order
	byKey  map[[2]string]string // (customer, idempotency key) → order id
}

var _ order.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{orders: map[string]order.Order{}, byKey: map[[2]string]string{}}
}

// Create implements order.Store.
func (s *Store) Create(_ context.Context, o order.Order) (order.Order, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{o.CustomerID, o.IdempotencyKey}
	if id, ok := s.byKey[k]; ok {
		return s.orders[id].Clone(), false, nil
	}
	s.byKey[k] = o.ID
	s.orders[o.ID] = o.Clone()
	return o.Clone(), true, nil
}

// Get implements order.Store.
func (s *Store) Get(_ context.Context, id string) (order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[id]
	if !ok {
		return order.Order{}, apperr.New(apperr.NotFound, "order %s not found", id)
	}
	return o.Clone(), nil
}

// Update implements order.Store.
func (s *Store) Update(_ context.Context, o *order.Order) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.orders[o.ID]
	if !ok {
		return apperr.New(apperr.NotFound, "order %s not found", o.ID)
	}
	if cur.Version != o.Version {
		return order.ErrStale
	}
	if !order.CanTransition(cur.Status, o.Status) {
		return order.TransitionError(o.ID, cur.Status, o.Status)
	}
	o.Version++
	// What MarkTold set is not the caller's to change (the Postgres store
	// writes no such column on update).
	o.ShippingTold = cur.ShippingTold
	stored := o.Clone()
	if stored.TokenSpent() {
		stored.PaymentToken = ""
	}
	s.orders[o.ID] = stored
	return nil
}

// ListByCustomer implements order.Store.
func (s *Store) ListByCustomer(_ context.Context, customerID, after string, limit int) ([]order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []order.Order
	for _, o := range s.orders {
		if o.CustomerID == customerID {
			all = append(all, o)
		}
	}
	// Newest first; the id breaks ties so pages are stable.
	sort.Slice(all, func(i, j int) bool {
		if !all[i].CreatedAt.Equal(all[j].CreatedAt) {
			return all[i].CreatedAt.After(all[j].CreatedAt)
		}
		return all[i].ID > all[j].ID
	})
	return pageAfter(all, after, limit)
}

// ClaimStale implements order.Store.
func (s *Store) ClaimStale(_ context.Context, now, olderThan, until time.Time, limit int) ([]order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var stale []order.Order
	for _, o := range s.orders {
		if o.Status.InFlight() && o.UpdatedAt.Before(olderThan) && !o.ClaimedUntil.After(now) && !o.NextAttemptAt.After(now) {
			stale = append(stale, o)
		}
	}
	sort.Slice(stale, func(i, j int) bool {
		if !stale[i].UpdatedAt.Equal(stale[j].UpdatedAt) {
			return stale[i].UpdatedAt.Before(stale[j].UpdatedAt)
		}
		return stale[i].ID < stale[j].ID
	})
	if len(stale) > limit {
		stale = stale[:limit]
	}
	out := make([]order.Order, len(stale))
	for i, o := range stale {
		o.ClaimedUntil = until
		o.Version++
		s.orders[o.ID] = o
		out[i] = o.Clone()
	}
	return out, nil
}

// ListByStatus implements order.Store.
func (s *Store) ListByStatus(_ context.Context, status order.Status, after string, limit int) ([]order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []order.Order
	for _, o := range s.orders {
		if o.Status == status {
			all = append(all, o)
		}
	}
	// Least recently updated first; the id breaks ties so pages are stable.
	sort.Slice(all, func(i, j int) bool {
		if !all[i].UpdatedAt.Equal(all[j].UpdatedAt) {
			return all[i].UpdatedAt.Before(all[j].UpdatedAt)
		}
		return all[i].ID < all[j].ID
	})
	return pageAfter(all, after, limit)
}

// ListUntold implements order.Store.
func (s *Store) ListUntold(_ context.Context, limit int) ([]order.Order, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []order.Order
	for _, o := range s.orders {
		if (o.Status == order.Confirmed || o.Status == order.Cancelled) && o.ShippingTold != o.Status {
			all = append(all, o)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].UpdatedAt.Equal(all[j].UpdatedAt) {
			return all[i].UpdatedAt.Before(all[j].UpdatedAt)
		}
		return all[i].ID < all[j].ID
	})
	return pageAfter(all, "", limit)
}

// MarkTold implements order.Store.
func (s *Store) MarkTold(_ context.Context, told []order.Told) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var missing error
	for _, t := range told {
		o, ok := s.orders[t.ID]
		if !ok {
			missing = apperr.New(apperr.NotFound, "order %s not found", t.ID)
			continue
		}
		if o.Status == t.Status {
			o.ShippingTold = t.Status
			s.orders[t.ID] = o
		}
	}
	return missing
}

// pageAfter returns copies of up to limit orders of sorted that come after
// the order with id after ("" for the start).
func pageAfter(sorted []order.Order, after string, limit int) ([]order.Order, error) {
	start := 0
	if after != "" {
		i := slices.IndexFunc(sorted, func(o order.Order) bool { return o.ID == after })
		if i < 0 {
			return nil, apperr.New(apperr.Invalid, "unknown page token")
		}
		start = i + 1
	}
	sorted = sorted[start:]
	if len(sorted) > limit {
		sorted = sorted[:limit]
	}
	out := make([]order.Order, len(sorted))
	for i, o := range sorted {
		out[i] = o.Clone()
	}
	return out, nil
}
