// Package meshtest builds a small service mesh inside one test process: an
// embedded etcd, a dev PKI, inventory backends that are real grpcx servers
// run by lifecycle.Run and registered through discovery.Registrar, and
// clients that reach them through grpcx.Conns and the etcd resolver.
//
// It exists so the mesh's promises (seed rules 1 and 2 in DESIGN.md) are
// proven end to end, through the same code a service runs, rather than piece
// by piece: a killed instance costs no call, a poisoned registry routes
// nothing to an impostor, a rolling restart loses no request,
// least-request avoids a slow instance, retries stay on idempotent methods
// and are throttled, and an empty service fails fast.
//
// A Backend stops in two ways. Stop is the real ordered shutdown (not
// serving, revoke, propagation delay, drain) because it is lifecycle.Run's.
// Kill is what SIGKILL leaves behind: every socket closed at once, nothing
// revoked, the key left to expire with its lease.
package meshtest
