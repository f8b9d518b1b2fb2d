// Package bootstrap wires what every shopmesh service needs before its own
// code runs: configuration common to all services (read from the environment
// by the service's run function and passed in as a getenv func), telemetry,
// the TLS identity, the etcd client, the shared gRPC connections and server,
// the listeners and the registration. A service's run function calls Start,
// registers its gRPC handlers on the server Process.NewGRPCServer returns,
// and hands Process.App(server, registrar, ready, closers...) to
// lifecycle.Run.
//
// It exists so the four services read the same variables the same way; a
// service-specific setting belongs in that service's own Config.
package bootstrap
