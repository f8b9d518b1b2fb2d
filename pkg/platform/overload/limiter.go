package overload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

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

// standingWait is how long new work waits for a permit while the queue
// stands (Options.StandingAfter).
const standingWait = 5 * time.Millisecond

// Options configures a Limiter. The zero value is valid.
type Options struct {
	// Name names the server in metrics (e.g. "order").
	Name string
	// MaxWait bounds how long new work over the limit waits for a permit
	// (default 50ms: a burst passes, since the limits start high, and a
	// wait never adds more than a few saga steps to an admitted order's
	// latency; with 250ms, order's new sagas waited 61 ms at p90 at twice
	// the saturation rate). Continuing work waits as long as its deadline
	// allows. No call waits into the last MinBudget of its deadline.
	MaxWait time.Duration
	// StandingAfter (default 100ms) tells a burst from an overload: when no
	// call of a key has found a permit free for that long, its queue
	// stands, and new work waits at most a few milliseconds instead of
	// MaxWait (CoDel's rule, as in Facebook's "Fail at Scale"). A queue
	// that never drains only adds its wait to the latency of everything
	// admitted; refusing at once keeps the admitted fast and tells the
	// refused to come back.
	StandingAfter time.Duration
	// MinLimit, MaxLimit and InitialLimit bound each key's concurrency
	// limit (defaults 4, 200, 50). The minimum is what a server keeps
	// admitting while every core of its machine is busy: the latency its
	// limit follows then grows with the machine's load, not with what the
	// limit lets in, and at 2 permits a replica order confirmed fewer
	// orders a second than at 4 with the CPU as busy. The initial limit is
	// what a server lets in before it has measured anything: high enough
	// that a burst on an idle server passes (a saga holds its permit for
	// its whole own work, and a queue that outlasts MaxWait refuses), and
	// brought down within seconds once a quieter window shows what the work
	// takes.
	MinLimit, MaxLimit, InitialLimit int
	// Holds says which peer calls (by full gRPC method) count as this
	// server's own work, so a call keeps its permit while it waits for
	// them. Nil: none do, and a call gives its permit back while it waits
	// for any peer, as a server that only routes (the gateway) should. A
	// server that runs sagas (order) holds it across the peers that do its
	// work inside shopmesh (inventory), and gives it back only across calls
	// that wait on the outside world (payment, waiting on the provider).
	Holds func(method string) bool
	// Logger, if set, gets each limit change at debug level.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxWait <= 0 {
		o.MaxWait = 50 * time.Millisecond
	}
	if o.StandingAfter <= 0 {
		o.StandingAfter = 100 * time.Millisecond
	}
	if o.MinLimit <= 0 {
		o.MinLimit = 4
	}
	if o.MaxLimit <= 0 {
		o.MaxLimit = 200
	}
	if o.InitialLimit <= 0 {
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
	routes   sync.Map // key → *route
	rejected metric.Int64Counter
}

// route is one key's limit and when a call last found a permit free.
type route struct {
	lim    *adaptiveLimit
	freeAt atomic.Int64 // unix nanoseconds
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
	observe := func(name, desc string, value func(*adaptiveLimit) int) {
		_, _ = meter.Int64ObservableGauge(name, metric.WithDescription(desc),
			metric.WithInt64Callback(func(_ context.Context, o metric.Int64Observer) error {
				l.routes.Range(func(k, v any) bool {
					o.Observe(int64(value(v.(*route).lim)),
						metric.WithAttributes(attribute.String("server", opts.Name), attribute.String("route", k.(string))))
					return true
				})
				return nil
			}))
	}
	observe("shopmesh.overload.limit", "Current adaptive concurrency limit of each route", (*adaptiveLimit).limit)
	observe("shopmesh.overload.inflight", "Calls of each route holding a permit now", (*adaptiveLimit).inflight)
	observe("shopmesh.overload.queued", "Calls of each route waiting for a permit now", (*adaptiveLimit).queued)
	return l
}

func (l *Limiter) route(key string) *route {
	if v, ok := l.routes.Load(key); ok {
		return v.(*route)
	}
	r := &route{lim: newAdaptiveLimit(l.opts.MinLimit, l.opts.MaxLimit, l.opts.InitialLimit, time.Now)}
	if l.opts.Logger != nil {
		r.lim.logger = l.opts.Logger.With("server", l.opts.Name, "route", key)
	}
	r.freeAt.Store(time.Now().UnixNano())
	v, _ := l.routes.LoadOrStore(key, r)
	return v.(*route)
}

// Limit returns key's current concurrency limit (its initial one before
// any call).
func (l *Limiter) Limit(key string) int { return l.route(key).lim.limit() }

