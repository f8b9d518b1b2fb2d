package telemetry_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: the batch
// span processor and the OTLP exporter's connection must both be stopped by
// Shutdown.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
