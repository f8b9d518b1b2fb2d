// Package httpclient is the only way shopmesh makes an *http.Client.
//
// The rule it enforces (DESIGN.md, seed rule 3): http.Get, http.DefaultClient
// and a bare &http.Client{} do not appear in shopmesh. Each has no timeout at
// all, so one slow payment provider holds a request goroutine, its
// connection and its caller's deadline budget forever; and the default
// transport keeps only two idle connections per host, so under load most
// requests pay for a fresh TCP and TLS handshake. [New] instead builds a client
// whose every phase is bounded, whose pool is sized for a busy peer, and whose
// requests carry the caller's trace:
//
//   - Options.Timeout bounds the whole exchange, including reading the body;
//     the dial, TLS handshake and response-header timeouts fail the slow
//     phase early with a precise error.
//   - The transport is an explicit *http.Transport (not a copy of
//     http.DefaultTransport, which any imported package could have mutated)
//     with keep-alive on, HTTP/2 attempted, the proxy taken from the
//     environment, and idle-pool sizes from Options.
//   - otelhttp wraps it, so every request gets a client span and a W3C
//     traceparent header from the global propagator that telemetry.Setup
//     installs, and the request duration metric.
//
// A connection only goes back to the pool when its response body has been
// read to the end and closed; [DrainAndClose] does both, with a bound so a
// huge or endless body cannot stall the caller.
//
// Deadlines still come from the caller: pass a context with the budget left
// for this hop (seed rule 4); the client's Timeout is a ceiling, not the
// budget.
//
// Not here yet: retries (only for GET or requests with an Idempotency-Key)
// and a circuit breaker, which DESIGN.md also assigns to this package, are a
// later issue. Until then a caller that retries must do so itself, and only
// for requests that cannot do harm twice.
package httpclient
