package httpapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// limiters holds one token bucket per client. Memory is bounded twice:
// buckets idle longer than idleAfter are swept, at most every sweepEvery,
// and when maxClients are tracked anyway the least recently seen goes. The
// sweep runs inside allow, so no goroutine needs an owner.
type limiters struct {
	rps        rate.Limit
	burst      int
	idleAfter  time.Duration
	sweepEvery time.Duration
	maxClients int

	mu        sync.Mutex
	clients   map[string]*client
	lastSweep time.Time
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiters(rps float64, burst, maxClients int) *limiters {
	return &limiters{
		rps: rate.Limit(rps), burst: burst,
		idleAfter: 10 * time.Minute, sweepEvery: time.Minute, maxClients: maxClients,
		clients: map[string]*client{},
	}
}

// allow takes a token for key, or says how long until one is free.
func (l *limiters) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.sweepEvery {
		l.sweep(now)
	}
	c, ok := l.clients[key]
	if !ok {
		if len(l.clients) >= l.maxClients {
			l.evictOldest()
		}
		c = &client{lim: rate.NewLimiter(l.rps, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	r := c.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets clients idle long enough that their bucket is full again
// anyway. Called with mu held.
func (l *limiters) sweep(now time.Time) {
	l.lastSweep = now
	for k, c := range l.clients {
		if now.Sub(c.seen) > l.idleAfter {
			delete(l.clients, k)
		}
	}
}

// evictOldest drops the least recently seen client. Called with mu held,
// only when the table is full, so its O(n) is paid rarely.
func (l *limiters) evictOldest() {
	var oldest string
	var at time.Time
	for k, c := range l.clients {
		if oldest == "" || c.seen.Before(at) {
			oldest, at = k, c.seen
		}
	}
	delete(l.clients, oldest)
}

func (l *limiters) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// rateLimit answers 429 with Retry-After when the client has used up its
// budget. The client is the token's subject when there is one (so a
// customer behind a shared NAT has their own budget), else the remote IP.
// It runs after authenticate, which charges refused tokens to the IP.
func (a *API) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		key := "ip:" + c.ClientIP()
		if id, ok := identity(c); ok {
			key = "sub:" + id.Subject
		}
		if a.admit(c, key) {
			c.Next()
		}
	}
}

// admit takes a token from key's bucket, or answers 429 and says false.
func (a *API) admit(c *gin.Context, key string) bool {
	ok, wait := a.limiters.allow(key, time.Now())
	if !ok {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		abortProblem(c, http.StatusTooManyRequests, "rate_limited", "too many requests: retry after the Retry-After seconds")
	}
	return ok
}
