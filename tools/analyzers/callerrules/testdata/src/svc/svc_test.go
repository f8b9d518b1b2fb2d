package svc

import (
	"example.com/pkg/api/shop/v1"
	"google.golang.org/grpc"
)

func probe() {
	shopv1.RegisterShopServiceServer(grpc.NewServer(), shop{}) // a test may serve a fake without rules
}
