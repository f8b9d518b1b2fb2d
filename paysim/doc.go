// Package paysim is a payment-provider simulator with a Stripe-like API. It
// stands in for the external provider in development and tests; it is a
// program of its own (cmd/paysim), not part of the payment service, whose
// tests start it in-process.
//
// Files by concern: server.go (the Server, its routes and state),
// provider.go (the provider's API: charges, refunds, idempotency), faults.go
// (what it does wrong on purpose) and admin.go (the admin routes tests use).
//
// It honours Idempotency-Key the way real providers do (same key and body:
// the same charge; same key, other body: 409), lets a client that lost an
// answer look a charge or refund up by the key it sent, and counts what it
// did, so tests can assert that an order was charged exactly once.
//
// # API
//
//	POST /v1/charges                       {amount, currency, source}; Idempotency-Key required.
//	                                       200 charge, 402 declined charge (source tok_decline),
//	                                       400 (invalid body, or source tok_invalid), 409
//	GET  /v1/charges/{id}                  the charge
//	GET  /v1/charges?idempotency_key=K     the charge created with key K, 404 if none
//	POST /v1/refunds                       {charge}; Idempotency-Key required. 200 refund, 404 no such charge
//	GET  /v1/refunds?idempotency_key=K     the refund created with key K, 404 if none
//	GET  /v1/stats                         counters (no API key needed)
//	GET  /admin/faults, POST /admin/faults the faults in force (JSON, see Faults)
//	GET  /admin/charges                    every charge, with the Idempotency-Key it was made with
//	POST /admin/reset                      forget every charge, refund and counter; no faults
//
// The /v1 routes except stats, and the POST admin routes, need
// "Authorization: Bearer <api key>" when the simulator has one.
//
// # Faults
//
// The simulator misbehaves on purpose, as configured at start-up by these
// environment variables (read by [ReadFaults]) or at run time through
// POST /admin/faults with the JSON names in brackets. Rates are shares of
// requests between 0 and 1; each request rolls its own dice, from a
// generator seeded with PAYSIM_SEED (or [WithSeed]), so a run is
// reproducible. Faults apply to the API requests (/v1/charges…, /v1/refunds…),
// in this order:
//
//   - PAYSIM_LATENCY ("latency", e.g. "150ms"): wait this long before
//     handling each request.
//   - PAYSIM_HANG_RATE ("hang_rate"): hold the request without answering
//     until the client gives up (or the simulator stops); nothing is done.
//     Use it to push a client past its timeout.
//   - PAYSIM_ERROR_RATE ("error_rate"): answer 500 at once; nothing is done.
//   - PAYSIM_ANSWER_LATENCY ("answer_latency"): for POST /v1/charges and
//     /v1/refunds, do the work, then wait this long before answering (or
//     dropping the answer): the money moves at once and the client learns it
//     late, so a test can act in between, e.g. kill the caller after the
//     charge is made and before it is recorded.
//   - PAYSIM_DROP_RATE ("drop_rate"): for POST /v1/charges and /v1/refunds,
//     do the work (the charge or refund is recorded and counted), then
//     close the connection without an answer: the client cannot know the
//     outcome and must look it up by its Idempotency-Key.
//
// Every fault that fires is counted in [Stats].
package paysim
