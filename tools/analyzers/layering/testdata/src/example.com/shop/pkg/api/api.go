// Package api stubs generated code that imports gRPC.
package api

import "google.golang.org/grpc"

var Server *grpc.Server
