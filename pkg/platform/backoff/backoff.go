// Package backoff is how long shopmesh waits before trying again: after a
// failed registration, a failed provider request, a saga step whose peer
// did not answer.
//
// The wait doubles with each failure in a row up to a cap, then a random
// point in its upper half is taken. The jitter keeps a fleet that failed
// together (etcd or a peer went away) from coming back in lockstep; keeping
// the lower half out keeps the wait growing.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Delay is the wait after the n-th failure in a row (n ≥ 1): first, doubled
// per further failure up to ceiling, then a random point in [d/2, d].
func Delay(first, ceiling time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1) //nolint:gosec // G404: jitter spreads retries; nothing secret is drawn
}

// Sleep waits d or until ctx ends; it reports whether the full wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
