package overload

import (
	"context"
	"errors"
	"fmt"
	"sync"
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

// Reason is the ErrorInfo reason a refusal carries across gRPC, so callers
// can tell it from other unavailability.
const Reason = "OVERLOADED"

// RetryAfter is what a refused caller is told to wait before trying again.
const RetryAfter = time.Second

// Queue bounds, as multiples of the current limit: new work waits (at most
// MaxWait) only while fewer than two limits' worth of calls queue, so a
// burst on an idle server is absorbed, not refused; continuing work (the
// next step of something already admitted) waits while fewer than twice
// that do.
const (
	newWorkQueue        = 2
	continuingWorkQueue = 4
)

// baselineWindows is how many of the limiter's sampling windows (a second
// or more each) its baseline latency averages over.
const baselineWindows = 120

// Options configures a Limiter. The zero value is valid.
type Options struct {
	// Name names the server in metrics (e.g. "order").
	Name string
	// MaxWait bounds how long new work over the limit waits for a permit
	// (default 250ms: a burst passes, and a refusal still comes long before
	// any budget ends). Continuing work waits as long as its deadline allows.
	// No call waits into the last MinBudget of its deadline.
	MaxWait time.Duration
	// MinLimit, MaxLimit and InitialLimit bound each key's concurrency
	// limit (defaults 1, 200, 50).
	MinLimit, MaxLimit, InitialLimit uint
	// Holds says which peer calls (by full gRPC method) count as this
	// server's own work, so a call keeps its permit while it waits for
	// them. Nil: none do, and a call gives its permit back while it waits
	// for any peer, as a server that only routes (the gateway) should. A
	// server that runs sagas (order) holds it across the peers that do its
	// work inside shopmesh (inventory), and gives it back only across calls
	// that wait on the outside world (payment, waiting on the provider).
	Holds func(method string) bool
}

func (o Options) withDefaults() Options {
	if o.MaxWait <= 0 {
		o.MaxWait = 250 * time.Millisecond
	}
	if o.MinLimit == 0 {
		o.MinLimit = 1
	}
	if o.MaxLimit == 0 {
		o.MaxLimit = 200
	}
	if o.InitialLimit == 0 {
		o.InitialLimit = 50
	}
	o.MaxLimit = max(o.MaxLimit, o.MinLimit)
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
	observe := func(name, desc string, value func(adaptivelimiter.AdaptiveLimiter[any]) int) {
		_, _ = meter.Int64ObservableGauge(name, metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				l.limiters.Range(func(k, v any) bool {
					o.Observe(int64(value(v.(adaptivelimiter.AdaptiveLimiter[any]))),
						metric.WithAttributes(attribute.String("server", opts.Name), attribute.String("route", k.(string))))
					return true
				})
				return nil
			}))
	}
	observe("shopmesh.overload.limit", "Current adaptive concurrency limit of each route",
		adaptivelimiter.AdaptiveLimiter[any].Limit)
	observe("shopmesh.overload.inflight", "Calls of each route holding a permit now",
		adaptivelimiter.AdaptiveLimiter[any].Inflight)
	observe("shopmesh.overload.queued", "Calls of each route waiting for a permit now",
		adaptivelimiter.AdaptiveLimiter[any].Queued)
	return l
}

func (l *Limiter) limiter(key string) adaptivelimiter.AdaptiveLimiter[any] {
	if v, ok := l.limiters.Load(key); ok {
		return v.(adaptivelimiter.AdaptiveLimiter[any])
	}
	v, _ := l.limiters.LoadOrStore(key, adaptivelimiter.NewBuilder[any]().
		WithLimits(l.opts.MinLimit, l.opts.MaxLimit, l.opts.InitialLimit).
		// The baseline is what the work takes when the server is not
		// overloaded: remember it for minutes, not seconds, or a sustained
		// overload becomes the new normal and the limit drifts up into it.
		WithBaselineWindow(baselineWindows).
		Build())
	return v.(adaptivelimiter.AdaptiveLimiter[any])
}

// Limit returns key's current concurrency limit (its initial one before
// any call).
func (l *Limiter) Limit(key string) int { return l.limiter(key).Limit() }

// Queued returns how many calls of key wait for a permit now.
func (l *Limiter) Queued(key string) int { return l.limiter(key).Queued() }

// Admit takes a permit for one call of key. New work waits at most MaxWait
// and only while the queue is short; continuing work (ctx marked by
// Continuing: the next step of something admitted earlier, such as an
// order's saga) waits longer and is refused only when the queue is very
// long, so what was started finishes before more is started. No call waits
// into the last MinBudget of its deadline. Admit fails with ErrOverloaded
// when the call is refused, with a context error when ctx ends first. The
// returned context carries the permit (for Yield and Fork); call Done when
// the call ends.
func (l *Limiter) Admit(ctx context.Context, key string) (context.Context, *Permit, error) {
	lim := l.limiter(key)
	c := newWork
	if IsContinuing(ctx) {
		c = continuingWork
	}
	p, err := acquire(ctx, lim, c, l.opts.MaxWait)
	if errors.Is(err, ErrOverloaded) {
		l.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("server", l.opts.Name), attribute.String("route", key)))
		return ctx, nil, fmt.Errorf("%s %s: %w", l.opts.Name, key, err)
	}
	if err != nil {
		return ctx, nil, err
	}
	permit := &Permit{lim: lim, p: p, maxWait: l.opts.MaxWait, holds: l.opts.Holds}
	return context.WithValue(ctx, permitKey{}, permit), permit, nil
}

