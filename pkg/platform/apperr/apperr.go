package apperr

import (
	"errors"
	"fmt"
)

// Code classifies a domain error. Its values are the rows of the table in
// status.go; adding one means adding a row there.
type Code string

// The codes shopmesh services use.
const (
	// Invalid: the request is malformed or breaks a rule of the domain.
	Invalid Code = "invalid"
	// NotFound: the thing asked for does not exist.
	NotFound Code = "not_found"
	// Conflict: the request clashes with an earlier one, e.g. an
	// idempotency key reused with another body.
	Conflict Code = "conflict"
	// Aborted: the request lost a race with a concurrent one (a stale
	// version); repeating it may succeed.
	Aborted Code = "aborted"
	// FailedPrecondition: the state does not allow it, e.g. out of stock,
	// payment declined, cancelling an order that never confirmed.
	FailedPrecondition Code = "failed_precondition"
	// Unavailable: a dependency could not be reached; trying again may help.
	Unavailable Code = "unavailable"
	// Timeout: the work did not finish within its deadline; its outcome may
	// be unknown.
	Timeout Code = "timeout"
	// PermissionDenied: the caller may not do this.
	PermissionDenied Code = "permission_denied"
	// Internal: a bug or an unexpected failure.
	Internal Code = "internal"
)

// Error is a domain error: a Code for machines, a Reason that names the
// business case (e.g. "OUT_OF_STOCK") and a Message for people. Metadata
// carries ids the caller may need, such as the order id of a rejected order.
type Error struct {
	Code     Code
	Reason   string
	Message  string
	Metadata map[string]string
	// Cause is the underlying failure: it appears in Error() and so in the
	// server's log line, but never in what the caller receives.
	Cause error
}

// Error implements error.
func (e *Error) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Code, e.Message)
	if e.Reason != "" {
		msg = fmt.Sprintf("%s (%s): %s", e.Code, e.Reason, e.Message)
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

// Unwrap returns the cause, so errors.Is and errors.As see through e.
func (e *Error) Unwrap() error { return e.Cause }

// WithCause returns a copy of e that keeps cause for logs and errors.Is.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// New returns an *Error with the given code and message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithReason returns a copy of e with a machine-readable reason and optional
// metadata key/value pairs.
func (e *Error) WithReason(reason string, kv ...string) *Error {
	c := *e
	c.Reason = reason
	if len(kv) > 0 {
		c.Metadata = make(map[string]string, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			c.Metadata[kv[i]] = kv[i+1]
		}
	}
	return &c
}

// CodeOf returns the Code of the first *Error in err's chain, or Internal
// when there is none. A nil error has no code and returns "".
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// ReasonOf returns the Reason of the first *Error in err's chain, or "".
func ReasonOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
