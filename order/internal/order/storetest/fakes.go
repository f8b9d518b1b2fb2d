package storetest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"

	"github.com/shopmesh/shopmesh/order/internal/order"
)

// unitPrice is what the fake inventory charges for one unit of anything.
var unitPrice = order.Money{Currency: "EUR", Minor: 500}

// Payment tokens the fake payment treats as the provider would: declined,
// and refused for another reason than the card.
const (
	declineToken = "tok_decline"
	invalidToken = "tok_invalid"
)

// Reservation states of the fake inventory.
const (
	reserved  = "reserved"
	committed = "committed"
	released  = "released"
)

// world is the state of the peer services as the real ones keep it:
// reservations and payments by order id, every call idempotent by order id.
// Processes (Services) come and go over it, as replicas and restarts do;
// the world and the store outlive them. It counts every call.
type world struct {
	t *testing.T

	mu           sync.Mutex
	reservations map[string]*reservation
	payments     map[string]*payment
	calls        map[string]map[string]int // method → order id → calls
}

type reservation struct {
	res   order.Reservation
	state string
}

type payment struct {
	amount   order.Money
	declined bool
	refunded bool
}

func newWorld(t *testing.T) *world {
	return &world{t: t, reservations: map[string]*reservation{}, payments: map[string]*payment{},
		calls: map[string]map[string]int{}}
}

func (w *world) count(method, orderID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.calls[method] == nil {
		w.calls[method] = map[string]int{}
	}
	w.calls[method][orderID]++
}

// callCount returns how often method was called for orderID.
func (w *world) callCount(method, orderID string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls[method][orderID]
}

// charged reports whether money is taken (and not given back) for orderID.
func (w *world) charged(orderID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.payments[orderID]
	return p != nil && !p.declined && !p.refunded
}

// payment returns the payment recorded for orderID, if any.
func (w *world) payment(orderID string) (payment, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.payments[orderID]
	if p == nil {
		return payment{}, false
	}
	return *p, true
}

// reservationState returns the state of orderID's reservation ("" if none).
func (w *world) reservationState(orderID string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.reservations[orderID]; r != nil {
		return r.state
	}
	return ""
}

// expire releases orderID's reservation as inventory's TTL sweeper would.
func (w *world) expire(orderID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.reservations[orderID]; r != nil && r.state == reserved {
		r.state = released
	}
}

