// Package apperr is shopmesh's one vocabulary of domain errors: a Code, a
// message for the caller, and a machine-readable reason with metadata.
//
// Domain packages return *Error values; apperr knows no transport, so a
// domain that imports it imports no gRPC or HTTP. The transports hold the
// tables: grpcx.ToStatus and grpcx.FromStatus map codes to gRPC statuses and
// back (so a callee's "out of stock" stays "out of stock" across hops), and
// the gateway maps gRPC statuses to HTTP problem details. An error that is
// not an *Error is a bug or an unexpected failure: it becomes Internal with
// a generic message, and the detail goes to the log with the trace id.
package apperr
