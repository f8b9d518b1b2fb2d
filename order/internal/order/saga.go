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

// Reasons on errors PlaceOrder returns for orders that ended unsuccessfully.
const (
	ReasonOutOfStock      = "OUT_OF_STOCK"
	ReasonPaymentDeclined = "PAYMENT_DECLINED"
	ReasonUnknownProduct  = "UNKNOWN_PRODUCT"
	// ReasonReservationExpired: the stock held for the order went back
	// (its reservation expired) before the sale was committed; any money
	// taken was refunded.
	ReasonReservationExpired = "RESERVATION_EXPIRED"
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
		retryFirst: DefaultRetryFirst, retryMax: DefaultRetryMax, runs: newRuns()}
	for _, opt := range opts {
		opt(s)
	}
	if s.now == nil {
		return nil, errors.New("order: nil clock")
	}
	if s.after <= 0 {
		return nil, fmt.Errorf("order: recovery-after %v must be positive", s.after)
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
		case ReasonReservationExpired:
			return apperr.New(apperr.FailedPrecondition, "order %s rejected: its stock reservation expired; nothing was charged", o.ID).WithReason(o.Reason, "order_id", o.ID)
		}
		return apperr.New(apperr.FailedPrecondition, "order %s rejected: out of stock", o.ID).WithReason(ReasonOutOfStock, "order_id", o.ID)
	case PaymentDeclined:
		return apperr.New(apperr.FailedPrecondition, "order %s: payment declined", o.ID).WithReason(ReasonPaymentDeclined, "order_id", o.ID)
	}
	return nil
}

// unclaim gives up this run's claim on o after a failed step. It runs even
// when ctx is already cancelled (the caller gave up): without it, the order
// stays held until the claim runs out. UpdatedAt moves, so recovery waits
// its grace period from the failure before trying again.
func (s *Service) unclaim(ctx context.Context, o *Order) {
	ctx, cancel := deadline.Detach(ctx, api.RecordBudget)
	defer cancel()
	o.ClaimedUntil = time.Time{}
	o.UpdatedAt = s.clock()
	if err := s.update(ctx, o); err != nil {
		s.logger.WarnContext(ctx, "could not give up the claim on an order; it runs out by itself",
			"order_id", o.ID, "err", err)
	}
}

// runSaga drives a claimed, pending order to a final state, resuming after
// the last step its history records: a run that crashed or failed part way
// is continued, never repeated from the start. If a step's outcome is
// unknown (a peer unreachable or too slow) the order stays PENDING and the
// error is returned.
//
// DESIGN.md, order flow: every step is recorded, and every peer call is
// idempotent by order id, so repeating the step a crash interrupted is safe.
func (s *Service) runSaga(ctx context.Context, o Order) (Order, error) {
	if !o.Reached(StepReserved) {
		res, err := s.inventory.Reserve(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Items)
		s.throttle.Observe(err)
		if err != nil {
			if reason, final := reserveRefusal(err); final {
				// Nothing is held and nothing was charged: the charge comes
				// only after the reservation is recorded.
				o.Reason = reason
				return s.finish(ctx, o, Rejected, StepRejected, err.Error())
			}
			return o, fmt.Errorf("reserve stock of order %s: %w", o.ID, err)
		}
		o.Lines, o.Total = res.Lines, res.Total
		s.record(&o, StepReserved, fmt.Sprintf("total %d %s", res.Total.Minor, res.Total.Currency))
		// Recorded before the charge: from here on the amount is fixed, and
		// a resumed run charges exactly this amount, never a new price.
		if err := s.save(ctx, &o, StepReserved); err != nil {
			return o, err
		}
	}

	if !o.Reached(StepCharged) {
		// A repeat after a crash is answered from payment's record of this
		// order id: the customer is charged once.
		charge, err := s.payment.Charge(deadline.Keep(ctx, api.RecordBudget), o.ID, o.Total, o.PaymentToken)
		s.throttle.Observe(err)
		switch {
		case err == nil && charge.Declined:
			return s.decline(ctx, o, charge.DeclineReason)
		case apperr.CodeOf(err) == apperr.Invalid:
			// Payment refused the request before charging; repeating it
			// cannot help.
			return s.decline(ctx, o, err.Error())
		case err != nil:
			return o, fmt.Errorf("charge order %s: %w", o.ID, err)
		}
		s.record(&o, StepCharged, "")
		if err := s.save(ctx, &o, StepCharged); err != nil {
			return o, err
		}
	}

	err := s.inventory.Commit(deadline.Keep(ctx, api.RecordBudget), o.ID)
	s.throttle.Observe(err)
	if err != nil {
		if apperr.CodeOf(err) == apperr.FailedPrecondition {
			// The reservation is gone (it expired while the order was
			// stuck): the stock may be sold to someone else, so give the
			// money back.
			return s.refundAndReject(ctx, o, err)
		}
		return o, fmt.Errorf("commit stock of order %s: %w", o.ID, err)
	}
	return s.finish(ctx, o, Confirmed, StepCommitted, "")
}

