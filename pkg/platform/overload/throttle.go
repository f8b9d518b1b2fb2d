package overload

import (
	"sync"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivethrottler"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// throttlePeriod is how far back a Throttle looks at its peers' answers.
const throttlePeriod = 5 * time.Second

// Throttle refuses new work while the peers it depends on refuse work for
// overload: it carries their backpressure to where work enters. Order uses
// one: when inventory or payment turn a saga's steps away, order turns new
// orders away (before creating them) in proportion, instead of starting
// sagas that would wait on those peers until their budget ran out. It is
// client-side throttling as in Google's SRE book, by failsafe-go's adaptive
// throttler.
type Throttle struct {
	period time.Duration

	mu   sync.Mutex
	t    adaptivethrottler.AdaptiveThrottler[any]
	last time.Time // of the latest Observe
}

// NewThrottle returns a Throttle that starts refusing once more than 10 %
// of the last 5 s's peer calls (at least 50: one burst is not overload)
// were refused for overload, never more than 90 % of new work. Its memory is
// short because it records only the calls it lets through: it forgets an
// overload 5 s after it ended.
func NewThrottle() *Throttle { return newThrottle(throttlePeriod) }

func newThrottle(period time.Duration) *Throttle {
	return &Throttle{period: period, t: newThrottler(period), last: time.Now()}
}

func newThrottler(period time.Duration) adaptivethrottler.AdaptiveThrottler[any] {
	return adaptivethrottler.NewBuilder[any]().
		WithFailureRateThreshold(0.1, 50, period).
		WithMaxRejectionRate(0.9).
		Build()
}

// Allow reports whether new work may start now.
func (t *Throttle) Allow() bool {
	if t == nil {
		return true
	}
	t.mu.Lock()
	// failsafe-go ages its counts out only when an outcome is recorded, so
	// after a quiet period (or while every call in flight waits on a slow
	// provider) it would go on refusing for an overload long over. No
	// outcome for a whole period means nothing in it was refused.
	if time.Since(t.last) > t.period {
		t.t, t.last = newThrottler(t.period), time.Now()
	}
	th := t.t
	t.mu.Unlock()
	return th.TryAcquirePermit()
}

// Observe records the outcome of a call to a peer: refused for overload,
// or anything else (the peer took the work).
func (t *Throttle) Observe(err error) {
	if t == nil {
		return
	}
	t.mu.Lock()
	th := t.t
	t.last = time.Now()
	t.mu.Unlock()
	if apperr.ReasonOf(err) == Reason {
		th.RecordFailure()
		return
	}
	th.RecordSuccess()
}
