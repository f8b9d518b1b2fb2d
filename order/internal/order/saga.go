package order

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// Limits on a PlaceOrder request.
const (
	MaxItems    = 100
	MaxQuantity = 1000
	MaxKeyLen   = 128
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
// after the first failure, doubling up to max (defaults DefaultRetryFirst
// and DefaultRetryMax).
func WithRetryBackoff(first, max time.Duration) Option {
	return func(s *Service) { s.retryFirst, s.retryMax = first, max }
}

// WithMaxAttempts sets how many runs of an order's saga may stop short of
// an end before the order is parked for an operator (default
// DefaultMaxAttempts).
func WithMaxAttempts(n int) Option { return func(s *Service) { s.maxAttempts = n } }

// WithThrottle makes PlaceOrder refuse new orders, before creating them,
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

// PlaceRequest is the input of PlaceOrder.
type PlaceRequest struct {
	CustomerID     string
	IdempotencyKey string
	Items          []Item
	PaymentToken   string
}

func (r PlaceRequest) validate() error {
	switch {
	case r.CustomerID == "":
		return apperr.New(apperr.Invalid, "customer id is required")
	case r.IdempotencyKey == "" || len(r.IdempotencyKey) > MaxKeyLen:
		return apperr.New(apperr.Invalid, "idempotency key must have 1 to %d characters", MaxKeyLen)
	case len(r.Items) == 0 || len(r.Items) > MaxItems:
		return apperr.New(apperr.Invalid, "an order needs 1 to %d items, got %d", MaxItems, len(r.Items))
	}
	// Inventory refuses a product listed twice; caught only there, it would
	// leave the order PENDING for good.
	seen := make(map[string]bool, len(r.Items))
	for _, it := range r.Items {
		if it.ProductID == "" || it.Quantity < 1 || it.Quantity > MaxQuantity {
			return apperr.New(apperr.Invalid, "each item needs a product id and a quantity of 1 to %d", MaxQuantity)
		}
		if seen[it.ProductID] {
			return apperr.New(apperr.Invalid, "product %s listed twice", it.ProductID)
		}
		seen[it.ProductID] = true
	}
	return nil
}

// PlaceOrder creates the order (or finds the one made with the same key)
// and runs the saga reserve → charge → commit to a final state. The saga
// runs in the background, within the order's claim, retrying steps whose
// peer failed; PlaceOrder waits for it until ctx's deadline (keeping time
// to answer). An order that is not final by then is returned PENDING,
// without an error: it is recorded and will be finished (HTTP 202). An
// order that ends REJECTED or PAYMENT_DECLINED is returned with an apperr
// FailedPrecondition whose reason says why and whose metadata names it. A
// repeat returns the order as it is now, PENDING included. Errors before
// the order is recorded mean no order was created.
func (s *Service) PlaceOrder(ctx context.Context, req PlaceRequest) (Order, error) {
	o, _, err := s.Place(ctx, req)
	return o, err
}

// Place is PlaceOrder that also reports whether the order already existed
// before this call (a replay of the same idempotency key), so the API can
// answer 200 rather than 201.
func (s *Service) Place(ctx context.Context, req PlaceRequest) (_ Order, replayed bool, _ error) {
	o, created, err := s.place(ctx, req)
	return o, !created, err
}

func (s *Service) place(ctx context.Context, req PlaceRequest) (Order, bool, error) {
	if err := req.validate(); err != nil {
		return Order{}, false, err
	}
	if s.closing() {
		return Order{}, false, apperr.New(apperr.Unavailable, "this order service is stopping; retry, another replica will take the order")
	}
	if !s.throttle.Allow() {
		// Inventory or payment turn sagas' steps away: starting another
		// saga now would only wait on them. Nothing is created.
		return Order{}, false, apperr.New(apperr.Unavailable, "orders are being refused while inventory or payment is at capacity; retry in %v", overload.RetryAfter).
			WithReason(overload.Reason)
	}
	hash := RequestHash(req.CustomerID, req.PaymentToken, req.Items)
	now := s.clock()
	// The new order is claimed by this run from the start.
	o, created, err := s.create(ctx, Order{
		ID: s.newID(), CustomerID: req.CustomerID, IdempotencyKey: req.IdempotencyKey,
		RequestHash: hash, PaymentToken: req.PaymentToken, Items: req.Items, Status: Pending,
		History:   []Event{{At: now, Step: StepCreated}},
		CreatedAt: now, UpdatedAt: now, ClaimedUntil: now.Add(s.after),
	})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// The write may have committed after its budget ran out: the
			// outcome is unknown, not "nothing done" (a 503 promises that).
			// A repeat with the same key learns it; an order that was
			// recorded is finished by recovery.
			return Order{}, false, apperr.New(apperr.Timeout,
				"the order was not confirmed recorded within its budget; repeat the request with the same Idempotency-Key to learn its state").WithCause(err)
		}
		return Order{}, false, fmt.Errorf("create order: %w", err)
	}
	if !created && o.RequestHash != hash {
		return Order{}, false, apperr.New(apperr.Conflict, "idempotency key %q was used for a different order", req.IdempotencyKey)
	}
	if o.Status != Pending {
		return o, created, outcomeError(o)
	}
	if !created {
		// A retry of an order whose saga has not finished. Every step is
		// idempotent by order id, so continuing it is safe, but only while
		// no other run holds it; if one does, the order is answered as it is.
		if o, err = s.claim(ctx, o); err != nil {
			if errors.Is(err, ErrStale) {
				o, err = s.current(ctx, o)
			}
			return o, created, err
		}
	}
	done, ok := s.start(ctx, o)
	if !ok {
		// Stopping: the order is recorded; recovery on a replica ends it.
		return o, created, nil
	}
	o, err = s.await(ctx, o, done)
	return o, created, err
}

