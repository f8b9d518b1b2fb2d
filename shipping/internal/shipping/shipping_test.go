package shipping_test

import (
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/shipping/internal/memstore"
	"github.com/shopmesh/shopmesh/shipping/internal/shipping"
)

func newService(t *testing.T) *shipping.Service {
	t.Helper()
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	svc, err := shipping.NewService(memstore.New(), shipping.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func TestCreate_RefusesBadRequests(t *testing.T) {
	t.Parallel()
	item := shipping.Item{ProductID: "p-1", Quantity: 1}
	for name, req := range map[string]shipping.CreateRequest{
		"no order id":        {CustomerID: "c-1", Items: []shipping.Item{item}},
		"no customer":        {OrderID: "o-1", Items: []shipping.Item{item}},
		"no items":           {OrderID: "o-1", CustomerID: "c-1"},
		"too many items":     {OrderID: "o-1", CustomerID: "c-1", Items: make([]shipping.Item, api.MaxOrderItems+1)},
		"zero quantity":      {OrderID: "o-1", CustomerID: "c-1", Items: []shipping.Item{{ProductID: "p-1"}}},
		"quantity too large": {OrderID: "o-1", CustomerID: "c-1", Items: []shipping.Item{{ProductID: "p-1", Quantity: api.MaxItemQuantity + 1}}},
		"no product":         {OrderID: "o-1", CustomerID: "c-1", Items: []shipping.Item{{Quantity: 1}}},
	} {
		if _, err := newService(t).Create(t.Context(), req); apperr.CodeOf(err) != apperr.Invalid {
			t.Errorf("%s: got %v, want Invalid", name, err)
		}
	}
}

// Order tells shipping of each confirmation and cancellation, possibly
// more than once and, across replicas, in any order: the outcome is the
// same.
func TestService_TellsInAnyOrder(t *testing.T) {
	t.Parallel()
	req := shipping.CreateRequest{OrderID: "o-1", CustomerID: "c-1", Items: []shipping.Item{{ProductID: "p-1", Quantity: 2}}}
	t.Run("created twice", func(t *testing.T) {
		t.Parallel()
		svc := newService(t)
		for range 2 {
			sh, err := svc.Create(t.Context(), req)
			if err != nil || sh.Status != shipping.Created || len(sh.Items) != 1 {
				t.Errorf("Create: %+v, %v; want CREATED with its item", sh, err)
			}
		}
	})
	t.Run("cancelled, then a late create", func(t *testing.T) {
		t.Parallel()
		svc := newService(t)
		if _, err := svc.Cancel(t.Context(), "o-1"); err != nil {
			t.Fatal(err)
		}
		sh, err := svc.Create(t.Context(), req)
		if err != nil || sh.Status != shipping.Cancelled {
			t.Errorf("late Create: %+v, %v; want it still CANCELLED", sh, err)
		}
	})
	t.Run("unknown order", func(t *testing.T) {
		t.Parallel()
		if _, err := newService(t).Get(t.Context(), "o-1"); apperr.CodeOf(err) != apperr.NotFound {
			t.Errorf("Get: %v, want NotFound", err)
		}
	})
}
