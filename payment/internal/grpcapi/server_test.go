package grpcapi

import (
	"testing"

	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
)

func TestStatusToProto(t *testing.T) {
	t.Parallel()
	want := map[payment.Status]paymentv1.PaymentStatus{
		payment.Pending:       paymentv1.PaymentStatus_PAYMENT_STATUS_PENDING,
		payment.Succeeded:     paymentv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED,
		payment.Declined:      paymentv1.PaymentStatus_PAYMENT_STATUS_DECLINED,
		payment.Failed:        paymentv1.PaymentStatus_PAYMENT_STATUS_FAILED,
		payment.RefundPending: paymentv1.PaymentStatus_PAYMENT_STATUS_REFUND_PENDING,
		payment.Refunded:      paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED,
	}
	// Every status the domain has reaches the API as itself.
	for _, st := range payment.Statuses {
		w, ok := want[st]
		if !ok {
			t.Errorf("status %s has no wire status in this test: add it", st)
			continue
		}
		if got := statusToProto(st); got != w {
			t.Errorf("statusToProto(%s) = %v, want %v", st, got, w)
		}
	}
}
