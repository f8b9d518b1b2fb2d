// Command gateway is shopmesh's public REST API (gin), calling inventory
// and order over mTLS gRPC.
package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	inventoryv1 "github.com/shopmesh/shopmesh/pkg/api/inventory/v1"
	orderv1 "github.com/shopmesh/shopmesh/pkg/api/order/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"

	"github.com/shopmesh/shopmesh/gateway/internal/auth"
	"github.com/shopmesh/shopmesh/gateway/internal/httpapi"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// peers are the services the gateway calls; it is ready only when each has
// at least one registered instance.
var peers = []string{"inventory", "order"}

// run wires the gateway from its environment and serves until ctx ends or
// a signal arrives.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if lifecycle.IsProbe(args) {
		return lifecycle.Probe(ctx, getenv("ADMIN_ADDR"))
	}
	cfg, err := bootstrap.LoadConfig("gateway", getenv)
	if err != nil {
		return err
	}
	reqTimeout, err := requestTimeout(getenv)
	if err != nil {
		return err
	}
	rps, burst, err := rateLimit(getenv)
	if err != nil {
		return err
	}
	authCfg, err := auth.ConfigFromEnv(getenv)
	if err != nil {
		return fmt.Errorf("config of gateway: %w", err)
	}
	p, err := bootstrap.Start(ctx, cfg, bootstrap.API{Budgets: api.Budgets, Idempotent: api.Idempotent}, stdout, getenv)
	if err != nil {
		return err
	}
	handler, err := newHandler(p, httpapi.Config{
		RequestTimeout: reqTimeout, Auth: authCfg, RateLimitRPS: rps, RateLimitBurst: burst,
		// The gateway routes: its permit covers its own work, and order,
		// which bounds the sagas, refuses orders beyond capacity; the
		// throttle then refuses them here, before they cost order anything.
		Limiter: p.Limiter(nil), Throttle: p.Throttle(),
	})
	if err != nil {
		p.Abort(ctx)
		return err
	}
	srv := lifecycle.HTTPServer{Server: &http.Server{
		Handler: handler,
		// Timeouts on the public server itself, so a slow client cannot
		// hold a connection forever.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      reqTimeout + 5*time.Second,
		IdleTimeout:       120 * time.Second,
	}}
	ready := func(ctx context.Context) error { return p.PeersReady(ctx, peers...) }
	return lifecycle.Run(ctx, p.App(srv, nil, ready))
}

// requestTimeout reads REQUEST_TIMEOUT (default 10s), the budget of one
// request, and refuses one that cannot hold the longest call it contains
// plus the time the gateway keeps to answer (seed rule 4: budgets nest).
func requestTimeout(getenv func(string) string) (time.Duration, error) {
	d, err := bootstrap.ParseDuration(getenv("REQUEST_TIMEOUT"), 10*time.Second)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("config of gateway: REQUEST_TIMEOUT %q: want a positive duration", getenv("REQUEST_TIMEOUT"))
	}
	if need := max(api.PlaceOrderBudget, api.CancelOrderBudget) + api.AnswerBudget; d < need {
		return 0, fmt.Errorf("config of gateway: REQUEST_TIMEOUT %v: must be at least %v, order.PlaceOrder's budget of %v (pkg/api/budgets.go) and %v to answer, or every order slower than the request would fail instead of being accepted",
			d, need, api.PlaceOrderBudget, api.AnswerBudget)
	}
	return d, nil
}

// rateLimit reads RATE_LIMIT_RPS (default 20) and RATE_LIMIT_BURST
// (default 40), each client's budget.
func rateLimit(getenv func(string) string) (float64, int, error) {
	rps, burst := 20.0, 40
	if s := getenv("RATE_LIMIT_RPS"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil || !(v > 0) || math.IsInf(v, 0) {
			return 0, 0, fmt.Errorf("config of gateway: RATE_LIMIT_RPS %q: want a positive number", s)
		}
		rps = v
	}
	if s := getenv("RATE_LIMIT_BURST"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return 0, 0, fmt.Errorf("config of gateway: RATE_LIMIT_BURST %q: want a positive integer", s)
		}
		burst = v
	}
	return rps, burst, nil
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
