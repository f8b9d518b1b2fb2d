package inventory

import "google.golang.org/grpc"

// A test of the domain may use gRPC: no finding.
var _ grpc.Server