// reserveRefusal tells a final refusal of Reserve, with the reason the order
// is rejected for, from a failure that a retry may overcome.
func reserveRefusal(err error) (reason string, final bool) {
	switch {
	case apperr.ReasonOf(err) == ReasonReservationExpired:
		return ReasonReservationExpired, true
	case apperr.CodeOf(err) == apperr.FailedPrecondition:
		return ReasonOutOfStock, true
	case apperr.CodeOf(err) == apperr.NotFound || apperr.CodeOf(err) == apperr.Invalid:
		// Inventory will never accept these items; retrying cannot help.
		return ReasonUnknownProduct, true
	}
	return "", false
}

// decline releases the stock of an order whose payment was refused and
// ends it PAYMENT_DECLINED.
func (s *Service) decline(ctx context.Context, o Order, detail string) (Order, error) {
	if err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID); err != nil {
		return o, fmt.Errorf("release stock of declined order %s: %w", o.ID, err)
	}
	o.Reason = ReasonPaymentDeclined
	return s.finish(ctx, o, PaymentDeclined, StepDeclined, detail)
}

// refundAndReject compensates a charged order whose stock could not be
// committed: refund, release what may still be held, end REJECTED.
func (s *Service) refundAndReject(ctx context.Context, o Order, cause error) (Order, error) {
	// NotFound: payment holds no charge for the order, so nothing to give back.
	if err := s.payment.Refund(deadline.Keep(ctx, api.RecordBudget), o.ID); err != nil && apperr.CodeOf(err) != apperr.NotFound {
		return o, fmt.Errorf("refund order %s after losing its reservation: %w", o.ID, err)
	}
	s.record(&o, StepRefunded, cause.Error())
	if err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID); err != nil {
		return o, fmt.Errorf("release stock of order %s: %w", o.ID, err)
	}
	o.Reason = ReasonReservationExpired
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
	switch {
	case pageSize < 0:
		return nil, "", apperr.New(apperr.Invalid, "page_size must not be negative")
	case pageSize == 0:
		pageSize = 20
	case pageSize > 100:
		pageSize = 100
	}
	orders, err := s.store.ListByCustomer(ctx, customerID, pageToken, pageSize+1)
	if err != nil {
		return nil, "", fmt.Errorf("list orders: %w", err)
	}
	next := ""
	if len(orders) > pageSize {
		orders = orders[:pageSize]
		next = orders[len(orders)-1].ID
	}
	return orders, next, nil
}

// CancelOrder refunds, then restocks a confirmed order. The refund is
// recorded before the restock, so a repeat after a failure (or a crash)
// between the two restocks without refunding again. Cancelling a cancelled
// order returns it; a concurrent cancellation fails with ErrStale (apperr
// Aborted).
func (s *Service) CancelOrder(ctx context.Context, id string) (Order, error) {
	o, err := s.GetOrder(ctx, id)
	if err != nil {
		return Order{}, err
	}
	switch o.Status {
	case Cancelled:
		return o, nil
	case Confirmed:
	default:
		return Order{}, apperr.New(apperr.FailedPrecondition, "order %s is %s and cannot be cancelled", id, o.Status)
	}
	if !o.Reached(StepRefunded) {
		if err := s.payment.Refund(deadline.Keep(ctx, api.RecordBudget), o.ID); err != nil {
			return o, fmt.Errorf("refund order %s: %w", o.ID, err)
		}
		s.record(&o, StepRefunded, "")
		if err := s.save(ctx, &o, StepRefunded); err != nil {
			return o, err
		}
	}
	if err := s.inventory.Release(deadline.Keep(ctx, api.RecordBudget), o.ID); err != nil {
		return o, fmt.Errorf("restock order %s: %w", o.ID, err)
	}
	return s.finish(ctx, o, Cancelled, StepRestocked, "")
}

// newOrderID returns a random, URL-safe order id.
func newOrderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return fmt.Sprintf("ord_%x", b)
}
