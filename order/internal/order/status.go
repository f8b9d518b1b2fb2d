package order

import (
	"fmt"
	"slices"
	"strings"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Status is where an order is in its life.
type Status int

// Order statuses. Pending and Cancelling are work under way, which a run of
// the saga (or the recovery loop) drives on; NeedsAttention waits for an
// operator; the others stay as they are, but a Confirmed order may be
// cancelled.
const (
	Pending Status = iota + 1
	Confirmed
	Rejected        // out of stock, unknown product, mixed currencies, or its reservation expired; nothing charged, or refunded
	PaymentDeclined // the card was declined; stock released
	Cancelled       // refunded and restocked after confirmation (or compensated by an operator)
	PaymentFailed   // the provider refused the charge for another reason than the card; stock released, nothing charged
	Cancelling      // being cancelled: refund, then restock
	NeedsAttention  // parked: its retries ran out, or money and goods disagree; an operator retries or compensates it
)

// Statuses lists every status, in the order of their values.
var Statuses = []Status{Pending, Confirmed, Rejected, PaymentDeclined, Cancelled, PaymentFailed, Cancelling, NeedsAttention}

var statusNames = map[Status]string{
	Pending:         "PENDING",
	Confirmed:       "CONFIRMED",
	Rejected:        "REJECTED",
	PaymentDeclined: "PAYMENT_DECLINED",
	Cancelled:       "CANCELLED",
	PaymentFailed:   "PAYMENT_FAILED",
	Cancelling:      "CANCELLING",
	NeedsAttention:  "NEEDS_ATTENTION",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "UNSPECIFIED"
}

// ParseStatus is the inverse of Status.String.
func ParseStatus(name string) (Status, error) {
	for s, n := range statusNames {
		if n == name {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown order status %q", name)
}

// InFlight reports whether an order in s is work under way that a run of
// the saga drives to its end: a placement or a cancellation.
func (s Status) InFlight() bool { return s == Pending || s == Cancelling }

// Settled reports whether an order in s has an outcome: nothing is under
// way and nobody needs to act (a Confirmed order may still be cancelled).
func (s Status) Settled() bool { return !s.InFlight() && s != NeedsAttention }

// Transition is a change of status the order's life allows, with what makes
// it happen.
type Transition struct {
	From, To Status
	When     string
}

// Transitions is the order's state machine: every change of status that may
// happen, and no other. Stores refuse any change not listed here
// (CanTransition); docs/order-states.md draws it (Diagram), and a test keeps
// the drawing in step with this table.
var Transitions = []Transition{
	{Pending, Confirmed, "stock committed, charged once"},
	{Pending, Rejected, "out of stock, unknown product, mixed currencies, or the reservation expired (any charge refunded)"},
	{Pending, PaymentDeclined, "card declined, stock released"},
	{Pending, PaymentFailed, "provider refused the charge, stock released"},
	{Pending, NeedsAttention, "retries ran out, or a refund was refused"},
	{Confirmed, Cancelling, "CancelOrder"},
	{Cancelling, Cancelled, "refunded and restocked"},
	{Cancelling, NeedsAttention, "retries ran out, or the refund was refused"},
	{NeedsAttention, Pending, "RetryOrder of a placement"},
	{NeedsAttention, Cancelling, "RetryOrder of a cancellation, or CompensateOrder"},
}

// CanTransition reports whether an order may go from one status to
// another. Staying in a status is always allowed (a step recorded, a claim
// taken or given up).
func CanTransition(from, to Status) bool {
	return from == to || slices.ContainsFunc(Transitions, func(t Transition) bool { return t.From == from && t.To == to })
}

// AllowedFrom returns every status an order may be in for an update to
// leave it in status to, to itself included.
func AllowedFrom(to Status) []Status {
	from := []Status{to}
	for _, t := range Transitions {
		if t.To == to {
			from = append(from, t.From)
		}
	}
	return from
}

// TransitionError is the error a store returns for a change of status the
// state machine does not allow: a bug in the caller, never a race (a race
// is ErrStale).
func TransitionError(id string, from, to Status) error {
	return apperr.New(apperr.FailedPrecondition, "order %s cannot go from %s to %s", id, from, to).
		WithReason("ILLEGAL_TRANSITION", "order_id", id)
}

// Diagram draws the state machine as a Mermaid state diagram.
func Diagram() string {
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	fmt.Fprintf(&b, "    [*] --> %s: PlaceOrder\n", Pending)
	for _, t := range Transitions {
		fmt.Fprintf(&b, "    %s --> %s: %s\n", t.From, t.To, t.When)
	}
	for _, s := range Statuses {
		if s.Settled() {
			fmt.Fprintf(&b, "    %s --> [*]\n", s)
		}
	}
	return b.String()
}