// closing reports whether Close was called.
func (s *Service) closing() bool {
	s.runs.mu.Lock()
	defer s.runs.mu.Unlock()
	return s.runs.draining
}

// claim takes a PENDING order no run holds for this run; an order held by
// another run fails with ErrStale.
func (s *Service) claim(ctx context.Context, o Order) (Order, error) {
	now := s.clock()
	if o.ClaimedUntil.After(now) {
		return o, ErrStale
	}
	o.ClaimedUntil = now.Add(s.after)
	if err := s.update(ctx, &o); err != nil {
		return o, fmt.Errorf("claim order %s: %w", o.ID, err)
	}
	return o, nil
}

// current answers for an order another run drives: its outcome if that run
// finished it, or the order as it is, PENDING, while one still drives it.
func (s *Service) current(ctx context.Context, o Order) (Order, error) {
	cur, err := s.get(ctx, o.ID)
	if err != nil {
		return o, fmt.Errorf("reload order: %w", err)
	}
	return cur, outcomeError(cur)
}

// outcomeError turns an unsuccessful final state into the error PlaceOrder
// reports, so a repeat of the request gets the same answer as the first.
func outcomeError(o Order) error {
	switch o.Status {
	case Rejected:
		switch o.Reason {
		case ReasonUnknownProduct:
			return apperr.New(apperr.Invalid, "order %s rejected: it names a product that does not exist", o.ID).WithReason(o.Reason, "order_id", o.ID)
		case ReasonMixedCurrency:
			return apperr.New(apperr.Invalid, "order %s rejected: its products are priced in different currencies", o.ID).WithReason(o.Reason, "order_id", o.ID)
		case ReasonReservationExpired:
			return apperr.New(apperr.FailedPrecondition, "order %s rejected: its stock reservation expired; nothing was charged", o.ID).WithReason(o.Reason, "order_id", o.ID)
		}
		return apperr.New(apperr.FailedPrecondition, "order %s rejected: out of stock", o.ID).WithReason(ReasonOutOfStock, "order_id", o.ID)
	case PaymentDeclined:
		return apperr.New(apperr.FailedPrecondition, "order %s: payment declined", o.ID).WithReason(ReasonPaymentDeclined, "order_id", o.ID)
	case PaymentFailed:
		return apperr.New(apperr.FailedPrecondition, "order %s: the payment provider refused the payment details; nothing was charged", o.ID).
			WithReason(ReasonPaymentFailed, "order_id", o.ID)
	}
	return nil
}

