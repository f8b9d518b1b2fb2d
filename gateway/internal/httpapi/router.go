package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
	"github.com/shopmesh/shopmesh/gateway/internal/storefront"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/overload"
)

// Config configures the API.
type Config struct {
	// RequestTimeout is the budget of one request across all its downstream
	// calls (default 10s).
	RequestTimeout time.Duration
	// MaxBodyBytes bounds a request body (default 64 KiB).
	MaxBodyBytes int64
	// RateLimitRPS and RateLimitBurst are each client's sustained request
	// rate and burst (default 20 and 40).
	RateLimitRPS   float64
	RateLimitBurst int
	// RateLimitClients bounds how many clients are tracked (default 100000).
	RateLimitClients int
	// Auth is the JWT key, issuer and audience (required; see
	// auth.Config.Validate).
	Auth auth.Config
	// Limiter is the adaptive concurrency limit in front of the routes
	// (nil: none). A request holds its permit for the gateway's own work.
	Limiter *overload.Limiter
	// Throttle refuses new orders here, before calling order, in
	// proportion to how often order refuses them for overload: a refusal
	// the gateway makes itself costs order nothing (nil: none).
	Throttle *overload.Throttle
	// DevSignIn serves POST /v1/dev/signin, which mints a short-lived
	// token for a demo account (DevAccounts) so the storefront can be used
	// without an identity provider. For the dev stack only: New refuses it
	// unless Auth.Issuer is the dev issuer.
	DevSignIn bool
}

// API holds the gateway's peers: the generated gRPC clients, built on the
// process's shared connections.
type API struct {
	inventory inventoryv1.InventoryServiceClient
	orders    orderv1.OrderServiceClient
	logger    *slog.Logger
	verifier  *auth.Verifier
	limiters  *limiters
	cfg       Config
}

// New returns the API. Tests pass fakes of the two clients.
func New(inv inventoryv1.InventoryServiceClient, orders orderv1.OrderServiceClient, logger *slog.Logger, cfg Config) (*API, error) {
	if inv == nil || orders == nil || logger == nil {
		return nil, errors.New("httpapi: inventory, orders and logger are required")
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.RateLimitRPS <= 0 {
		cfg.RateLimitRPS = 20
	}
	if cfg.RateLimitBurst <= 0 {
		cfg.RateLimitBurst = 40
	}
	if cfg.RateLimitClients <= 0 {
		cfg.RateLimitClients = 100_000
	}
	verifier, err := auth.NewVerifier(cfg.Auth)
	if err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	if err := CheckDevSignIn(cfg.DevSignIn, cfg.Auth.Issuer); err != nil {
		return nil, fmt.Errorf("httpapi: %w", err)
	}
	return &API{inventory: inv, orders: orders, logger: logger, verifier: verifier,
		limiters: newLimiters(cfg.RateLimitRPS, cfg.RateLimitBurst, cfg.RateLimitClients), cfg: cfg}, nil
}

// Handler returns the gin engine with every route.
func (a *API) Handler() http.Handler {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(
		// First, so every answer carries them, a panic's and a 404's too.
		secureHeaders(),
		a.recovery(),
		// otelgin continues an incoming traceparent or starts a trace.
		otelgin.Middleware("gateway"),
		a.correlate(),
		a.accessLog(),
		a.budget(),
		a.authenticate(),
		a.rateLimit(),
		a.limit(),
	)
	// ClientIP is the peer's address: no proxy's X-Forwarded-For is
	// trusted, or any client could pick its own rate-limit bucket.
	_ = r.SetTrustedProxies(nil)
	r.NoRoute(func(c *gin.Context) { abortProblem(c, http.StatusNotFound, "not_found", "no such route") })
	r.NoMethod(func(c *gin.Context) {
		abortProblem(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	})
	r.HandleMethodNotAllowed = true

	r.GET("/openapi.json", serveOpenAPI)
	// The storefront's pages, which call the routes below like any client.
	storefront.Register(r)
	v1 := r.Group("/v1")
	if a.cfg.DevSignIn {
		v1.POST("/dev/signin", a.devSignIn)
	}
	v1.GET("/products", a.listProducts)
	v1.GET("/products/:id", a.getProduct)
	// A customer sees only their own orders (DESIGN.md, "Gateway").
	orders := v1.Group("/orders", requireCaller())
	orders.POST("", a.placeOrder)
	orders.GET("", a.listOrders)
	orders.GET("/:id", a.getOrder)
	orders.POST("/:id/cancel", a.cancelOrder)
	admin := v1.Group("/admin", requireCaller(), requireRole("admin"))
	admin.POST("/products", a.createProduct)
	admin.PUT("/products/:id/stock", a.setStock)
	admin.GET("/orders/parked", a.listParkedOrders)
	admin.POST("/orders/:id/retry", a.retryOrder)
	admin.POST("/orders/:id/compensate", a.compensateOrder)
	return r
}

// securityHeaders are what every answer of the API carries: it serves JSON
// to programs, never pages, so no browser may sniff another type from it,
// frame it, run anything it contains, send a referrer on from it, or keep
// a copy of a customer's orders (OWASP's REST Security Cheat Sheet).
// Strict-Transport-Security belongs to whatever terminates TLS in front of
// the gateway (README, "REST API").
var securityHeaders = [][2]string{
	{"Cache-Control", "no-store"},
	{"Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
}

// secureHeaders sets securityHeaders before anything is written.
func secureHeaders() gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		for _, kv := range securityHeaders {
			h.Set(kv[0], kv[1])
		}
		c.Next()
	}
}

// recovery answers 500 for a handler that panicked.
func (a *API) recovery() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if p := recover(); p != nil {
				a.logger.ErrorContext(c.Request.Context(), "panic in handler", "panic", p, "path", c.Request.URL.Path)
				abortProblem(c, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		c.Next()
	}
}

// correlate returns traceparent and X-Request-Id on every response, so a
// client can quote either when something goes wrong.
func (a *API) correlate() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if id == "" || len(id) > 128 {
			var b [16]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Header("X-Request-Id", id)
		otel.GetTextMapPropagator().Inject(c.Request.Context(), propagation.HeaderCarrier(c.Writer.Header()))
		c.Next()
	}
}

