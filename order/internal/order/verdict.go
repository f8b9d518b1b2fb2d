package order

import (
	"fmt"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// verdict is what the saga makes of a peer's answer to one of its steps.
// Every refusal a peer declares (api.Refusals) has a verdict here; a test
// over that table fails when one is added and not handled.
type verdict struct {
	kind verdictKind
	// end: the status and reason the order ends with.
	status Status
	reason string
	// park: why an operator is needed (Order.Attention).
	attention string
}

type verdictKind int

const (
	// unexpected: an answer no contract declares. It is retried like an
	// outage, logged, and, if it persists, parks the order when its
	// retries run out.
	unexpected verdictKind = iota
	// proceed: the step is done (or had nothing to do).
	proceed
	// retry: the peer was unavailable, or the outcome is unknown: the step
	// is repeated with the same order id.
	retry
	// end: a final refusal; the order ends with status and reason, after
	// whatever must be given back.
	end
	// park: only an operator can settle it.
	park
)

var (
	goOn  = verdict{kind: proceed}
	again = verdict{kind: retry}
)

func ending(st Status, reason string) verdict { return verdict{kind: end, status: st, reason: reason} }

func parking(code string, err error) verdict {
	return verdict{kind: park, attention: fmt.Sprintf("%s: %v", code, err)}
}

// transient reports whether err is about availability: nothing final was
// said, and the same call may be repeated (api.Refusals).
func transient(err error) bool {
	switch apperr.CodeOf(err) {
	case apperr.Unavailable, apperr.Timeout, apperr.Aborted, apperr.Internal:
		return true
	}
	return false
}

// reserveVerdict judges inventory's answer to Reserve.
func reserveVerdict(err error) verdict {
	code, reason := apperr.CodeOf(err), apperr.ReasonOf(err)
	switch {
	case err == nil:
		return goOn
	case code == apperr.FailedPrecondition && reason == api.ReasonOutOfStock:
		return ending(Rejected, ReasonOutOfStock)
	case code == apperr.FailedPrecondition && reason == api.ReasonMixedCurrency:
		return ending(Rejected, ReasonMixedCurrency)
	case code == apperr.FailedPrecondition && (reason == api.ReasonReservationReleased || reason == ReasonReservationExpired):
		return ending(Rejected, ReasonReservationExpired)
	case code == apperr.NotFound, code == apperr.Invalid:
		// Inventory will never accept these items; retrying cannot help.
		return ending(Rejected, ReasonUnknownProduct)
	case transient(err):
		return again
	}
	return verdict{kind: unexpected}
}

// chargeVerdict judges payment's answer to Charge.
func chargeVerdict(res ChargeResult, err error) verdict {
	code, reason := apperr.CodeOf(err), apperr.ReasonOf(err)
	switch {
	case err == nil && res.Declined:
		return ending(PaymentDeclined, ReasonPaymentDeclined)
	case err == nil:
		return goOn
	case code == apperr.FailedPrecondition && reason == api.ReasonPaymentFailed,
		code == apperr.Invalid:
		// Refused before anything was taken, now and on every repeat.
		return ending(PaymentFailed, ReasonPaymentFailed)
	case code == apperr.Conflict,
		code == apperr.FailedPrecondition && reason == api.ReasonPaymentRefunded:
		// Payment holds a charge of another amount for this order, or gave
		// the money back while this run meant to take it: money is
		// involved and the saga cannot tell what the customer is owed.
		return parking(AttentionUnexpected, err)
	case transient(err):
		return again
	}
	return verdict{kind: unexpected}
}

// commitVerdict judges inventory's answer to Commit.
func commitVerdict(err error) verdict {
	code, reason := apperr.CodeOf(err), apperr.ReasonOf(err)
	switch {
	case err == nil:
		return goOn
	case code == apperr.FailedPrecondition && reason == api.ReasonNotReserved:
		// The reservation is gone (it expired while the order was stuck):
		// the stock may be sold to someone else; the money goes back.
		return ending(Rejected, ReasonReservationExpired)
	case code == apperr.Invalid:
		return parking(AttentionUnexpected, err)
	case transient(err):
		return again
	}
	return verdict{kind: unexpected}
}

// releaseVerdict judges inventory's answer to Release.
func releaseVerdict(err error) verdict {
	switch {
	case err == nil:
		return goOn
	case apperr.CodeOf(err) == apperr.Invalid:
		return parking(AttentionUnexpected, err)
	case transient(err):
		return again
	}
	return verdict{kind: unexpected}
}

// refundVerdict judges payment's answer to Refund.
func refundVerdict(err error) verdict {
	code, reason := apperr.CodeOf(err), apperr.ReasonOf(err)
	switch {
	case err == nil:
		return goOn
	case code == apperr.NotFound,
		code == apperr.FailedPrecondition && reason == api.ReasonNothingToRefund:
		// No money was taken: there is nothing to give back.
		return goOn
	case code == apperr.FailedPrecondition && reason == api.ReasonRefundFailed:
		// The customer's money is taken and the provider will not give
		// it back: a person must.
		return parking(AttentionRefundRefused, err)
	case code == apperr.Invalid:
		return parking(AttentionUnexpected, err)
	case transient(err):
		return again
	}
	return verdict{kind: unexpected}
}
