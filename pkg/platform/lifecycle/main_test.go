package lifecycle_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: Run must
// stop its admin server and wait for everything it started, and Probe must
// not leave a pooled connection open.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
