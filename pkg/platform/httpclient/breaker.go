package httpclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Breaker defaults, used for zero BreakerOptions fields.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenTimeout = 10 * time.Second
)

// ErrCircuitOpen is the error of a request the circuit breaker refused to
// send: the peer failed too often lately, and this client fails fast instead
// of adding to its load and to the caller's wait. The request did not leave
// this process, so its outcome is known: nothing happened at the peer.
// http.Client wraps it in a *url.Error; test for it with errors.Is.
var ErrCircuitOpen = errors.New("circuit breaker open: request not sent")

// errServerFailed marks a 5xx answer as a failure for the breaker; it never
// reaches the caller, who gets the response.
var errServerFailed = errors.New("server error status")

// BreakerOptions configures the circuit breaker of a client (Options.Breaker).
//
// The breaker counts each attempt: a transport error (refused, reset,
// timed out) and a 5xx answer are failures; any other answer, 4xx included,
// is a success, because the peer is up and saying no. A request whose
// context was canceled by its caller counts as neither.
type BreakerOptions struct {
	// ConsecutiveFailures opens the breaker when that many attempts fail in
	// a row. Zero means DefaultBreakerFailures.
	ConsecutiveFailures uint32
	// OpenTimeout is how long the breaker stays open, refusing every request
	// with ErrCircuitOpen, before it lets trial requests through
	// (half-open). Zero means DefaultBreakerOpenTimeout.
	OpenTimeout time.Duration
	// HalfOpenRequests is how many trial requests may be in flight while
	// half-open; that many successes close the breaker, one failure opens
	// it again. Zero means 1.
	HalfOpenRequests uint32
	// OnStateChange, if set, is called on every transition ("closed",
	// "open", "half-open"), for example to log it. It runs under the
	// breaker's lock: it must be quick and must not use the client.
	OnStateChange func(from, to string)
}

func (o BreakerOptions) withDefaults() (BreakerOptions, error) {
	if o.OpenTimeout < 0 {
		return o, fmt.Errorf("Breaker.OpenTimeout is negative (%v)", o.OpenTimeout)
	}
	if o.ConsecutiveFailures == 0 {
		o.ConsecutiveFailures = DefaultBreakerFailures
	}
	if o.OpenTimeout == 0 {
		o.OpenTimeout = DefaultBreakerOpenTimeout
	}
	if o.HalfOpenRequests == 0 {
		o.HalfOpenRequests = 1
	}
	return o, nil
}

// breakerTransport sends a request only while the breaker allows it and
// reports each outcome back.
type breakerTransport struct {
	next http.RoundTripper
	cb   *gobreaker.TwoStepCircuitBreaker[struct{}]
}

func newBreaker(name string, o BreakerOptions, next http.RoundTripper) *breakerTransport {
	failures := o.ConsecutiveFailures
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: o.HalfOpenRequests,
		Timeout:     o.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		// The caller gave up: that says nothing about the peer.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	}
	if o.OnStateChange != nil {
		st.OnStateChange = func(_ string, from, to gobreaker.State) { o.OnStateChange(from.String(), to.String()) }
	}
	return &breakerTransport{next: next, cb: gobreaker.NewTwoStepCircuitBreaker[struct{}](st)}
}

// RoundTrip implements http.RoundTripper.
func (b *breakerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		// Already over: neither send it nor let it count against the peer.
		return nil, err
	}
	done, err := b.cb.Allow()
	if err != nil {
		// gobreaker says "open" or "too many requests" (half-open, trial
		// slots taken); to the caller both mean the same thing.
		return nil, fmt.Errorf("%s %s: %w (%v)", req.Method, req.URL.Redacted(), ErrCircuitOpen, err)
	}
	resp, err := b.next.RoundTrip(req)
	switch {
	case err != nil:
		done(err)
	case resp.StatusCode >= 500:
		done(errServerFailed)
	default:
		done(nil)
	}
	return resp, err
}
