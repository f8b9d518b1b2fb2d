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

// NewThrottle returns a Throttle that starts refusing once more than a third
// of the last 5 s's peer calls (at least 50: one burst is not overload) were
// refused for overload, and then lets through about 1.5 times the work its
// peers took, never refusing more than 90 % of new work. Its memory is short:
// with no peer answer for 5 s it forgets an overload.
//
// The rule is the SRE book's: refuse with probability
// (attempts - K·accepted) / (attempts + 1), where attempts counts every
// piece of new work, refused here or not. Counting only the calls it let
// through (failsafe-go's own bookkeeping) lets through the square root of
// offered × accepted instead: measured at four times the sustained rate,
// order then refused twice as many calls as it took, each costing a hop.
// K = 1.5 (not the book's 2) keeps what peers refuse at a third of what
// they are sent, and still recovers from a 90 % refusal within about 15 s
// once peers take everything again.
func NewThrottle() *Throttle { return newThrottle(throttlePeriod) }

func newThrottle(period time.Duration) *Throttle {
	return &Throttle{period: period, t: newThrottler(period), last: time.Now()}
}

func newThrottler(period time.Duration) adaptivethrottler.AdaptiveThrottler[any] {
	return adaptivethrottler.NewBuilder[any]().
		WithFailureRateThreshold(1.0/3, 50, period).
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
	// provider) it would go on refusing for an overload long over. No peer
	// answer for a whole period means nothing in it was refused.
	if time.Since(t.last) > t.period {
		t.t, t.last = newThrottler(t.period), time.Now()
	}
	th := t.t
	t.mu.Unlock()
	if th.TryAcquirePermit() {
		return true
	}
	// Work refused here counts as an attempt the peers did not take.
	th.RecordFailure()
	return false
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
