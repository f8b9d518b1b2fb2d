package apperr_test

import (
	"errors"
	"fmt"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// A domain error crosses a gRPC hop with its code, reason and metadata: the
// server interceptor calls ToStatus, the client adapter FromStatus.
func ExampleFromStatus() {
	// inventory's domain code:
	err := apperr.New(apperr.FailedPrecondition, "product %s is short", "p1").
		WithReason("OUT_OF_STOCK", "order_id", "o1")

	// What the inventory server sends, and what the order client receives:
	st := apperr.ToStatus(fmt.Errorf("reserve: %w", err))
	fmt.Println(st.Code(), st.Message())

	got := apperr.FromStatus(st.Err())
	var e *apperr.Error
	if errors.As(got, &e) {
		fmt.Println(apperr.CodeOf(got), apperr.ReasonOf(got), e.Metadata["order_id"])
	}
	// Output:
	// FailedPrecondition product p1 is short
	// failed_precondition OUT_OF_STOCK o1
}

// An error that is not an *apperr.Error is a bug or an unexpected failure:
// the caller learns only that.
func ExampleToStatus() {
	st := apperr.ToStatus(fmt.Errorf("query stock: %w", errors.New("password authentication failed for user shopmesh")))
	fmt.Println(st.Code(), st.Message())
	// Output: Internal internal error
}
