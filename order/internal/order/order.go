// Package order is the order domain: orders, their life cycle, and the saga
// that reserves stock, takes payment and commits the sale. It declares the
// ports it needs (Inventory, Payment, Store); adapters implement them.
//
// Files by concern: order.go (the types and ports), status.go (the state
// machine), service.go (the Service, its options and its store calls),
// place.go (placing an order), saga.go (the steps reserve → charge →
// commit and their compensations), verdict.go (what each peer answer means
// for the order), run.go (the background run that drives a saga), cancel.go,
// recovery.go (orders no run drives), park.go (orders for an operator) and
// queries.go (reading orders).
package order

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Money is an amount in integer minor units with its ISO 4217 currency.
type Money struct {
	Currency string
	Minor    int64
}

// Item is a product and quantity requested by the customer.
type Item struct {
	ProductID string
	Quantity  int32
}

// Line is an item priced by inventory at reservation time.
type Line struct {
	ProductID string
	Quantity  int32
	UnitPrice Money
}

// Event is one recorded step of an order's history.
type Event struct {
	At     time.Time
	Step   string // e.g. "reserved", "charged", "committed"
	Detail string
}

// Order is a customer's order.
type Order struct {
	ID             string
	CustomerID     string
	IdempotencyKey string
	// RequestHash identifies the request body, so a reused key with another
	// body is told apart from a retry.
	RequestHash  string
	PaymentToken string
	Items        []Item
	Status       Status
	Lines        []Line
	Total        Money
	History      []Event
	// Reason says why an order ended as it did (REJECTED, PAYMENT_DECLINED,
	// PAYMENT_FAILED, or a compensated CANCELLED one).
	Reason string
	// Attention says why a NEEDS_ATTENTION order was parked: a code, a
	// colon, and what happened (e.g. "REFUND_REFUSED: ...").
	Attention string
	// TraceID is the trace of the request that placed the order (32 hex
	// digits; empty when it came without one), so an operator can go from
	// an order to its spans (`make trace ID=...`).
	TraceID string
	// Attempts counts the runs of the saga that stopped short of an end
	// since the order was placed (or an operator took it up again); at the
	// limit the order is parked rather than tried again.
	Attempts int
	// NextAttemptAt is when recovery may try the order again after a run
	// that stopped short; zero when it may at once.
	NextAttemptAt time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// ClaimedUntil is when the claim of the run driving this PENDING order
	// ends; zero when no run holds it. A run claims the order before it
	// calls a peer and gives up when its claim ends, so two runs (two
	// replicas, or a retry and the recovery loop) do not drive one order at
	// once.
	ClaimedUntil time.Time
	// Version increases with every stored change; Update refuses a stale
	// one, so two runs of the saga for one order cannot overwrite each other.
	Version int64
	// ShippingTold is the status the shipping service was last told of,
	// Confirmed or Cancelled (zero: none). The shipping relay tells it of
	// every order whose status is one of these and differs (ShippingRelay).
	ShippingTold Status
}

// Steps recorded in an order's history. The saga reads them back to resume
// where a crashed or failed run stopped.
const (
	StepCreated         = "created"
	StepReserved        = "reserved"
	StepCharged         = "charged"
	StepCommitted       = "committed"
	StepRejected        = "rejected"
	StepDeclined        = "payment declined"
	StepPaymentFailed   = "payment failed"
	StepCancelRequested = "cancel requested"
	StepRefunded        = "refunded"
	StepRestocked       = "restocked"
	StepParked          = "parked"
	StepTakenUp         = "taken up again"
)

// Reasons an order ended as it did (Order.Reason), also the ErrorInfo
// reasons of PlaceOrder's errors for it.
const (
	ReasonOutOfStock         = api.ReasonOutOfStock
	ReasonMixedCurrency      = api.ReasonMixedCurrency
	ReasonPaymentDeclined    = api.ReasonPaymentDeclined
	ReasonPaymentFailed      = api.ReasonPaymentFailed
	ReasonUnknownProduct     = api.ReasonUnknownProduct
	ReasonReservationExpired = api.ReasonReservationExpired
	ReasonCompensated        = api.ReasonCompensated
)

// Why an order was parked: the code that starts Order.Attention.
const (
	// AttentionRetriesExhausted: the runs of the saga kept failing.
	AttentionRetriesExhausted = "RETRIES_EXHAUSTED"
	// AttentionRefundRefused: the provider refused to give money back.
	AttentionRefundRefused = "REFUND_REFUSED"
	// AttentionUnexpected: a peer answered in a way no contract declares.
	AttentionUnexpected = "UNEXPECTED_ANSWER"
)

// Reached reports whether step is recorded in o's history.
func (o Order) Reached(step string) bool {
	return slices.ContainsFunc(o.History, func(e Event) bool { return e.Step == step })
}