// class is how a call waits for a permit.
type class int

const (
	// newWork waits briefly, and only while nothing else waits.
	newWork class = iota
	// continuingWork waits while the queue is not very long.
	continuingWork
	// resumedWork is a call this server already admitted taking its permit
	// back after a peer answered: it waits for as long as its deadline
	// allows, because refusing it would waste the work already done and
	// letting it go on without a permit would escape the limit.
	resumedWork
)

// acquire takes a permit of lim: at once if one is free, else after a
// wait the call's class and deadline allow.
func acquire(ctx context.Context, lim adaptivelimiter.AdaptiveLimiter[any], c class, maxWait time.Duration) (adaptivelimiter.Permit, error) {
	if p, ok := lim.TryAcquirePermit(); ok {
		return p, nil
	}
	wait := maxWait
	switch {
	case c == newWork && lim.Queued() >= newWorkQueue*lim.Limit(),
		c == continuingWork && lim.Queued() >= continuingWorkQueue*lim.Limit():
		return nil, ErrOverloaded
	case c != newWork:
		wait = time.Duration(1 << 62)
	}
	if left, ok := deadline.Left(ctx); ok {
		wait = min(wait, left-deadline.MinBudget)
	}
	if wait <= 0 {
		return nil, ErrOverloaded
	}
	p, err := lim.AcquirePermitWithMaxWait(ctx, wait)
	if errors.Is(err, adaptivelimiter.ErrExceeded) {
		return nil, ErrOverloaded
	}
	return p, err
}

type permitKey struct{}

// Permit is one admitted call's share of the limit. It is held while the
// call does its own work and given back while it waits for peers (Yield).
type Permit struct {
	lim     adaptivelimiter.AdaptiveLimiter[any]
	maxWait time.Duration
	holds   func(method string) bool

	mu      sync.Mutex
	p       adaptivelimiter.Permit // nil while yielded
	waiting int                    // peer calls in flight
	done    bool
}

// Done ends the call: its permit, if held, goes back, and the time since it
// was taken counts as the call's own work.
func (p *Permit) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.p != nil {
		p.p.Record()
		p.p = nil
	}
}

// Yield gives back the permit of the call ctx belongs to while it waits for
// a peer call of method ("" for a call outside shopmesh, such as the
// payment provider), unless the limiter counts that call as the server's
// own work (Options.Holds). The limit then measures and bounds only the
// work it is responsible for, and a slow outside system makes nobody
// shed. The returned function, called when the peer has answered, takes a
// permit again for the work that follows, waiting (never refused) as long
// as the call's deadline allows; without one by then the call goes on
// without. grpcx's client interceptor and the platform HTTP client call it
// around every peer call.
func Yield(ctx context.Context, method string) (resume func()) {
	p, ok := ctx.Value(permitKey{}).(*Permit)
	if !ok || method != "" && p.holds != nil && p.holds(method) {
		return func() {}
	}
	p.mu.Lock()
	if !p.done {
		p.waiting++
		if p.waiting == 1 && p.p != nil {
			p.p.Record()
			p.p = nil
		}
	}
	p.mu.Unlock()
	return func() { p.resume(ctx) }
}

func (p *Permit) resume(ctx context.Context) {
	p.mu.Lock()
	if p.done || p.waiting == 0 {
		p.mu.Unlock()
		return
	}
	p.waiting--
	take := p.waiting == 0
	p.mu.Unlock()
	if !take {
		return
	}
	got, err := acquire(ctx, p.lim, resumedWork, p.maxWait)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
	case p.done || p.waiting > 0 || p.p != nil:
		got.Drop() // the call ended, or waits again, meanwhile
	default:
		p.p = got
	}
}

type continuingKey struct{}

// Continuing marks ctx as carrying work admitted earlier, such as the steps
// of an order's saga: calls made with it are continuing work at every
// limiter they reach (grpcx carries the mark to peers in metadata), queued
// rather than refused, so an overloaded system finishes what it started and
// refuses new work instead.
func Continuing(ctx context.Context) context.Context {
	if IsContinuing(ctx) {
		return ctx
	}
	return context.WithValue(ctx, continuingKey{}, true)
}

// IsContinuing reports whether ctx carries continuing work.
func IsContinuing(ctx context.Context) bool {
	v, _ := ctx.Value(continuingKey{}).(bool)
	return v
}

// Handoff moves the permit of the call ctx belongs to onto work that goes
// on after the call has answered, such as order's saga running on in the
// background: the call's Done then gives nothing back, and the returned
// done does, when that work ends. The returned context carries the permit
// and is marked Continuing. A ctx that belongs to no call is only marked.
func Handoff(ctx context.Context) (_ context.Context, done func()) {
	ctx = Continuing(ctx)
	old, ok := ctx.Value(permitKey{}).(*Permit)
	if !ok {
		return ctx, func() {}
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	moved := &Permit{lim: old.lim, maxWait: old.maxWait, holds: old.holds, p: old.p, done: old.done}
	old.p, old.done = nil, true
	return context.WithValue(ctx, permitKey{}, moved), moved.Done
}
