// Package discovery finds shopmesh's gRPC instances through etcd, not DNS
// (seed rule 2).
//
// A Registrar puts one key per instance, /services/<service>/<host:port>,
// bound to a lease that it keeps alive; when the lease is lost (etcd away for
// longer than the TTL, an operator revoking it) it grants a new one and puts
// the key again, for as long as the process lives. Stop revokes the lease so
// the instance leaves every client's routing before its server drains.
//
// Builder is a gRPC resolver for targets "etcd:///<service>". It lists the
// prefix, then watches from the next revision; when the watch fails (a
// compaction, a lost member) it lists again. While etcd cannot be reached it
// keeps the last address set, so routing goes on. Build never blocks on etcd:
// gRPC calls Build synchronously.
//
// Endpoints come from ETCD_ENDPOINTS, read by the service's run function and
// passed to NewClient; nothing here reads the environment.
package discovery