// TokenSpent reports whether o's payment token can no longer be used: the
// order was charged, or it settled without a charge. The token is a
// credential to charge the customer, so a store forgets it then (Store's
// Update): a database kept for years does not keep what an attacker could
// charge with. Until then a run that recovers the order needs it to charge;
// a parked order keeps it for an operator's retry.
func (o Order) TokenSpent() bool { return o.Reached(StepCharged) || o.Status.Settled() }

// Clone returns a deep copy, so stores never share slices with callers.
func (o Order) Clone() Order {
	o.Items = slices.Clone(o.Items)
	o.Lines = slices.Clone(o.Lines)
	o.History = slices.Clone(o.History)
	return o
}

// RequestHash hashes what defines a PlaceOrder request besides its key.
func RequestHash(customerID, paymentToken string, items []Item) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", customerID, paymentToken)
	for _, it := range items {
		fmt.Fprintf(h, "%s\x00%d\x00", it.ProductID, it.Quantity)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ErrStale is returned by Store.Update when the order changed since it was
// read: another run of the saga (or another cancellation) is driving it.
// It is an apperr Aborted: the caller lost a race, and repeating the whole
// request may succeed.
var ErrStale = apperr.New(apperr.Aborted, "order changed concurrently").WithReason("STALE_VERSION")

// Reservation is what inventory answered to Reserve.
type Reservation struct {
	Lines []Line
	Total Money
}

// ChargeResult is what payment answered to Charge.
type ChargeResult struct {
	Declined      bool
	DeclineReason string
}

// Inventory is the part of the inventory service the saga uses. All three
// calls are idempotent by order id; a repeated Reserve holds a reservation
// still held for another TTL. They fail with the refusals declared for them
// in pkg/api (api.Refusals), or with an error about availability.
type Inventory interface {
	Reserve(ctx context.Context, orderID string, items []Item) (Reservation, error)
	Commit(ctx context.Context, orderID string) error
	Release(ctx context.Context, orderID string) error
}

// Payment is the part of the payment service the saga uses; idempotent by
// order id. A decline is a ChargeResult, not an error; refusals are
// declared in pkg/api (api.Refusals).
type Payment interface {
	Charge(ctx context.Context, orderID string, amount Money, paymentToken string) (ChargeResult, error)
	Refund(ctx context.Context, orderID string) error
}

// Store keeps orders. Times are kept to the microsecond.
type Store interface {
	// Create inserts o, or returns the order already created with the same
	// (CustomerID, IdempotencyKey) and created=false, also when two Creates
	// with one key run at once: exactly one of them creates.
	Create(ctx context.Context, o Order) (_ Order, created bool, _ error)
	// Get returns an order or an apperr NotFound.
	Get(ctx context.Context, id string) (Order, error)
	// Update stores o if the stored order still has o.Version, and sets
	// o.Version to the new version. A stale version fails with ErrStale, an
	// unknown order with an apperr NotFound, and a change of status the
	// state machine does not allow (CanTransition) with TransitionError.
	// Items never change after Create, and History only grows: events
	// already stored are kept.
	Update(ctx context.Context, o *Order) error
	// ListByCustomer returns up to limit orders of a customer, newest
	// first (ties broken by id, descending), that come after the order
	// with id `after` ("" for the start). An `after` that is not one of the
	// customer's orders is an apperr Invalid, not a silent restart.
	ListByCustomer(ctx context.Context, customerID, after string, limit int) ([]Order, error)
	// ClaimStale claims up to limit orders under way (PENDING or
	// CANCELLING) that no run holds (ClaimedUntil zero or not after now),
	// that have not changed since olderThan (UpdatedAt before it) and whose
	// NextAttemptAt is not after now, least recently updated first. It
	// sets their ClaimedUntil to until, increments their Version, and
	// returns them as stored. Concurrent calls, from any number of
	// processes, never return the same order while its claim lasts.
	ClaimStale(ctx context.Context, now, olderThan, until time.Time, limit int) ([]Order, error)
	// ListByStatus returns up to limit orders in status, least recently
	// updated first (ties broken by id), that come after the order with id
	// `after` ("" for the start); an `after` not in that status is an apperr
	// Invalid.
	ListByStatus(ctx context.Context, status Status, after string, limit int) ([]Order, error)
	// ListUntold returns up to limit orders whose status is Confirmed or
	// Cancelled and differs from their ShippingTold, least recently updated
	// first.
	ListUntold(ctx context.Context, limit int) ([]Order, error)
	// MarkTold sets each told order's ShippingTold to the status it was
	// told of if the order is still in it, and leaves it as it is
	// otherwise, all in one write. It changes neither Version nor
	// UpdatedAt, so it never makes a run of the saga or a cancellation
	// stale; Update keeps what it set. An order that does not exist is an
	// apperr NotFound (the others are marked).
	MarkTold(ctx context.Context, told []Told) error
}

// Told is an order the shipping service was told of, and the status it
// was told.
type Told struct {
	ID     string
	Status Status
}
