package svc

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func dial(ctx context.Context) {
	_, _ = grpc.Dial("x")                                        // want `grpcconn \(rule 1\): grpc.Dial is deprecated`
	_, _ = grpc.DialContext(ctx, "x")                            // want `grpcconn \(rule 1\): grpc.DialContext is deprecated`
	_, _ = grpc.NewClient("x", grpc.WithBlock())                 // want `grpcconn \(rule 1\): a connection made here has no owner` `grpc.WithBlock makes a dial wait`
	_ = grpc.WithReturnConnectionError()                         // want `grpc.WithReturnConnectionError makes a dial wait`
	_ = grpc.WithTransportCredentials(insecure.NewCredentials()) // want `grpcconn \(rule 1\): plaintext outside the platform's dev flag`
}
