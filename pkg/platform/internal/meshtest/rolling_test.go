package meshtest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/internal/meshtest"
)

// A rolling restart (start a new instance, wait until it is registered,
// stop an old one in order) under a steady stream of calls loses none: each
// old instance leaves every client's routing before it drains. Without
// retries this is the ordered stop's doing alone (a Kill in its place loses
// the calls in flight); with the production policy, too.
func TestMesh_RollingRestartLosesNoCall(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy grpcx.Policy
	}{
		{"without retries", grpcx.Policy{}},
		{"with retries of idempotent methods", grpcx.Policy{Retryable: api.Idempotent[meshtest.Service]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Calls take 5ms, so some are in flight on every instance as it stops.
			opts := []meshtest.BackendOption{meshtest.WithPropagationDelay(300 * time.Millisecond), meshtest.WithDelay(5 * time.Millisecond)}
			m := meshtest.New(t)
			var olds, news []*meshtest.Backend
			for i := range 3 {
				olds = append(olds, m.StartBackend(t, fmt.Sprintf("v1-%d", i), opts...))
			}
			client := m.Client(t, "order", tc.policy)
			warm(t, client, olds...)

			l := startLoad(t, client, 4, time.Second)
			time.Sleep(200 * time.Millisecond)
			var stopTimes []time.Duration
			for i, old := range olds {
				// StartBackend returns once the new instance's key is in etcd.
				news = append(news, m.StartBackend(t, fmt.Sprintf("v2-%d", i), opts...))
				start := time.Now()
				if err := old.Stop(stopCtx(t)); err != nil {
					t.Errorf("ordered stop of %s: %v", old.Name(), err)
				}
				stopTimes = append(stopTimes, time.Since(start).Round(time.Millisecond))
			}
			restarted := time.Now()
			time.Sleep(500 * time.Millisecond)
			calls := l.stop()

			if failed := failures(calls); len(failed) > 0 {
				t.Errorf("%d calls during the restart, %s; want none to fail", len(calls), describe(failed))
			}
			atEnd := servedBy(between(calls, restarted, time.Now()))
			for _, b := range news {
				if atEnd[b.Name()] == 0 {
					t.Errorf("in the last 500ms: served %v, want every new instance, %s included", atEnd, b.Name())
				}
			}
			for _, b := range olds {
				if atEnd[b.Name()] != 0 {
					t.Errorf("in the last 500ms: served %v, want no old instance, %s included", atEnd, b.Name())
				}
			}
			t.Logf("%d calls, %d failed; each ordered stop took %v; served overall %v, in the last 500ms %v",
				len(calls), len(failures(calls)), stopTimes, servedBy(calls), atEnd)
		})
	}
}
