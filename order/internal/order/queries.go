package order

import (
	"context"
	"fmt"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// GetOrder returns one order.
func (s *Service) GetOrder(ctx context.Context, id string) (Order, error) {
	if id == "" {
		return Order{}, apperr.New(apperr.Invalid, "order id is required")
	}
	return s.store.Get(ctx, id)
}

// ListOrders pages through a customer's orders, newest first; pageToken is
// the id of the last order of the previous page.
func (s *Service) ListOrders(ctx context.Context, customerID string, pageSize int, pageToken string) ([]Order, string, error) {
	if customerID == "" {
		return nil, "", apperr.New(apperr.Invalid, "customer id is required")
	}
	pageSize, err := pageLen(pageSize)
	if err != nil {
		return nil, "", err
	}
	orders, err := s.store.ListByCustomer(ctx, customerID, pageToken, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("list orders: %w", err)
	}
	return page(orders, pageSize)
}

// pageLen validates a requested page size (api.OrdersPage): 0 means the
// default, more than the maximum means the maximum.
func pageLen(n int) (int, error) {
	if n < 0 {
		return 0, apperr.New(apperr.Invalid, "page_size must not be negative")
	}
	return api.OrdersPage.Clamp(n), nil
}

// page cuts orders, read with one more than size, to a page and the token
// of the next one ("" when this is the last).
func page(orders []Order, size int) ([]Order, string, error) {
	if len(orders) <= size {
		return orders, "", nil
	}
	orders = orders[:size]
	return orders, orders[len(orders)-1].ID, nil
}
