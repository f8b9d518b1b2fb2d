package overload

import (
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivethrottler"

	"github.com/shopmesh/shopmesh/pkg/platform/apperr"
)

// Throttle refuses new work while the peers it depends on refuse work for
// overload: it carries their backpressure to where work enters. Order uses
// one: when inventory or payment turn a saga's steps away, order turns new
// orders away (before creating them) in proportion, instead of starting
// sagas that would wait on those peers until their budget ran out. It is
// client-side throttling as in Google's SRE book, by failsafe-go's adaptive
// throttler.
type Throttle struct {
	t adaptivethrottler.AdaptiveThrottler[any]
}

// NewThrottle returns a Throttle that starts refusing once more than 10 %
// of the last 5 s's peer calls (at least 50: one burst is not overload)
// were refused for overload, never more than 90 % of new work. Its memory is
// short because it records only the calls it lets through: it forgets an
// overload 5 s after it ended.
func NewThrottle() *Throttle {
	return &Throttle{t: adaptivethrottler.NewBuilder[any]().
		WithFailureRateThreshold(0.1, 50, 5*time.Second).
		WithMaxRejectionRate(0.9).
		Build()}
}

// Allow reports whether new work may start now.
func (t *Throttle) Allow() bool { return t == nil || t.t.TryAcquirePermit() }

// Observe records the outcome of a call to a peer: refused for overload,
// or anything else (the peer took the work).
func (t *Throttle) Observe(err error) {
	if t == nil {
		return
	}
	if apperr.ReasonOf(err) == Reason {
		t.t.RecordFailure()
		return
	}
	t.t.RecordSuccess()
}