// runSaga drives a claimed, pending order to a final state, resuming after
// the last step its history records: a run that crashed or failed part way
// is continued, never repeated from the start. If a step's outcome is
// unknown (a peer unreachable or too slow) the order stays PENDING and the
// error is returned; a peer's final refusal ends the order, after whatever
// must be given back is given back.
//
// DESIGN.md, order flow: every step is recorded, and every peer call is
// idempotent by order id, so repeating the step a crash interrupted is safe.
func (s *Service) runSaga(ctx context.Context, o Order) (Order, error) {
	reservedNow := false
	if !o.Reached(StepReserved) {
		res, err := s.inventory.Reserve(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Items)
		s.throttle.Observe(err)
		switch v := reserveVerdict(err); v.kind {
		case proceed:
		case end:
			// Nothing is held and nothing was charged: the charge comes
			// only after the reservation is recorded.
			o.Reason = v.reason
			return s.finish(ctx, o, v.status, StepRejected, err.Error())
		default:
			return s.stopShort(ctx, o, v, "reserve stock", err)
		}
		o.Lines, o.Total = res.Lines, res.Total
		s.record(&o, StepReserved, fmt.Sprintf("total %d %s", res.Total.Minor, res.Total.Currency))
		// Recorded before the charge: from here on the amount is fixed, and
		// a resumed run charges exactly this amount, never a new price.
		if err := s.save(ctx, &o, StepReserved); err != nil {
			return o, err
		}
		reservedNow = true
	}

	if !o.Reached(StepCharged) {
		if !reservedNow {
			// A resumed run: the reservation may have expired while the
			// order waited (a provider outage longer than its TTL). Take no
			// money for stock that is gone; a repeated Reserve also holds
			// the stock for another TTL.
			_, err := s.inventory.Reserve(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Items)
			s.throttle.Observe(err)
			switch v := reserveVerdict(err); v.kind {
			case proceed:
			case end:
				// An earlier run may have charged before it crashed: give
				// that back too.
				return s.refundAndReject(ctx, o, v.reason, err)
			default:
				return s.stopShort(ctx, o, v, "check the reservation", err)
			}
		}
		// A repeat after a crash is answered from payment's record of this
		// order id: the customer is charged once.
		charge, err := s.payment.Charge(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Total, o.PaymentToken)
		s.throttle.Observe(err)
		switch v := chargeVerdict(charge, err); v.kind {
		case proceed:
		case end:
			detail := charge.DeclineReason
			if err != nil {
				detail = err.Error()
			}
			return s.releaseAndEnd(ctx, o, v, detail)
		default:
			return s.stopShort(ctx, o, v, "charge", err)
		}
		s.record(&o, StepCharged, "")
		if err := s.save(ctx, &o, StepCharged); err != nil {
			return o, err
		}
	}

	err := s.inventory.Commit(deadline.Keep(ctx, api.RecordBudget), o.ID)
	s.throttle.Observe(err)
	switch v := commitVerdict(err); v.kind {
	case proceed:
		return s.finish(ctx, o, Confirmed, StepCommitted, "")
	case end:
		return s.refundAndReject(ctx, o, v.reason, err)
	default:
		return s.stopShort(ctx, o, v, "commit stock", err)
	}
}

// stopShort ends a run at a step whose verdict is not final: an answer
// that only an operator can settle parks the order; an outage, an unknown
// outcome or an unexpected answer leaves it as it is and returns the error,
// for a later run.
func (s *Service) stopShort(ctx context.Context, o Order, v verdict, step string, err error) (Order, error) {
	switch v.kind {
	case park:
		return s.park(ctx, o, v.attention)
	case unexpected:
		s.logger.ErrorContext(ctx, "a peer answered a step of the saga in a way no contract declares; retrying",
			"order_id", o.ID, "step", step, "err", err)
	}
	return o, fmt.Errorf("%s of order %s: %w", step, o.ID, err)
}

// releaseAndEnd gives back the stock of an order whose payment was refused
// (declined, or failed) and ends it with v's status and reason.
func (s *Service) releaseAndEnd(ctx context.Context, o Order, v verdict, detail string) (Order, error) {
	err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID)
	if rv := releaseVerdict(err); rv.kind != proceed {
		return s.stopShort(ctx, o, rv, "release stock", err)
	}
	step := StepDeclined
	if v.status == PaymentFailed {
		step = StepPaymentFailed
	}
	o.Reason = v.reason
	return s.finish(ctx, o, v.status, step, detail)
}

// refundAndReject compensates an order whose stock could not be committed,
// or whose reservation is gone before the charge: refund whatever was
// taken, release what may still be held, end REJECTED with reason.
func (s *Service) refundAndReject(ctx context.Context, o Order, reason string, cause error) (Order, error) {
	if !o.Reached(StepRefunded) {
		err := s.payment.Refund(deadline.Keep(ctx, api.RecordBudget), o.ID)
		if v := refundVerdict(err); v.kind != proceed {
			return s.stopShort(ctx, o, v, "refund after losing the reservation", err)
		}
		s.record(&o, StepRefunded, cause.Error())
	}
	err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID)
	if v := releaseVerdict(err); v.kind != proceed {
		return s.stopShort(ctx, o, v, "release stock", err)
	}
	o.Reason = reason
	return s.finish(ctx, o, Rejected, StepRejected, "reservation lost before commit")
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

// Page sizes of the listing calls.
const (
	DefaultPageLen = 20
	MaxPageLen     = 100
)

// pageLen validates a requested page size: 0 means the default, more than
// the maximum means the maximum.
func pageLen(n int) (int, error) {
	switch {
	case n < 0:
		return 0, apperr.New(apperr.Invalid, "page_size must not be negative")
	case n == 0:
		return DefaultPageLen, nil
	}
	return min(n, MaxPageLen), nil
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

// newOrderID returns a random, URL-safe order id.
func newOrderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return fmt.Sprintf("ord_%x", b)
}
