package svc

import (
	"example.com/pkg/api/shop/v1"
	"example.com/pkg/platform/grpcx"
	"google.golang.org/grpc"
)

type shop struct{}

func Serve(rules map[string][]string) {
	srv := grpcx.NewServer(rules)
	shopv1.RegisterShopServiceServer(srv, shop{})
	shopv1.RegisterShopServiceServer(srv.Server, shop{})       // want `callerrules: RegisterShopServiceServer registers on \*google.golang.org/grpc.Server, which checks no caller rules`
	shopv1.RegisterShopServiceServer(grpc.NewServer(), shop{}) // want `callerrules: RegisterShopServiceServer registers on`
	var r grpc.ServiceRegistrar = srv
	shopv1.RegisterShopServiceServer(r, shop{})          // want `registers on google.golang.org/grpc.ServiceRegistrar`
	shopv1.RegisterShopServiceServer(srv.Server, shop{}) //shopmesh:allow callerrules a reason given here
}
