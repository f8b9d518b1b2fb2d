// Package grpcx stubs shopmesh's server, whose registration checks the
// caller rules.
package grpcx

import "google.golang.org/grpc"

type Server struct{ *grpc.Server }

func NewServer(rules map[string][]string) *Server { return &Server{Server: grpc.NewServer()} }

func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.Server.RegisterService(desc, impl)
}
