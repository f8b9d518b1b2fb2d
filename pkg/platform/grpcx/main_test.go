package grpcx_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// server must be stopped and every client connection closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
