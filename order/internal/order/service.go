package order

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// DefaultRecoveryAfter is how long a run may hold a PENDING order, and how
// long an order may sit PENDING without progress before the recovery loop
// takes it over (RECOVERY_AFTER).
const DefaultRecoveryAfter = 30 * time.Second

// Service runs the order use cases.
type Service struct {
	store     Store
	inventory Inventory
	payment   Payment
	logger    *slog.Logger
	now       func() time.Time
	newID     func() string
	after     time.Duration

	retryFirst, retryMax time.Duration
	maxAttempts          int
	runs                 runs
	throttle             *overload.Throttle
}

// Option configures a Service.
type Option func(*Service)

// WithClock makes the Service read the time from now (default time.Now);
// tests use it to make orders look old.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithRecoveryAfter sets how long a run may hold a PENDING order before
// another may take it over (default DefaultRecoveryAfter). It must be far
// longer than one run of the saga takes.
func WithRecoveryAfter(d time.Duration) Option { return func(s *Service) { s.after = d } }

// WithRetryBackoff sets the wait before a run retries a failed step: first
// after the first failure, doubling up to largest (defaults
// DefaultRetryFirst and DefaultRetryMax).
func WithRetryBackoff(first, largest time.Duration) Option {
	return func(s *Service) { s.retryFirst, s.retryMax = first, largest }
}

// WithMaxAttempts sets how many runs of an order's saga may stop short of
// an end before the order is parked for an operator (default
// DefaultMaxAttempts).
func WithMaxAttempts(n int) Option { return func(s *Service) { s.maxAttempts = n } }

// WithThrottle makes Place refuse new orders, before creating them,
// in proportion to how often the peers refuse the sagas' steps for
// overload (platform/overload.Throttle). Without it no order is refused.
func WithThrottle(t *overload.Throttle) Option { return func(s *Service) { s.throttle = t } }

// NewService returns a Service over its ports.
func NewService(store Store, inv Inventory, pay Payment, logger *slog.Logger, opts ...Option) (*Service, error) {
	if store == nil || inv == nil || pay == nil || logger == nil {
		return nil, errors.New("order: store, inventory, payment and logger are required")
	}
	s := &Service{store: store, inventory: inv, payment: pay, logger: logger,
		now: time.Now, newID: newOrderID, after: DefaultRecoveryAfter,
		retryFirst: DefaultRetryFirst, retryMax: DefaultRetryMax, maxAttempts: DefaultMaxAttempts, runs: newRuns()}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("order: nil clock")
	}
	if s.after <= 0 {
		return nil, fmt.Errorf("order: recovery-after %v must be positive", s.after)
	}
	if s.maxAttempts < 1 {
		return nil, fmt.Errorf("order: max attempts %d must be at least 1", s.maxAttempts)
	}
	if s.retryFirst <= 0 || s.retryMax < s.retryFirst {
		return nil, fmt.Errorf("order: retry backoff %v..%v: want 0 < first <= max", s.retryFirst, s.retryMax)
	}
	return s, nil
}

// clock returns the current time as stores keep it: UTC, to the microsecond.
func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *Service) closing() bool {
	s.runs.mu.Lock()
	defer s.runs.mu.Unlock()
	return s.runs.draining
}

// save stores o after step, keeping this run's claim. ErrStale means
// another run took the order over; this one must stop.
func (s *Service) save(ctx context.Context, o *Order, step string) error {
	if err := s.update(ctx, o); err != nil {
		return fmt.Errorf("record %s of order %s: %w", step, o.ID, err)
	}
	return nil
}

// create, update and get are the store's calls, each within RecordBudget
// (seed rule 4: a database write is a hop with a budget of its own, inside
// what the caller has left).
func (s *Service) create(ctx context.Context, o Order) (Order, bool, error) {
	ctx, cancel, err := deadline.Hop(ctx, api.RecordBudget)
	if err != nil {
		return Order{}, false, err
	}
	defer cancel()
	return s.store.Create(ctx, o)
}

func (s *Service) update(ctx context.Context, o *Order) error {
	ctx, cancel, err := deadline.Hop(ctx, api.RecordBudget)
	if err != nil {
		return err
	}
	defer cancel()
	return s.store.Update(ctx, o)
}

func (s *Service) get(ctx context.Context, id string) (Order, error) {
	ctx, cancel, err := deadline.Hop(ctx, api.RecordBudget)
	if err != nil {
		return Order{}, err
	}
	defer cancel()
	return s.store.Get(ctx, id)
}

func (s *Service) finish(ctx context.Context, o Order, st Status, step, detail string) (Order, error) {
	o.Status = st
	o.ClaimedUntil = time.Time{}
	s.record(&o, step, detail)
	if err := s.save(ctx, &o, step); err != nil {
		return o, err
	}
	s.logger.InfoContext(ctx, "order finished", "order_id", o.ID, "status", st.String(), "reason", o.Reason)
	return o, nil
}

func (s *Service) record(o *Order, step, detail string) {
	now := s.clock()
	o.History = append(o.History, Event{At: now, Step: step, Detail: detail})
	o.UpdatedAt = now
}

// newOrderID returns a random, URL-safe order id.
func newOrderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return fmt.Sprintf("ord_%x", b)
}
