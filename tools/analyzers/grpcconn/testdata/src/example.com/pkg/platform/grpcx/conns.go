// Package grpcx stands for shopmesh's: the one place that makes
// connections and chooses their credentials.
package grpcx

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func connect(target string, dev bool) (*grpc.ClientConn, error) {
	creds := grpc.WithTransportCredentials(insecure.NewCredentials())
	return grpc.NewClient(target, creds)
}

func hang(target string) (*grpc.ClientConn, error) {
	return grpc.Dial(target) // want `grpc.Dial is deprecated`
}
