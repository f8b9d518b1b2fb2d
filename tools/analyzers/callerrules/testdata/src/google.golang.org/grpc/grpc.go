// Package grpc is a stub of grpc-go's API, as much as the tests name.
package grpc

type ServiceDesc struct{ ServiceName string }

type ServiceRegistrar interface {
	RegisterService(desc *ServiceDesc, impl any)
}

type Server struct{}

func NewServer() *Server { return &Server{} }

func (*Server) RegisterService(desc *ServiceDesc, impl any) {}
