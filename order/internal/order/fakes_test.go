package order_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/shopmesh/shopmesh/order/internal/order"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// fakeInventory is an order.Inventory whose methods are set per test. A
// method left nil reports an unexpected call.
type fakeInventory struct {
	t       *testing.T
	reserve func(ctx context.Context, orderID string, items []order.Item) (order.Reservation, error)
	commit  func(ctx context.Context, orderID string) error
	release func(ctx context.Context, orderID string) error
}

var _ order.Inventory = (*fakeInventory)(nil)

func (f *fakeInventory) Reserve(ctx context.Context, orderID string, items []order.Item) (order.Reservation, error) {
	if f.reserve == nil {
		return order.Reservation{}, unexpected(f.t, "Reserve", orderID)
	}
	return f.reserve(ctx, orderID, items)
}

func (f *fakeInventory) Commit(ctx context.Context, orderID string) error {
	if f.commit == nil {
		return unexpected(f.t, "Commit", orderID)
	}
	return f.commit(ctx, orderID)
}

func (f *fakeInventory) Release(ctx context.Context, orderID string) error {
	if f.release == nil {
		return unexpected(f.t, "Release", orderID)
	}
	return f.release(ctx, orderID)
}

// fakePayment is an order.Payment whose methods are set per test. A method
// left nil reports an unexpected call.
type fakePayment struct {
	t      *testing.T
	charge func(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error)
	refund func(ctx context.Context, orderID string) error
}

var _ order.Payment = (*fakePayment)(nil)

func (f *fakePayment) Charge(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
	if f.charge == nil {
		return order.ChargeResult{}, unexpected(f.t, "Charge", orderID)
	}
	return f.charge(ctx, orderID, amount, token)
}

func (f *fakePayment) Refund(ctx context.Context, orderID string) error {
	if f.refund == nil {
		return unexpected(f.t, "Refund", orderID)
	}
	return f.refund(ctx, orderID)
}

// unexpected fails the test (safely from any goroutine) and returns an
// error, so the code under test stops where it went wrong.
func unexpected(t *testing.T, method, orderID string) error {
	t.Helper()
	t.Errorf("unexpected %s(%q)", method, orderID)
	return apperr.New(apperr.Internal, "unexpected %s", method)
}

// calls records the peer calls a saga makes, in order, from any goroutine.
type calls struct {
	mu   sync.Mutex
	list []string
}

func (c *calls) add(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, name)
}

// get returns the recorded calls.
func (c *calls) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// count returns how often name was called.
func (c *calls) count(name string) int {
	n := 0
	for _, got := range c.get() {
		if got == name {
			n++
		}
	}
	return n
}

// peers are fakes that behave like the real services: idempotent by order
// id, one reservation per order, every call recorded. Tests override
// single functions to inject failures.
type peers struct {
	inv   *fakeInventory
	pay   *fakePayment
	calls *calls

	mu           sync.Mutex
	reservations map[string]order.Reservation // by order id
}

// reservation is what newPeers' inventory answers: 2 × p-1 at 5.00 EUR.
var reservation = order.Reservation{
	Lines: []order.Line{{ProductID: "p-1", Quantity: 2, UnitPrice: order.Money{Currency: "EUR", Minor: 500}}},
	Total: order.Money{Currency: "EUR", Minor: 1000},
}

func newPeers(t *testing.T) *peers {
	p := &peers{calls: &calls{}, reservations: map[string]order.Reservation{}}
	p.inv = &fakeInventory{
		t: t,
		reserve: func(_ context.Context, orderID string, _ []order.Item) (order.Reservation, error) {
			p.calls.add("reserve")
			p.mu.Lock()
			defer p.mu.Unlock()
			if r, ok := p.reservations[orderID]; ok {
				return r, nil
			}
			p.reservations[orderID] = reservation
			return reservation, nil
		},
		commit:  func(context.Context, string) error { p.calls.add("commit"); return nil },
		release: func(context.Context, string) error { p.calls.add("release"); return nil },
	}
	p.pay = &fakePayment{
		t: t,
		charge: func(context.Context, string, order.Money, string) (order.ChargeResult, error) {
			p.calls.add("charge")
			return order.ChargeResult{}, nil
		},
		refund: func(context.Context, string) error { p.calls.add("refund"); return nil },
	}
	return p
}

// reserved returns how many distinct reservations the inventory holds.
func (p *peers) reserved() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.reservations)
}
