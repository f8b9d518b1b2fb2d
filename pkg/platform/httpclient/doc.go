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
// Two guards are opt-in, for peers whose failures must not spread:
//
//   - Options.Retry repeats a request only where a repeat cannot do harm
//     twice: GET and HEAD, and requests carrying an Idempotency-Key (the peer
//     answers a repeat with the first result). It retries after a transport
//     error or a 429, 500, 502, 503 or 504 answer, with jittered exponential
//     backoff, a bounded number of attempts, and never past the deadline:
//     all attempts together fit in Options.Timeout. Any other request is
//     sent once; a caller that wants more must make the repeat safe first.
//   - Options.Breaker is a circuit breaker (failsafe-go) around the
//     transport. Each attempt that ends in a transport error or a 5xx is a
//     failure, anything else (4xx included: the peer is up) a success. When
//     FailureRatio of the attempts in a rolling Window failed (80 % of at
//     least 20 in 10 s by default; a flaky peer's streaks do not count) it
//     opens: for OpenTimeout every request fails at once with
//     [ErrCircuitOpen], without being sent, so a dead peer costs callers
//     microseconds instead of a full timeout each and is not hammered while
//     it recovers. Then trial requests decide whether it closes again. Retries sit outside the breaker, so an open breaker
//     also ends a retry loop.
//
// The breaker lives here, not in each peer's adapter, because it is a
// property of the connection to one peer, as the pool is: one client per
// peer means one breaker per peer, shared by every goroutine that calls it,
// and the transport is the one place that sees every attempt's status code
// and transport error.
package httpclient
