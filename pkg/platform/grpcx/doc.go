// Package grpcx builds shopmesh's gRPC servers and client connections
// (seed rule 1: connections have an explicit lifecycle).
//
// NewServer returns a server with mutual TLS, tracing (tracing.go: the
// trace context continued on every call, a span when sampled), panic
// recovery, a default deadline for calls that arrive without one, caller
// authorization from the peer certificate, one log line per call (at debug
// when it succeeded quickly or was refused at capacity) and its duration, and grpc.health.v1. Stop drains it with a deadline and then forces it.
//
// Conns holds one *grpc.ClientConn per peer service, sending the trace
// context and a per-hop deadline with every call, created on first use
// with grpc.NewClient (which never blocks: the first RPC waits for a ready
// connection within its own deadline) and shared by every caller; Close
// closes them all at shutdown. Reconnecting is gRPC's job, so nothing here
// dials per request. Plaintext exists only behind the dev flag and logs a
// warning.
//
// ToStatus and FromStatus are the one table between shopmesh's domain
// errors (apperr) and gRPC status codes: the server interceptor answers
// with ToStatus, client adapters turn a status back with FromStatus.
package grpcx
