// Package grpcapi is the transport: it may import gRPC. // want package:"reaches gRPC: google.golang.org/grpc"
package grpcapi

import "google.golang.org/grpc"

var _ grpc.Server
