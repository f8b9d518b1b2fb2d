package apperr // want package:"reaches gRPC: google.golang.org/grpc" `layering: example.com/shop/pkg/platform/apperr imports gRPC \(google.golang.org/grpc\)`

import "google.golang.org/grpc"

var _ grpc.Server

func New() {}
