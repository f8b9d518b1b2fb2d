package apperr_test

import (
	"errors"
	"fmt"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// A domain returns an *Error with a code, a message for the caller, and a
// machine-readable reason with metadata; wrapping keeps all of it.
func ExampleNew() {
	err := apperr.New(apperr.FailedPrecondition, "product %s is short", "p1").
		WithReason("OUT_OF_STOCK", "order_id", "o1")
	wrapped := fmt.Errorf("reserve: %w", err)

	fmt.Println(apperr.CodeOf(wrapped), apperr.ReasonOf(wrapped))
	fmt.Println(apperr.CodeOf(errors.New("disk full")))
	// Output:
	// failed_precondition OUT_OF_STOCK
	// internal
}
