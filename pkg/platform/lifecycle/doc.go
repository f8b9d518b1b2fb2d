// Package lifecycle runs a shopmesh process from start to an orderly stop.
//
// Run serves the admin endpoints (/healthz, /readyz, /metrics,
// /debug/pprof/), starts the main server, registers in discovery once the
// server is serving, and on SIGTERM, SIGINT or a canceled context stops in
// the order that loses no request:
//
//  1. mark not-ready (readiness probes and grpc.health.v1 turn NOT_SERVING);
//  2. deregister (revoke the etcd lease, within a quarter of the shutdown
//     budget: an unreachable etcd must not eat the drain's time, and the
//     lease expires anyway) and wait the propagation delay, so every
//     client's resolver, and any load balancer watching /readyz, drops this
//     instance before it stops accepting;
//  3. drain the main server with a deadline, then force it;
//  4. run the closers in order (client connections, database pools, and
//     telemetry last so the shutdown itself is traced and logged).
//
// Every runs a service's background job (inventory's reservation sweep,
// order's recovery) as a pass at once and then every interval, in a
// goroutine it owns; its Close is one of the closers, so the job stops
// before the pool it uses closes.
package lifecycle
