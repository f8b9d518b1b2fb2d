package httpapi

import (
	"fmt"
	"unicode"

	"github.com/shopmesh/shopmesh/pkg/api"
)

// Limits of an order request, checked before any downstream call.
const (
	maxFieldErrors    = 50
	idPatternFieldMsg = "must be 1-64 letters, digits, '-' or '_'"
)

// validate returns every semantic problem of a decoded order request,
// named by JSON path, or nil. Shape problems (malformed JSON, unknown
// fields, wrong types) are decodeStrict's and answered 400 before this.
func (r PlaceOrderRequest) validate() []FieldError {
	var errs []FieldError
	add := func(field, detail string) {
		if len(errs) < maxFieldErrors {
			errs = append(errs, FieldError{Field: field, Detail: detail})
		}
	}
	switch n := len(r.Items); {
	case n == 0:
		add("items", fmt.Sprintf("must have 1..%d items", api.MaxOrderItems))
	case n > api.MaxOrderItems:
		add("items", fmt.Sprintf("must have 1..%d items, has %d", api.MaxOrderItems, n))
	default:
		for i, it := range r.Items {
			if !idPattern.MatchString(it.ProductID) {
				add(fmt.Sprintf("items[%d].product_id", i), idPatternFieldMsg)
			}
			if it.Quantity < 1 || it.Quantity > api.MaxItemQuantity {
				add(fmt.Sprintf("items[%d].quantity", i), fmt.Sprintf("must be 1..%d", api.MaxItemQuantity))
			}
		}
	}
	switch {
	case r.PaymentToken == "":
		add("payment_token", "is required")
	case len(r.PaymentToken) > api.MaxPaymentTokenLen:
		add("payment_token", fmt.Sprintf("must be at most %d bytes", api.MaxPaymentTokenLen))
	case !printable(r.PaymentToken):
		add("payment_token", "must be printable text")
	}
	return errs
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}
