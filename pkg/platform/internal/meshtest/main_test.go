package meshtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind: every
// backend's lifecycle.Run, registrar and etcd session, and every client's
// resolver and connections, must be gone when its test ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Process-wide goroutines of etcd's embedded server, not owned by
		// any test (as in the discovery package).
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/golang/glog.(*fileSink).flushDaemon"),
	)
}
