// Package grpc stubs grpc-go.
package grpc

type Server struct{}
