package discovery

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is how long to wait after the n-th failure in a row (n ≥ 1): first,
// doubled per failure up to max, then a random point in its upper half. The
// jitter keeps a fleet that lost etcd together from coming back in lockstep;
// keeping the lower half out keeps the wait growing.
func backoff(first, max time.Duration, n int) time.Duration {
	d := first
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d/2 + rand.N(d/2+1)
}

// sleep waits d or until ctx ends; it reports whether the full wait passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
