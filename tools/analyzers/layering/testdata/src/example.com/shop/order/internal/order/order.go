package order // want package:"reaches gRPC: example.com/shop/pkg/api → google.golang.org/grpc" `layering: example.com/shop/order/internal/order imports gRPC \(example.com/shop/pkg/api → google.golang.org/grpc\)`

import "example.com/shop/pkg/api"

var _ = api.Server