// Queued returns how many calls of key wait for a permit now.
func (l *Limiter) Queued(key string) int { return l.route(key).lim.queued() }

// Admit takes a permit for one call of key. New work waits at most MaxWait
// and only while the queue is short, and no more than a few milliseconds
// once the queue stands (Options.StandingAfter); continuing work (ctx
// marked by Continuing: the next step of something admitted earlier, such as an
// order's saga) waits longer and is refused only when the queue is very
// long, so what was started finishes before more is started. No call waits
// into the last MinBudget of its deadline. Admit fails with ErrOverloaded
// when the call is refused, with a context error when ctx ends first. The
// returned context carries the permit (for Yield and Fork); call Done when
// the call ends.
func (l *Limiter) Admit(ctx context.Context, key string) (context.Context, *Permit, error) {
	r := l.route(key)
	c := newWork
	if IsContinuing(ctx) {
		c = continuingWork
	}
	p, err := r.acquire(ctx, c, l.opts)
	if errors.Is(err, ErrOverloaded) {
		l.rejected.Add(ctx, 1, metric.WithAttributes(attribute.String("server", l.opts.Name), attribute.String("route", key)))
		return ctx, nil, fmt.Errorf("%s %s: %w", l.opts.Name, key, err)
	}
	if err != nil {
		return ctx, nil, err
	}
	permit := &Permit{r: r, p: p, opts: l.opts}
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

// acquire takes a permit of r: at once if one is free, else after a wait
// the call's class, the queue and the call's deadline allow.
func (r *route) acquire(ctx context.Context, c class, opts Options) (*grant, error) {
	lim := r.lim
	if lim.tryAcquire() {
		now := time.Now()
		r.freeAt.Store(now.UnixNano())
		return &grant{start: now}, nil
	}
	wait := opts.MaxWait
	switch {
	case c == newWork && lim.queued() >= newWorkQueue*lim.limit(),
		c == continuingWork && lim.queued() >= continuingWorkQueue*lim.limit():
		return nil, ErrOverloaded
	case c != newWork:
		wait = time.Duration(1 << 62)
	case time.Since(time.Unix(0, r.freeAt.Load())) > opts.StandingAfter:
		wait = min(wait, standingWait)
	}
	if left, ok := deadline.Left(ctx); ok {
		wait = min(wait, left-deadline.MinBudget)
	}
	if wait <= 0 {
		return nil, ErrOverloaded
	}
	// What is under way (continuing, resumed) goes ahead of new work: an
	// admitted saga waiting behind orders not yet started would make every
	// admitted order as slow as the queue is long.
	if err := lim.acquire(ctx, wait, c != newWork); err != nil {
		if errors.Is(err, errWaitExceeded) {
			return nil, ErrOverloaded
		}
		return nil, err
	}
	return &grant{start: time.Now()}, nil
}

// grant is a permit taken at start.
type grant struct{ start time.Time }

type permitKey struct{}

// Permit is one admitted call's share of the limit. It is held while the
// call does its own work and given back while it waits for peers (Yield).
type Permit struct {
	r    *route
	opts Options

	mu      sync.Mutex
	p       *grant        // nil while yielded
	own     time.Duration // permits held so far, for earlier parts of the call
	waiting int           // peer calls in flight
	done    bool
}

// Done ends the call: its permit, if held, goes back, and the time the call
// held permits (its own work, without its waits for peers) is one sample of
// the latency the limit follows.
func (p *Permit) Done() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.p != nil {
		p.own += time.Since(p.p.start)
		p.p = nil
		p.r.lim.release(p.own)
	} else if p.own > 0 {
		p.r.lim.measure(p.own)
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
	if !ok || method != "" && p.opts.Holds != nil && p.opts.Holds(method) {
		return func() {}
	}
	p.mu.Lock()
	if !p.done {
		p.waiting++
		if p.waiting == 1 {
			p.release()
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
	got, err := p.r.acquire(ctx, resumedWork, p.opts)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err != nil:
	case p.done || p.waiting > 0 || p.p != nil:
		p.r.lim.release(0) // the call ended, or waits again, meanwhile
	default:
		p.p = got
	}
}

// release gives back the permit, if held, and adds the time it was held to
// the call's own work; p.mu is held.
func (p *Permit) release() {
	if p.p != nil {
		p.own += time.Since(p.p.start)
		p.r.lim.release(0)
		p.p = nil
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
	moved := &Permit{r: old.r, opts: old.opts, p: old.p, own: old.own, done: old.done}
	old.p, old.own, old.done = nil, 0, true
	return context.WithValue(ctx, permitKey{}, moved), moved.Done
}
