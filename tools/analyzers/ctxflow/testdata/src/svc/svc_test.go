package svc

import (
	"context"
	"testing"
)

func TestHandle(t *testing.T) {
	_ = Handle(context.Background())
}
