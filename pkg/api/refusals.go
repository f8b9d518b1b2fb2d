package api

import "github.com/shopmesh/shopmesh/pkg/platform/apperr"

// Reasons the services put on their refusals (the ErrorInfo reason of a
// gRPC status), declared once here so that the service that gives one and
// the caller that handles it use the same word.
const (
	// ReasonOutOfStock (inventory.Reserve): some item is short; nothing is held.
	ReasonOutOfStock = "OUT_OF_STOCK"
	// ReasonMixedCurrency (inventory.Reserve): the products of one order have
	// prices in different currencies; nothing is held.
	ReasonMixedCurrency = "MIXED_CURRENCY"
	// ReasonReservationReleased (inventory.Reserve): the order's reservation
	// was released (it expired, or the order gave it back) and is not held
	// again under the same order id.
	ReasonReservationReleased = "RESERVATION_RELEASED"
	// ReasonNotReserved (inventory.Commit): no reservation is held for the
	// order: it was released, or never made.
	ReasonNotReserved = "NOT_RESERVED"
	// ReasonPaymentFailed (payment.Charge): the provider refused the charge
	// for another reason than the card (e.g. an invalid token); nothing was
	// taken, now or on any repeat.
	ReasonPaymentFailed = "PAYMENT_FAILED"
	// ReasonPaymentRefunded (payment.Charge): the order's payment was given
	// back, or is being; it is not taken again under the same order id.
	ReasonPaymentRefunded = "PAYMENT_REFUNDED"
	// ReasonNothingToRefund (payment.Refund): the payment took no money
	// (declined, failed, or voided before it was sent).
	ReasonNothingToRefund = "NOTHING_TO_REFUND"
	// ReasonRefundFailed (payment.Refund): the provider refused the refund;
	// the money is still taken.
	ReasonRefundFailed = "REFUND_FAILED"

	// The reasons an order ended as it did (order.PlaceOrder's refusals
	// and an order's reason), besides ReasonOutOfStock, ReasonMixedCurrency
	// and ReasonPaymentFailed above.

	// ReasonPaymentDeclined: the card was declined; nothing was taken.
	ReasonPaymentDeclined = "PAYMENT_DECLINED"
	// ReasonUnknownProduct: the order names a product that does not exist.
	ReasonUnknownProduct = "UNKNOWN_PRODUCT"
	// ReasonReservationExpired: the stock held for the order went back
	// (its reservation expired) before the sale was committed; any money
	// taken was refunded.
	ReasonReservationExpired = "RESERVATION_EXPIRED"
	// ReasonCompensated: an operator gave a parked order up; any money
	// taken was refunded and any stock held went back.
	ReasonCompensated = "COMPENSATED"
)

// Refusal is an answer a method may give besides success that is not about
// availability: final for the request that got it. Reason is empty when the
// code alone says it.
type Refusal struct {
	Code   apperr.Code
	Reason string
}

// Refusals declares, per method that a saga calls, every refusal the callee
// may answer with. Errors not listed are about availability (Unavailable,
// Timeout, Aborted, Internal: the outcome may be unknown, and the call is
// repeated with the same order id). The order saga handles each listed
// refusal explicitly, and a test over this table fails when one is added
// and not handled (order/internal/order).
var Refusals = map[string][]Refusal{
	InventoryReserve: {
		{apperr.Invalid, ""},  // malformed items
		{apperr.NotFound, ""}, // an unknown product
		{apperr.FailedPrecondition, ReasonOutOfStock},
		{apperr.FailedPrecondition, ReasonMixedCurrency},
		{apperr.FailedPrecondition, ReasonReservationReleased},
	},
	InventoryCommit: {
		{apperr.Invalid, ""},
		{apperr.FailedPrecondition, ReasonNotReserved},
	},
	InventoryRelease: {
		{apperr.Invalid, ""},
	},
	PaymentCharge: {
		{apperr.Invalid, ""},  // malformed amount or order id
		{apperr.Conflict, ""}, // the order was charged another amount
		{apperr.FailedPrecondition, ReasonPaymentFailed},
		{apperr.FailedPrecondition, ReasonPaymentRefunded},
	},
	PaymentRefund: {
		{apperr.Invalid, ""},
		{apperr.NotFound, ""}, // no payment for the order
		{apperr.FailedPrecondition, ReasonNothingToRefund},
		{apperr.FailedPrecondition, ReasonRefundFailed},
	},
}
