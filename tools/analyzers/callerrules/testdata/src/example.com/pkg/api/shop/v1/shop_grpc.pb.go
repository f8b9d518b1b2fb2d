// Package shopv1 stubs a generated service of pkg/api.
package shopv1

import "google.golang.org/grpc"

type ShopServiceServer interface{}

var ShopService_ServiceDesc = grpc.ServiceDesc{ServiceName: "shop.v1.ShopService"}

func RegisterShopServiceServer(s grpc.ServiceRegistrar, srv ShopServiceServer) {
	s.RegisterService(&ShopService_ServiceDesc, srv)
}
