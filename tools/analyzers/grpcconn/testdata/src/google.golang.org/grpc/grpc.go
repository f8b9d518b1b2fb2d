// Package grpc is a stub of grpc-go's API, as much as the tests name.
package grpc

import "context"

type ClientConn struct{}

func (*ClientConn) Close() error { return nil }

type DialOption interface{}

type TransportCredentials interface{}

func Dial(target string, opts ...DialOption) (*ClientConn, error) { return nil, nil }

func DialContext(ctx context.Context, target string, opts ...DialOption) (*ClientConn, error) {
	return nil, nil
}

func NewClient(target string, opts ...DialOption) (*ClientConn, error) { return nil, nil }

func WithBlock() DialOption { return nil }

func WithReturnConnectionError() DialOption { return nil }

func WithTransportCredentials(TransportCredentials) DialOption { return nil }