func (w *world) reserve(_ context.Context, orderID string, items []order.Item) (order.Reservation, error) {
	w.count("reserve", orderID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.reservations[orderID]; r != nil {
		if r.state == released {
			return order.Reservation{}, apperr.New(apperr.FailedPrecondition, "reservation of %s was released", orderID).
				WithReason(api.ReasonReservationReleased)
		}
		return r.res, nil
	}
	var res order.Reservation
	res.Total.Currency = unitPrice.Currency
	for _, it := range items {
		res.Lines = append(res.Lines, order.Line{ProductID: it.ProductID, Quantity: it.Quantity, UnitPrice: unitPrice})
		res.Total.Minor += int64(it.Quantity) * unitPrice.Minor
	}
	w.reservations[orderID] = &reservation{res: res, state: reserved}
	return res, nil
}

func (w *world) commit(_ context.Context, orderID string) error {
	w.count("commit", orderID)
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.reservations[orderID]
	if r == nil || r.state == released {
		return apperr.New(apperr.FailedPrecondition, "no reservation to commit for %s", orderID).WithReason(api.ReasonNotReserved)
	}
	r.state = committed
	return nil
}

func (w *world) release(_ context.Context, orderID string) error {
	w.count("release", orderID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if r := w.reservations[orderID]; r != nil {
		r.state = released
	}
	return nil
}

func (w *world) charge(_ context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
	w.count("charge", orderID)
	w.mu.Lock()
	defer w.mu.Unlock()
	if p := w.payments[orderID]; p != nil {
		if p.amount != amount {
			// Payment refuses this as Conflict; for the saga it is a bug.
			w.t.Errorf("order %s charged %v, then %v: a resumed saga must charge the recorded amount", orderID, p.amount, amount)
			return order.ChargeResult{}, apperr.New(apperr.Conflict, "order %s was charged another amount", orderID)
		}
		return order.ChargeResult{Declined: p.declined, DeclineReason: declineReason(p.declined)}, nil
	}
	if token == invalidToken {
		// Payment records the refusal and answers it on every repeat.
		return order.ChargeResult{}, apperr.New(apperr.FailedPrecondition, "provider refused token %s", token).
			WithReason(api.ReasonPaymentFailed)
	}
	p := &payment{amount: amount, declined: token == declineToken}
	w.payments[orderID] = p
	return order.ChargeResult{Declined: p.declined, DeclineReason: declineReason(p.declined)}, nil
}

func declineReason(declined bool) string {
	if declined {
		return "card_declined"
	}
	return ""
}

func (w *world) refund(_ context.Context, orderID string) error {
	w.count("refund", orderID)
	w.mu.Lock()
	defer w.mu.Unlock()
	p := w.payments[orderID]
	switch {
	case p == nil:
		return apperr.New(apperr.NotFound, "no payment for %s", orderID)
	case p.declined:
		return apperr.New(apperr.FailedPrecondition, "payment of %s was declined", orderID).WithReason(api.ReasonNothingToRefund)
	}
	p.refunded = true
	return nil
}

// fakeInventory is an order.Inventory whose methods are set per process;
// newProcess points them at the world, and tests wrap them to inject faults.
type fakeInventory struct {
	reserve func(ctx context.Context, orderID string, items []order.Item) (order.Reservation, error)
	commit  func(ctx context.Context, orderID string) error
	release func(ctx context.Context, orderID string) error
}

var _ order.Inventory = (*fakeInventory)(nil)

func (f *fakeInventory) Reserve(ctx context.Context, orderID string, items []order.Item) (order.Reservation, error) {
	return f.reserve(ctx, orderID, items)
}

func (f *fakeInventory) Commit(ctx context.Context, orderID string) error {
	return f.commit(ctx, orderID)
}

func (f *fakeInventory) Release(ctx context.Context, orderID string) error {
	return f.release(ctx, orderID)
}

// fakePayment is an order.Payment whose methods are set per process.
type fakePayment struct {
	charge func(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error)
	refund func(ctx context.Context, orderID string) error
}

var _ order.Payment = (*fakePayment)(nil)

func (f *fakePayment) Charge(ctx context.Context, orderID string, amount order.Money, token string) (order.ChargeResult, error) {
	return f.charge(ctx, orderID, amount, token)
}

func (f *fakePayment) Refund(ctx context.Context, orderID string) error {
	return f.refund(ctx, orderID)
}

// errCrashed is what a crashed process's store answers.
var errCrashed = errors.New("process crashed")

// crashStore is the store as one process sees it: after crash, every call
// fails, so the process writes nothing more, as if it had died at that
// moment (its claims are not given up; they run out).
type crashStore struct {
	order.Store
	crashed atomic.Bool
}

func (c *crashStore) crash() { c.crashed.Store(true) }

func (c *crashStore) Create(ctx context.Context, o order.Order) (order.Order, bool, error) {
	if c.crashed.Load() {
		return order.Order{}, false, errCrashed
	}
	return c.Store.Create(ctx, o)
}

func (c *crashStore) Get(ctx context.Context, id string) (order.Order, error) {
	if c.crashed.Load() {
		return order.Order{}, errCrashed
	}
	return c.Store.Get(ctx, id)
}

func (c *crashStore) Update(ctx context.Context, o *order.Order) error {
	if c.crashed.Load() {
		return errCrashed
	}
	return c.Store.Update(ctx, o)
}

func (c *crashStore) ListByCustomer(ctx context.Context, customerID, after string, limit int) ([]order.Order, error) {
	if c.crashed.Load() {
		return nil, errCrashed
	}
	return c.Store.ListByCustomer(ctx, customerID, after, limit)
}

func (c *crashStore) ListByStatus(ctx context.Context, status order.Status, after string, limit int) ([]order.Order, error) {
	if c.crashed.Load() {
		return nil, errCrashed
	}
	return c.Store.ListByStatus(ctx, status, after, limit)
}

func (c *crashStore) ClaimStale(ctx context.Context, now, olderThan, until time.Time, limit int) ([]order.Order, error) {
	if c.crashed.Load() {
		return nil, errCrashed
	}
	return c.Store.ClaimStale(ctx, now, olderThan, until, limit)
}

// process is one running order service: a Service over the shared store
// and world, with its own fakes to break and its own way to die.
type process struct {
	svc   *order.Service
	inv   *fakeInventory
	pay   *fakePayment
	store *crashStore
	t     *testing.T
}

// crash makes the process die now: its store fails every call and its
// sagas in the background are cancelled, so it writes nothing more and its
// claims run out. Safe to call from inside one of its peer calls.
func (p *process) crash() {
	p.store.crash()
	dead, cancel := context.WithCancel(p.t.Context())
	cancel()
	_ = p.svc.Close(dead) // with a done context: cancels, does not wait
}

// stop stops the process cleanly: its sagas give their claims up.
func (p *process) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.Context()), 5*time.Second)
	defer cancel()
	if err := p.svc.Close(ctx); err != nil && !p.store.crashed.Load() {
		t.Errorf("Close: %v", err)
	}
}

// within returns a context whose deadline is d away, as a request's is.
func within(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// later is a clock an hour ahead, for a process started after every claim
// and grace period of the processes before it ran out.
func later() time.Time { return time.Now().Add(time.Hour) }

// newProcess starts a Service over store with peers backed by the world.
// Fakes may be changed before the process is used, not after.
func (w *world) newProcess(t *testing.T, store order.Store, opts ...order.Option) *process {
	t.Helper()
	p := &process{
		inv:   &fakeInventory{reserve: w.reserve, commit: w.commit, release: w.release},
		pay:   &fakePayment{charge: w.charge, refund: w.refund},
		store: &crashStore{Store: store},
		t:     t,
	}
	opts = append([]order.Option{order.WithRetryBackoff(time.Millisecond, 5*time.Millisecond)}, opts...)
	svc, err := order.NewService(p.store, p.inv, p.pay, slog.New(slog.DiscardHandler), opts...)
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	p.svc = svc
	t.Cleanup(func() { p.stop(t) })
	return p
}
