// Package discovery finds shopmesh's gRPC instances through etcd, not DNS
// (seed rule 2).
//
// A Registrar puts one key per instance, /services/<service>/<host:port>,
// bound to a lease that it keeps alive; when the lease is lost (etcd away for
// longer than the TTL, an operator revoking it) it grants a new one and puts
// the key again, with a capped, jittered backoff, for as long as the process
// lives. The key moves to the new lease before the old lease is revoked, so
// it never disappears in between, and the Registrar watches its own key, so a
// key deleted or overwritten by hand is put back at once. Stop revokes the
// lease (retrying through a leader change) so the instance leaves every
// client's routing before its server drains.
//
// Builder is a gRPC resolver for targets "etcd:///<service>". It lists the
// prefix, then watches from the next revision; when the watch fails (a
// compaction, a member without a leader, a closed stream) it lists again.
// While etcd cannot be reached it keeps the last address set, so routing goes
// on. Lists that keep failing are spaced by a capped backoff, and ResolveNow
// calls coalesce into at most one list a second. Build never blocks on etcd:
// gRPC calls Build synchronously.
//
// Endpoints come from ETCD_ENDPOINTS, read by the service's run function and
// passed to NewClient; nothing here reads the environment.
package discovery
