package svc

import (
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// A test may probe a server with a connection of its own, plaintext too.
func TestProbe(t *testing.T) {
	cc, err := grpc.NewClient("passthrough:///x", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err == nil {
		_ = cc.Close()
	}
	_ = grpc.WithBlock() // want `grpc.WithBlock makes a dial wait`
}
