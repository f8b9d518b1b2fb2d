// Package apperr is shopmesh's one vocabulary of domain errors and the one
// table that turns them into gRPC status codes.
//
// Domain packages return *Error values with a Code; they never import gRPC.
// The grpcx server interceptor converts whatever a handler returns through
// ToStatus, so every service maps errors the same way, and an error that is
// not an *Error becomes codes.Internal with a generic message (the detail goes
// to the log with the trace id, never to the caller). Clients turn a status
// back into an *Error with FromStatus, so a callee's "out of stock" stays
// "out of stock" across hops.
package apperr
