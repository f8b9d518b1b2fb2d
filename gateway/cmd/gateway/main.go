// Command gateway is shopmesh's public REST API (gin), calling inventory
// and order over mTLS gRPC.
package main

import (
	"context"
	"net/http"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
)

func main() { bootstrap.Main(service) }

// service is the gateway as the platform runs it.
var service = bootstrap.Service[config]{
	Name: "gateway", API: bootstrap.API{Budgets: api.Budgets, Idempotent: retries()},
	Config: readConfig, Wire: wire,
}

// retries are the methods the gateway lets gRPC repeat when the callee was
// UNAVAILABLE: pkg/api's idempotent methods, except order's PlaceOrder and
// CancelOrder. Their client repeats those with the same key (the REST
// API's contract); a repeat made here would hide an attempt cut off while
// order worked, and a refusal of the repeat would then be answered 503,
// "nothing was done", for an order the first attempt created.
func retries() map[string][]string {
	out := map[string][]string{}
	for peer, methods := range api.Idempotent {
		for _, m := range methods {
			if full := "/" + m; full != api.OrderPlaceOrder && full != api.OrderCancelOrder {
				out[peer] = append(out[peer], m)
			}
		}
	}
	return out
}

// peers are the services the gateway calls; it is ready only when each has
// at least one known instance.
var peers = []string{"inventory", "order"}

// config is the gateway's own configuration, beside bootstrap.Config.
type config struct {
	// RequestTimeout (REQUEST_TIMEOUT, default 10s) is the budget of one
	// request. It must hold the longest call a request contains plus the
	// time the gateway keeps to answer (seed rule 4: budgets nest).
	RequestTimeout time.Duration
	// RateLimitRPS (RATE_LIMIT_RPS, default 20) and RateLimitBurst
	// (RATE_LIMIT_BURST, default 40) are each client's budget.
	RateLimitRPS   float64
	RateLimitBurst int
	Auth           auth.Config // JWT_SIGNING_KEY, JWT_ISSUER, JWT_AUDIENCE
	// DevSignIn (DEV_SIGNIN, default false) serves the dev sign-in, which
	// mints tokens for the storefront's demo accounts; refused unless
	// JWT_ISSUER is the dev issuer.
	DevSignIn bool
}

func readConfig(s *settings.Reader) config {
	c := config{
		RequestTimeout: s.Duration("REQUEST_TIMEOUT", 10*time.Second),
		RateLimitRPS:   s.Float("RATE_LIMIT_RPS", 20),
		RateLimitBurst: s.Int("RATE_LIMIT_BURST", 40),
		Auth:           auth.ReadConfig(s),
		DevSignIn:      s.Bool("DEV_SIGNIN", false),
	}
	err := httpapi.CheckDevSignIn(c.DevSignIn, c.Auth.Issuer)
	s.Check(err == nil, "%v", err)
	need := max(api.PlaceOrderBudget, api.CancelOrderBudget) + api.AnswerBudget
	s.Check(c.RequestTimeout >= need,
		"REQUEST_TIMEOUT %v: must be at least %v, order.PlaceOrder's budget of %v (pkg/api/budgets.go) and %v to answer, or every order slower than the request would fail instead of being accepted",
		c.RequestTimeout, need, api.PlaceOrderBudget, api.AnswerBudget)
	s.Check(c.RateLimitRPS > 0, "RATE_LIMIT_RPS %v: must be positive", c.RateLimitRPS)
	s.Check(c.RateLimitBurst >= 1, "RATE_LIMIT_BURST %d: must be at least 1", c.RateLimitBurst)
	return c
}

// wire builds the REST API over the shared connections to its peers.
func wire(ctx context.Context, p *bootstrap.Process, own config) (bootstrap.Parts, error) {
	handler, err := newHandler(p, httpapi.Config{
		RequestTimeout: own.RequestTimeout, Auth: own.Auth, RateLimitRPS: own.RateLimitRPS, RateLimitBurst: own.RateLimitBurst,
		// The gateway routes: its permit covers its own work, and order,
		// which bounds the sagas, refuses orders beyond capacity; the
		// throttle then refuses them here, before they cost order anything.
		Limiter: p.Limiter(nil), Throttle: p.Throttle(), DevSignIn: own.DevSignIn,
	})
	if err != nil {
		return bootstrap.Parts{}, err
	}
	if own.DevSignIn {
		p.Logger.WarnContext(ctx, "DEV_SIGNIN is set: POST /v1/dev/signin mints a token for any demo account; never use this outside development")
	}
	srv := lifecycle.HTTPServer{Server: &http.Server{
		Handler: handler,
		// Timeouts on the public server itself, so a slow client cannot
		// hold a connection forever.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      own.RequestTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
	}}
	// Not registered: clients reach the gateway from outside, not through
	// etcd.
	return bootstrap.Parts{
		Server: srv,
		Ready:  func(ctx context.Context) error { return p.PeersReady(ctx, peers...) },
	}, nil
}

func newHandler(p *bootstrap.Process, cfg httpapi.Config) (http.Handler, error) {
	invConn, err := p.Conns.Get("inventory")
	if err != nil {
		return nil, err
	}
	orderConn, err := p.Conns.Get("order")
	if err != nil {
		return nil, err
	}
	api, err := httpapi.New(inventoryv1.NewInventoryServiceClient(invConn), orderv1.NewOrderServiceClient(orderConn), p.Logger, cfg)
	if err != nil {
		return nil, err
	}
	return api.Handler(), nil
}
