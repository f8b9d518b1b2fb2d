// Package bootstrap is the one way a shopmesh service starts: its main is
//
//	func main() { bootstrap.Main(service) }
//
// where service (a Service) names the service, the API tables the platform
// needs, the service's own settings and a Wire function that builds the
// service on the started Process and returns its Parts (the server, whether
// it registers in etcd, readiness, closers). Run does the rest, in this
// order: the shared settings (Config) and the service's own, all problems
// reported at once; telemetry, the TLS identity, the etcd client, the
// shared gRPC connections and the listeners (Start); Wire; registration;
// and lifecycle.Run, which serves and stops everything in order. A service
// with a database wraps its Service in platform/postgres.Service, which
// opens and migrates it before Wire (the gateway, which has none, does not
// link a database driver).
//
// It exists so every service reads the same variables the same way and
// starts and stops in the same order; a service-specific setting belongs in
// that service's own configuration, read with package settings.
package bootstrap
