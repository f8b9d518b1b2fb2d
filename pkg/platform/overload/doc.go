// Package overload refuses work beyond capacity fast, instead of letting it
// queue into timeouts (DESIGN.md, Overload).
//
// Every server (the gateway, each gRPC server) puts an adaptive concurrency
// limit in front of its handlers, one per route or method. It follows the
// latency of the work it admits, as Netflix's concurrency-limits do: while
// the limit is in use, it grows by one permit a window of calls whose median
// stays within 1.5 times the floor, and shrinks by a tenth when the median
// passes that. The floor is the lowest window median of the last five
// minutes — what the work takes when nothing queues for the CPU or the
// database. A call refused by it costs microseconds and tells the caller to
// come back: UNAVAILABLE with reason OVERLOADED between services, 503 with
// Retry-After at the edge. Over the limit, new work may wait briefly for a
// permit (a burst passes), but not once the queue stands: when no call has
// found a permit free for 100 ms, new work is refused within 5 ms (CoDel's
// rule), so a queue never adds its wait to everything admitted.
//
// The limit is shopmesh's own, not failsafe-go's adaptive limiter, which
// was tried first: its baseline is an average of recent latencies, so a
// server that starts under load (a restart during an overload, a replica
// added to relieve one) learns the overload as normal and never cuts. In
// `make bench-overload` order's limiter learned a baseline of 1.1 s for
// work that takes 20 ms and let goodput fall to a quarter of the sustained
// rate at 1×. A minimum over minutes has no such memory of the overload.
//
// Three choices make it fit a mesh of services rather than one server:
//
//   - A permit covers the server's own work. A call gives it back while it
//     waits for a peer ([Yield], called by grpcx's client interceptor and by
//     the platform HTTP client) and takes one again when the peer answers,
//     so the limit measures and bounds what this server does: a call's
//     latency sample is the time it held permits, its waits left out. A server
//     that runs sagas (order) counts the peers that do its work inside
//     shopmesh (inventory) as its own (Options.Holds) and gives its permit
//     back only while payment waits on the outside world: a payment provider
//     taking 2.5 s makes nobody shed, because nothing inside shopmesh is
//     busier for it.
//   - New work and continuing work are kept apart. A call that starts
//     something (a new order, a read) waits only briefly once the limit is
//     full; a step of something already admitted (a saga's Reserve or
//     Charge, marked [Continuing] and carried to peers in gRPC metadata)
//     waits in a short queue, and a call taking its permit back after a peer
//     answered waits as long as its deadline allows. An overloaded system
//     finishes what it started and turns new work away.
//   - Refusals travel upstream. A [Throttle] records how often a server's
//     peers refuse it and refuses new work in proportion, where it enters:
//     order refuses new orders while inventory or payment turn its sagas'
//     steps away, and the gateway refuses orders before calling order while
//     order refuses them (client-side throttling, as in Google's SRE book,
//     by failsafe-go's adaptive throttler).
//
// Compared, and not chosen: a static concurrency cap (needs retuning for
// every machine and mix); CPU-based shedding as go-zero does (sheds only
// when the process's own CPU use passes 90 %, which never happens when
// several services share the cores, as in `make up`, while the machine is
// saturated); a limit over whole requests at the gateway (it would control
// latency best, but sees a slow payment provider as overload and refuses
// orders the system has room for). docs/deadlines.md has the measurements.
package overload
