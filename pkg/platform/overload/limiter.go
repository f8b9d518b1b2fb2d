package overload

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/failsafe-go/failsafe-go/adaptivelimiter"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/shopmesh/shopmesh/pkg/platform/deadline"
)

// ErrOverloaded is the error of a call refused because its server is at
// capacity: nothing was done, and the same call may succeed after
// RetryAfter.
var ErrOverloaded = errors.New("overloaded: refused before any work was done; retry later")

// RetryAfter is what a refused caller is told to wait before trying again.
const RetryAfter = time.Second

// Options configures a Limiter. The zero value is valid.
type Options struct {
	// Name names the server in metrics (e.g. "order").
	Name string
	// MaxWait bounds how long a call over the limit waits for a permit
	// (default 50ms); a call also never waits into the last MinBudget of
	// its deadline.
	MaxWait time.Duration
	// MinLimit, MaxLimit and InitialLimit bound each route's concurrency
	// limit (defaults 2, 200, 20).
	MinLimit, MaxLimit, InitialLimit uint
}

func (o Options) withDefaults() Options {
	if o.MaxWait <= 0 {
		o.MaxWait = 50 * time.Millisecond
	}
	if o.MinLimit == 0 {
		o.MinLimit = 2
	}
	if o.MaxLimit == 0 {
		o.MaxLimit = 200
	}
	if o.InitialLimit == 0 {
		o.InitialLimit = 20
	}
	o.InitialLimit = min(max(o.InitialLimit, o.MinLimit), o.MaxLimit)
	return o
}

// Limiter holds one adaptive limiter per key (a route or a gRPC method),
// created on first use. It is safe for concurrent use.
type Limiter struct {
	opts     Options
	limiters sync.Map // key → adaptivelimiter.AdaptiveLimiter[any]
	rejected metric.Int64Counter
}

// New returns a Limiter.
func New(opts Options) *Limiter {
	opts = opts.withDefaults()
	l := &Limiter{opts: opts}
	meter := otel.Meter("github.com/shopmesh/shopmesh/pkg/platform/overload")
	// Instruments that cannot be created are not worth failing a server
	// over; the no-op ones keep the code path the same.
	l.rejected, _ = meter.Int64Counter("shopmesh.overload.rejected",
		metric.WithDescription("Calls refused by the adaptive concurrency limit"))
	_, _ = meter.Int64ObservableGauge("shopmesh.overload.limit",
		metric.WithDescription("Current adaptive concurrency limit of each route"),
		metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
			l.limiters.Range(func(k, v any) bool {
				o.Observe(int64(v.(adaptivelimiter.AdaptiveLimiter[any]).Limit()),
					metric.WithAttributes(attribute.String("server", opts.Name), attribute.String("route", k.(string))))
				return true
			})
			return nil
		}))
	return l
}

func (l *Limiter) limiter(key string) adaptivelimiter.AdaptiveLimiter[any] {
	if v, ok := l.limiters.Load(key); ok {
		return v.(adaptivelimiter.AdaptiveLimiter[any])
	}
	v, _ := l.limiters.LoadOrStore(key, adaptivelimiter.NewBuilder[any]().
		WithLimits(l.opts.MinLimit, l.opts.MaxLimit, l.opts.InitialLimit).
		// Queue up to twice the limit, refusing ever more of the queue
		// from there to four times: a burst passes, a flood does not.
		WithQueueing(2, 4).
		Build())
	return v.(adaptivelimiter.AdaptiveLimiter[any])
}

// Limit returns key's current concurrency limit (its initial one before
// any call).
func (l *Limiter) Limit(key string) int { return l.limiter(key).Limit() }

// Queued returns how many calls of key wait for a permit now.
func (l *Limiter) Queued(key string) int { return l.limiter(key).Queued() }

// Admit takes a permit for one call of key, waiting at most MaxWait, and
// never into the last MinBudget of ctx's deadline. It fails with
// ErrOverloaded when the limit and its queue are full, and with a context
// error when ctx ends first. The returned context carries the permit so
// that Yield can give it back early; call Done when the call ends.
func (l *Limiter) Admit(ctx context.Context, key string) (context.Context, *Permit, error) {
	wait := l.opts.MaxWait
	if left, ok := deadline.Left(ctx); ok {
		wait = min(wait, left-deadline.MinBudget)
	}
	if wait < 0 {
		wait = 0
	}
	p, err := l.limiter(key).AcquirePermitWithMaxWait(ctx, wait)
	switch {
	case errors.Is(err, adaptivelimiter.ErrExceeded):
		l.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("server", l.opts.Name), attribute.String("route", key)))
		return ctx, nil, fmt.Errorf("%s %s: %w", l.opts.Name, key, ErrOverloaded)
	case err != nil:
		return ctx, nil, err
	}
	permit := &Permit{p: p}
	return context.WithValue(ctx, permitKey{}, permit), permit, nil
}

type permitKey struct{}

// Permit is one admitted call's share of the limit.
type Permit struct {
	p    adaptivelimiter.Permit
	done atomic.Bool
}

// release gives the permit back once, recording how long the call's own
// work took.
func (p *Permit) release() {
	if p != nil && p.done.CompareAndSwap(false, true) {
		p.p.Record()
	}
}

// Done ends the call's permit if Yield has not already.
func (p *Permit) Done() { p.release() }

// Yield gives back the permit of the call ctx belongs to, if it still holds
// one: the call is about to wait for a peer, and from here its time is the
// peer's, bounded by the peer's budget and limiter. Calls after the first do
// nothing.
func Yield(ctx context.Context) {
	if p, ok := ctx.Value(permitKey{}).(*Permit); ok {
		p.release()
	}
}
