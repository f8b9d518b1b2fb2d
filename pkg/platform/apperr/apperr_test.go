package apperr_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

func TestCodeOf(t *testing.T) {
	t.Parallel()
	outOfStock := apperr.New(apperr.FailedPrecondition, "p1 short").WithReason("OUT_OF_STOCK")
	tests := []struct {
		name       string
		err        error
		wantCode   apperr.Code
		wantReason string
	}{
		{"nil", nil, "", ""},
		{"domain error", outOfStock, apperr.FailedPrecondition, "OUT_OF_STOCK"},
		{"wrapped once", fmt.Errorf("reserve: %w", outOfStock), apperr.FailedPrecondition, "OUT_OF_STOCK"},
		{"wrapped twice", fmt.Errorf("place order: %w", fmt.Errorf("reserve: %w", outOfStock)), apperr.FailedPrecondition, "OUT_OF_STOCK"},
		{"joined", errors.Join(errors.New("other"), outOfStock), apperr.FailedPrecondition, "OUT_OF_STOCK"},
		{"without reason", fmt.Errorf("get: %w", apperr.New(apperr.NotFound, "p1")), apperr.NotFound, ""},
		{"plain error", errors.New("boom"), apperr.Internal, ""},
		{"wrapped plain error", fmt.Errorf("get: %w", errors.New("boom")), apperr.Internal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := apperr.CodeOf(tt.err); got != tt.wantCode {
				t.Errorf("CodeOf(%v) = %q, want %q", tt.err, got, tt.wantCode)
			}
			if got := apperr.ReasonOf(tt.err); got != tt.wantReason {
				t.Errorf("ReasonOf(%v) = %q, want %q", tt.err, got, tt.wantReason)
			}
		})
	}
}

func TestError_WithReason(t *testing.T) {
	t.Parallel()
	base := apperr.New(apperr.FailedPrecondition, "order %s cannot be cancelled", "o1")

	t.Run("copies", func(t *testing.T) {
		got := base.WithReason("NOT_CONFIRMED", "order_id", "o1")
		if base.Reason != "" || base.Metadata != nil {
			t.Errorf("WithReason changed the original: %#v", base)
		}
		if got.Code != base.Code || got.Message != base.Message {
			t.Errorf("WithReason lost code or message: %#v", got)
		}
		if got.Reason != "NOT_CONFIRMED" || got.Metadata["order_id"] != "o1" {
			t.Errorf("WithReason = %#v, want reason NOT_CONFIRMED and order_id=o1", got)
		}
	})

	t.Run("odd key without value is dropped", func(t *testing.T) {
		got := base.WithReason("R", "a", "1", "b")
		if len(got.Metadata) != 1 || got.Metadata["a"] != "1" {
			t.Errorf("metadata = %v, want only a=1", got.Metadata)
		}
	})

	t.Run("message", func(t *testing.T) {
		if got, want := base.Error(), "failed_precondition: order o1 cannot be cancelled"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		if got, want := base.WithReason("NOT_CONFIRMED").Error(), "failed_precondition (NOT_CONFIRMED): order o1 cannot be cancelled"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
	})
}
