package grpcapi

import (
	"testing"

	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"

	"github.com/shopmesh/shopmesh/payment/internal/payment"
)

func TestStatusToProto(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   payment.Status
		want paymentv1.PaymentStatus
	}{
		{payment.Succeeded, paymentv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED},
		// The money is still taken while the refund is unresolved.
		{payment.RefundPending, paymentv1.PaymentStatus_PAYMENT_STATUS_SUCCEEDED},
		{payment.Declined, paymentv1.PaymentStatus_PAYMENT_STATUS_DECLINED},
		{payment.Refunded, paymentv1.PaymentStatus_PAYMENT_STATUS_REFUNDED},
		// Not in the API yet: never returned by Charge, UNSPECIFIED on GetPayment.
		{payment.Pending, paymentv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED},
		{payment.Failed, paymentv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED},
	}
	for _, tt := range tests {
		if got := statusToProto(tt.in); got != tt.want {
			t.Errorf("statusToProto(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