// accessLog writes one line per request. A request refused before any work
// (429, or 503 at capacity) is logged at debug: in an overload the refusals
// outnumber the orders, and a line for each took the CPU the admitted
// orders needed (docs/deadlines.md); shopmesh.overload.rejected and
// otelgin's request metrics count them.
func (a *API) accessLog() gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		level := slog.LevelInfo
		if refused(c) {
			level = slog.LevelDebug
		}
		if !a.logger.Enabled(c.Request.Context(), level) {
			return
		}
		attrs := []any{"method", c.Request.Method, "route", c.FullPath(), "status", c.Writer.Status(),
			"duration_ms", time.Since(start).Milliseconds(), "request_id", c.Writer.Header().Get("X-Request-Id")}
		// What a peer said, which the client was not told (writeProblem).
		if detail := c.GetString(peerDetailKey); detail != "" {
			attrs = append(attrs, "peer_detail", detail)
		}
		a.logger.Log(c.Request.Context(), level, "http request", attrs...)
	}
}

// limit refuses a request beyond the adaptive concurrency limit of its
// route with 503 and Retry-After, before any work is done (DESIGN.md,
// Overload). It comes after authentication and the per-client rate limit,
// so neither strangers nor one greedy client take the capacity.
func (a *API) limit() gin.HandlerFunc {
	return func(c *gin.Context) {
		if a.cfg.Limiter == nil {
			c.Next()
			return
		}
		ctx, permit, err := a.cfg.Limiter.Admit(c.Request.Context(), c.Request.Method+" "+c.FullPath())
		if err != nil {
			// Overloaded, or the client left or its budget ran out while
			// queued: either way nothing was done.
			abortOverloaded(c)
			return
		}
		defer permit.Done()
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// abortOverloaded answers 503 with Retry-After for a request refused before
// any work was done.
func abortOverloaded(c *gin.Context) {
	markRefused(c)
	c.Header("Retry-After", strconv.Itoa(int(overload.RetryAfter/time.Second)))
	abortProblem(c, http.StatusServiceUnavailable, "overloaded", "the shop is at capacity; nothing was done: retry after Retry-After seconds")
}

// budget bounds the whole request; every downstream call derives from
// c.Request.Context(), so they all share this deadline and the client's
// cancellation.
func (a *API) budget() gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), a.cfg.RequestTimeout)
		defer cancel()
		c.Request = c.Request.WithContext(ctx)
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, a.cfg.MaxBodyBytes)
		c.Next()
	}
}
