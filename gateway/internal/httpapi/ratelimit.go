package httpapi

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// limiters holds one token bucket per client, in order of when each was last
// seen. Memory is bounded twice: buckets idle longer than idleAfter are
// forgotten (their bucket would be full again anyway), and when maxClients
// are tracked the least recently seen goes. Both take constant time per
// request: under load from many clients (every shopper of a busy shop) a
// scan of the table for each new one, under the one lock, was what the
// gateway spent its time on once the table was full.
type limiters struct {
	rps       rate.Limit
	burst     int
	idleAfter time.Duration

	mu      sync.Mutex
	clients *simplelru.LRU[string, *client] // least recently seen first out
}

type client struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiters(rps float64, burst, maxClients int) *limiters {
	clients, err := simplelru.NewLRU[string, *client](max(maxClients, 1), nil)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &limiters{rps: rate.Limit(rps), burst: burst, idleAfter: 10 * time.Minute, clients: clients}
}

// allow takes a token for key, or says how long until one is free.
func (l *limiters) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.forgetIdle(now)
	c, ok := l.clients.Get(key)
	if !ok {
		c = &client{lim: rate.NewLimiter(l.rps, l.burst)}
		l.clients.Add(key, c) // evicts the least recently seen when full
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

// forgetIdle drops the clients idle for longer than idleAfter, from the
// least recently seen on, stopping at the first that is not. Called with
// mu held.
func (l *limiters) forgetIdle(now time.Time) {
	for {
		key, c, ok := l.clients.GetOldest()
		if !ok || now.Sub(c.seen) <= l.idleAfter {
			return
		}
		l.clients.Remove(key)
	}
}

func (l *limiters) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.clients.Len()
}

// rateLimit answers 429 with Retry-After when the client has used up its
// budget. The client is the token's subject when there is one (so a
// customer behind a shared NAT has their own budget), else the remote
// address (clientNet). It runs after authenticate, which charges refused
// tokens to the address.
func (a *API) rateLimit() gin.HandlerFunc {
	return func(c *gin.Context) {
		key := "ip:" + clientNet(c.ClientIP())
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

// clientNet is the bucket of an address: an IPv4 address itself, an IPv6
// address its /64. One IPv6 host is usually given a whole /64 and can
// send from any of its 2^64 addresses, so keyed by address it would have a
// fresh budget for every request, and fill the client table on its own.
func clientNet(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil || addr.Unmap().Is4() {
		return ip
	}
	p, err := addr.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}
