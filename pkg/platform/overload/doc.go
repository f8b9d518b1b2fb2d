// Package overload refuses work beyond capacity fast, instead of letting it
// queue into timeouts (DESIGN.md, Overload).
//
// Each server (the gateway, every gRPC server) puts an adaptive concurrency
// limit in front of its handlers: failsafe-go's adaptive limiter, one per
// route or method, which raises its limit while latency holds and lowers it
// when latency climbs above its baseline. A call over the limit waits a
// moment in a short queue (bursts pass), and is refused with
// [ErrOverloaded] when the queue is long or the wait would eat its deadline;
// the refusal costs microseconds and tells the caller to come back
// (UNAVAILABLE, or HTTP 503 with Retry-After). Goodput then stays near what
// the machine can do instead of collapsing into timeouts.
//
// What a permit covers is this package's own choice, and the reason it is
// more than a wrapper: a call holds its permit only while it does its own
// work (CPU, its own database), and gives it back the moment it first waits
// for a peer ([Yield], called by grpcx's client interceptor and by the
// platform HTTP client). The limiter therefore measures, and bounds, the
// work a server does itself. A slow peer, such as a payment provider taking
// 2.5 s, does not look like overload and makes nobody shed: its calls are
// bounded by their budgets (platform/deadline) and its breaker
// (platform/httpclient), and the peer's own server has a limiter of its own.
// A limiter over the whole call would see every order slow down with the
// provider and refuse orders the machine has plenty of capacity for.
//
// Compared, and not chosen: a static concurrency cap (needs retuning for
// every machine and mix); CPU-based shedding as go-zero does (sheds only
// when the process's own CPU use passes 90 %, which never happens when
// several services share the cores, as in `make up`, while the machine is
// saturated); an AIMD limit on end-to-end latency (sheds on slow peers, as
// above).
package overload
