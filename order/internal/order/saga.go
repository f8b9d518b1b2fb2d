package order

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Reasons on errors PlaceOrder returns for orders that ended unsuccessfully.
const (
	ReasonOutOfStock      = "OUT_OF_STOCK"
	ReasonPaymentDeclined = "PAYMENT_DECLINED"
	ReasonUnknownProduct  = "UNKNOWN_PRODUCT"
)

// Limits on a PlaceOrder request.
const (
	MaxItems    = 100
	MaxQuantity = 1000
	MaxKeyLen   = 128
)

// Service runs the order use cases.
type Service struct {
	store     Store
	inventory Inventory
	payment   Payment
	logger    *slog.Logger
	now       func() time.Time
	newID     func() string
}

// NewService returns a Service over its ports.
func NewService(store Store, inv Inventory, pay Payment, logger *slog.Logger) (*Service, error) {
	if store == nil || inv == nil || pay == nil || logger == nil {
		return nil, errors.New("order: store, inventory, payment and logger are required")
	}
	return &Service{store: store, inventory: inv, payment: pay, logger: logger, now: time.Now, newID: newOrderID}, nil
}

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
// and runs the saga reserve → charge → commit to a final state. An order
// that ends REJECTED or PAYMENT_DECLINED is returned with an apperr
// FailedPrecondition whose reason says why and whose metadata names it.
func (s *Service) PlaceOrder(ctx context.Context, req PlaceRequest) (Order, error) {
	if err := req.validate(); err != nil {
		return Order{}, err
	}
	now := s.now().UTC()
	o, created, err := s.store.Create(ctx, Order{
		ID: s.newID(), CustomerID: req.CustomerID, IdempotencyKey: req.IdempotencyKey,
		RequestHash:  RequestHash(req.CustomerID, req.PaymentToken, req.Items),
		PaymentToken: req.PaymentToken, Items: req.Items, Status: Pending,
		History:   []Event{{At: now, Step: "created"}},
		CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		return Order{}, fmt.Errorf("create order: %w", err)
	}
	if !created && o.RequestHash != RequestHash(req.CustomerID, req.PaymentToken, req.Items) {
		return Order{}, apperr.New(apperr.Conflict, "idempotency key %q was used for a different order", req.IdempotencyKey)
	}
	if o.Status == Pending {
		// A new order, or a retry of one whose saga did not finish: every
		// step is idempotent by order id, so running it again is safe.
		o, err = s.runSaga(ctx, o)
		if errors.Is(err, ErrStale) {
			// Another request is driving this order; report where it is.
			if o, err = s.store.Get(ctx, o.ID); err != nil {
				return Order{}, fmt.Errorf("reload order: %w", err)
			}
			if o.Status == Pending {
				return o, apperr.New(apperr.Unavailable, "order %s is being processed; retry with the same key", o.ID)
			}
		} else if err != nil {
			return o, err
		}
	}
	return o, outcomeError(o)
}

// outcomeError turns an unsuccessful final state into the error PlaceOrder
// reports, so a repeat of the request gets the same answer as the first.
func outcomeError(o Order) error {
	switch o.Status {
	case Rejected:
		if o.Reason == ReasonUnknownProduct {
			return apperr.New(apperr.Invalid, "order %s rejected: it names a product that does not exist", o.ID).WithReason(o.Reason, "order_id", o.ID)
		}
		return apperr.New(apperr.FailedPrecondition, "order %s rejected: out of stock", o.ID).WithReason(ReasonOutOfStock, "order_id", o.ID)
	case PaymentDeclined:
		return apperr.New(apperr.FailedPrecondition, "order %s: payment declined", o.ID).WithReason(ReasonPaymentDeclined, "order_id", o.ID)
	}
	return nil
}

// runSaga drives a pending order to a final state. If a step's outcome is
// unknown (a peer unreachable or too slow) the order stays PENDING and the
// error is returned; a retry of PlaceOrder continues it.
func (s *Service) runSaga(ctx context.Context, o Order) (Order, error) {
	res, err := s.inventory.Reserve(ctx, o.ID, o.Items)
	if err != nil {
		switch {
		case apperr.ReasonOf(err) == ReasonOutOfStock:
			o.Reason = ReasonOutOfStock
			return s.finish(ctx, o, Rejected, "rejected", err.Error())
		case apperr.CodeOf(err) == apperr.NotFound || apperr.CodeOf(err) == apperr.Invalid:
			// Inventory will never accept these items; retrying cannot help.
			o.Reason = ReasonUnknownProduct
			return s.finish(ctx, o, Rejected, "rejected", err.Error())
		}
		return o, fmt.Errorf("reserve stock of order %s: %w", o.ID, err)
	}
	o.Lines, o.Total = res.Lines, res.Total
	s.record(&o, "reserved", fmt.Sprintf("total %d %s", res.Total.Minor, res.Total.Currency))
	// This update is the claim: of two concurrent runs for one order, only
	// the one whose version still matches goes on to charge.
	if err := s.store.Update(ctx, &o); err != nil {
		return o, fmt.Errorf("record reservation of order %s: %w", o.ID, err)
	}

	charge, err := s.payment.Charge(ctx, o.ID, o.Total, o.PaymentToken)
	if err != nil {
		return o, fmt.Errorf("charge order %s: %w", o.ID, err)
	}
	if charge.Declined {
		if err := s.inventory.Release(ctx, o.ID); err != nil {
			return o, fmt.Errorf("release stock of declined order %s: %w", o.ID, err)
		}
		o.Reason = ReasonPaymentDeclined
		return s.finish(ctx, o, PaymentDeclined, "payment declined", charge.DeclineReason)
	}
	s.record(&o, "charged", "")

	if err := s.inventory.Commit(ctx, o.ID); err != nil {
		return o, fmt.Errorf("commit stock of order %s: %w", o.ID, err)
	}
	return s.finish(ctx, o, Confirmed, "committed", "")
}

func (s *Service) finish(ctx context.Context, o Order, st Status, step, detail string) (Order, error) {
	o.Status = st
	s.record(&o, step, detail)
	if err := s.store.Update(ctx, &o); err != nil {
		return o, fmt.Errorf("record %s of order %s: %w", step, o.ID, err)
	}
	s.logger.InfoContext(ctx, "order finished", "order_id", o.ID, "status", st.String())
	return o, nil
}

func (s *Service) record(o *Order, step, detail string) {
	now := s.now().UTC()
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

// CancelOrder refunds, then restocks a confirmed order.
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
	if err := s.payment.Refund(ctx, o.ID); err != nil {
		return o, fmt.Errorf("refund order %s: %w", o.ID, err)
	}
	s.record(&o, "refunded", "")
	if err := s.inventory.Release(ctx, o.ID); err != nil {
		return o, fmt.Errorf("restock order %s: %w", o.ID, err)
	}
	return s.finish(ctx, o, Cancelled, "restocked", "")
}

// newOrderID returns a random, URL-safe order id.
func newOrderID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return fmt.Sprintf("ord_%x", b)
}
