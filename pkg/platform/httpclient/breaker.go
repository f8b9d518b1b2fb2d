package httpclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/failsafe-go/failsafe-go/circuitbreaker"
)

// Breaker defaults, used for zero BreakerOptions fields. A peer that fails
// four attempts in five (of at least 20 in 10 s) is down for practical
// purposes; one that fails half of them is flaky, and retries still get
// most requests through, so the breaker stays closed for it.
const (
	DefaultBreakerFailureRatio = 0.8
	DefaultBreakerMinAttempts  = 20
	DefaultBreakerWindow       = 10 * time.Second
	DefaultBreakerOpenTimeout  = 10 * time.Second
	DefaultBreakerHalfOpen     = 3
)

// ErrCircuitOpen is the error of a request the circuit breaker refused to
// send: the peer failed too often lately, and this client fails fast instead
// of adding to its load and to the caller's wait. The request did not leave
// this process, so its outcome is known: nothing happened at the peer.
// http.Client wraps it in a *url.Error; test for it with errors.Is.
var ErrCircuitOpen = errors.New("circuit breaker open: request not sent")

// BreakerOptions configures the circuit breaker of a client (Options.Breaker).
//
// The breaker counts each attempt: a transport error (refused, reset,
// timed out) and a 5xx answer are failures; any other answer, 4xx included,
// is a success, because the peer is up and saying no. A request whose
// context was canceled by its caller says nothing about the peer and counts
// as neither (while half-open, as a failed trial, so the trial slot it
// took is not lost).
//
// It opens on a failure ratio over a rolling window, not on a streak: a
// peer that fails 30 % of attempts produces streaks of five every few
// hundred attempts, and a breaker that opened on them would fail every
// request for its whole OpenTimeout although retries would have succeeded.
type BreakerOptions struct {
	// FailureRatio opens the breaker when at least this share of the
	// attempts in the last Window failed. Zero means
	// DefaultBreakerFailureRatio.
	FailureRatio float64
	// MinAttempts is how many attempts Window must hold before the ratio
	// counts, so a few failures after a quiet spell do not open it. Zero
	// means DefaultBreakerMinAttempts.
	MinAttempts uint
	// Window is the rolling period the ratio is taken over. Zero means
	// DefaultBreakerWindow.
	Window time.Duration
	// OpenTimeout is how long the breaker stays open, refusing every request
	// with ErrCircuitOpen, before it lets trial requests through
	// (half-open). Zero means DefaultBreakerOpenTimeout.
	OpenTimeout time.Duration
	// HalfOpenRequests is how many trial requests half-open lets through;
	// that many successes close the breaker, one failure opens it again.
	// Zero means DefaultBreakerHalfOpen.
	HalfOpenRequests uint
	// OnStateChange, if set, is called on every transition ("closed",
	// "open", "half-open"), for example to log it. It must be quick and
	// must not use the client.
	OnStateChange func(from, to string)
}

func (o BreakerOptions) withDefaults() (BreakerOptions, error) {
	switch {
	case o.OpenTimeout < 0:
		return o, fmt.Errorf("Breaker.OpenTimeout is negative (%v)", o.OpenTimeout)
	case o.Window < 0:
		return o, fmt.Errorf("Breaker.Window is negative (%v)", o.Window)
	case o.FailureRatio < 0 || o.FailureRatio > 1:
		return o, fmt.Errorf("Breaker.FailureRatio %v is not in (0, 1]", o.FailureRatio)
	}
	if o.FailureRatio == 0 {
		o.FailureRatio = DefaultBreakerFailureRatio
	}
	if o.MinAttempts == 0 {
		o.MinAttempts = DefaultBreakerMinAttempts
	}
	if o.Window == 0 {
		o.Window = DefaultBreakerWindow
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = DefaultBreakerOpenTimeout
	}
	if o.HalfOpenRequests == 0 {
		o.HalfOpenRequests = DefaultBreakerHalfOpen
	}
	return o, nil
}

// breakerTransport sends a request only while the breaker allows it and
// reports each outcome back.
type breakerTransport struct {
	next http.RoundTripper
	cb   circuitbreaker.CircuitBreaker[any]
}

func newBreaker(o BreakerOptions, next http.RoundTripper) *breakerTransport {
	b := circuitbreaker.NewBuilder[any]().
		WithFailureRateThreshold(o.FailureRatio, o.MinAttempts, o.Window).
		WithDelay(o.OpenTimeout).
		WithSuccessThreshold(o.HalfOpenRequests)
	if o.OnStateChange != nil {
		b = b.OnStateChanged(func(e circuitbreaker.StateChangedEvent) {
			o.OnStateChange(stateName(e.OldState), stateName(e.NewState))
		})
	}
	return &breakerTransport{next: next, cb: b.Build()}
}

// stateName names a breaker state as the logs and OnStateChange do.
func stateName(s circuitbreaker.State) string {
	switch s {
	case circuitbreaker.OpenState:
		return "open"
	case circuitbreaker.HalfOpenState:
		return "half-open"
	}
	return "closed"
}

// RoundTrip implements http.RoundTripper.
func (b *breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		// Already over: neither send it nor let it count against the peer.
		return nil, err
	}
	if !b.cb.TryAcquirePermit() {
		return nil, fmt.Errorf("%s %s: %w (%s)", req.Method, req.URL.Redacted(), ErrCircuitOpen, stateName(b.cb.State()))
	}
	resp, err := b.next.RoundTrip(req)
	switch {
	case err != nil && errors.Is(req.Context().Err(), context.Canceled):
		// The caller gave up: that says nothing about the peer. A trial
		// slot must still be given back, and failing it is the only way.
		if b.cb.IsHalfOpen() {
			b.cb.RecordFailure()
		}
	case err != nil, resp.StatusCode >= 500:
		b.cb.RecordFailure()
	default:
		b.cb.RecordSuccess()
	}
	return resp, err
}
