// Command payment charges and refunds orders through the payment provider.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/shopmesh/shopmesh/pkg/api"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"

	"github.com/shopmesh/shopmesh/payment/internal/grpcapi"
	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/postgres"
	"github.com/shopmesh/shopmesh/payment/internal/pspclient"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "payment:", err)
		os.Exit(1)
	}
}

// config is payment's own configuration, beside bootstrap.Config.
type config struct {
	DatabaseURL string        // DATABASE_URL: the payment database (postgres:// URL), required
	PSPURL      string        // PSP_URL: base URL of the payment provider, required
	PSPAPIKey   string        // PSP_API_KEY: bearer key sent to the provider
	PSPCAFile   string        // PSP_CA_FILE: CA bundle to trust for the provider (default: the system roots)
	PSPTimeout  time.Duration // PSP_TIMEOUT: whole-request timeout towards the provider, retries included, default 3s
	// PSPRetryAttempts (PSP_RETRY_ATTEMPTS, default 3) bounds the attempts of
	// one provider request; only lookups and requests with an
	// Idempotency-Key are retried. 1 turns retries off.
	PSPRetryAttempts int
	// PSPBreakerFailureRatio (PSP_BREAKER_FAILURE_RATIO, default 0.8) is the
	// share of failed attempts (of at least 20 in 10s) that opens the
	// provider's circuit breaker…
	PSPBreakerFailureRatio float64
	// PSPBreakerOpenFor (PSP_BREAKER_OPEN_FOR, default 10s) …which then
	// refuses calls for this long before letting a trial through.
	PSPBreakerOpenFor time.Duration
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		DatabaseURL: getenv("DATABASE_URL"),
		PSPURL:      getenv("PSP_URL"), PSPAPIKey: getenv("PSP_API_KEY"), PSPCAFile: getenv("PSP_CA_FILE"),
	}
	var errs []error
	var err error
	if c.PSPTimeout, err = bootstrap.ParseDuration(getenv("PSP_TIMEOUT"), 3*time.Second); err != nil {
		errs = append(errs, fmt.Errorf("PSP_TIMEOUT: %w", err))
	}
	if c.PSPBreakerOpenFor, err = bootstrap.ParseDuration(getenv("PSP_BREAKER_OPEN_FOR"), httpclient.DefaultBreakerOpenTimeout); err != nil {
		errs = append(errs, fmt.Errorf("PSP_BREAKER_OPEN_FOR: %w", err))
	}
	c.PSPRetryAttempts = httpclient.DefaultRetryAttempts
	if s := getenv("PSP_RETRY_ATTEMPTS"); s != "" {
		if c.PSPRetryAttempts, err = strconv.Atoi(s); err != nil {
			errs = append(errs, fmt.Errorf("PSP_RETRY_ATTEMPTS=%q: want an integer", s))
		}
	}
	c.PSPBreakerFailureRatio = httpclient.DefaultBreakerFailureRatio
	if s := getenv("PSP_BREAKER_FAILURE_RATIO"); s != "" {
		if c.PSPBreakerFailureRatio, err = strconv.ParseFloat(s, 64); err != nil {
			errs = append(errs, fmt.Errorf("PSP_BREAKER_FAILURE_RATIO=%q: want a number", s))
		}
	}
	if getenv("PSP_BREAKER_FAILURES") != "" {
		// A streak of failures opened the breaker for a merely flaky
		// provider; refuse the old setting rather than ignore it.
		errs = append(errs, errors.New("PSP_BREAKER_FAILURES is no longer read: the breaker opens on a failure ratio (PSP_BREAKER_FAILURE_RATIO); unset it"))
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, err
	}
	return c, c.Validate()
}

// Validate checks the settings.
func (c config) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DATABASE_URL is required (e.g. postgres://payment:secret@postgres:5432/payment)"))
	}
	if c.PSPURL == "" {
		errs = append(errs, errors.New("PSP_URL is required"))
	}
	if c.PSPTimeout <= 0 || c.PSPTimeout > api.ProviderTimeoutMax {
		// Seed rule 4, budgets nest: the provider's timeout, the lookup
		// after a lost answer and payment's two records fit in
		// payment.Charge's budget, which fits in order.PlaceOrder's.
		errs = append(errs, fmt.Errorf("PSP_TIMEOUT %v: must be in (0, %v], so that with the lookup (%v) and two records (%v each) it fits in payment.Charge's budget of %v (pkg/api/budgets.go)",
			c.PSPTimeout, api.ProviderTimeoutMax, api.ProviderLookupBudget, api.RecordBudget, api.ChargeBudget))
	}
	if c.PSPRetryAttempts < 1 || c.PSPRetryAttempts > 10 {
		errs = append(errs, fmt.Errorf("PSP_RETRY_ATTEMPTS %d: must be in [1, 10]", c.PSPRetryAttempts))
	}
	if !(c.PSPBreakerFailureRatio > 0 && c.PSPBreakerFailureRatio <= 1) {
		errs = append(errs, fmt.Errorf("PSP_BREAKER_FAILURE_RATIO %v: must be in (0, 1]", c.PSPBreakerFailureRatio))
	}
	if c.PSPBreakerOpenFor <= 0 {
		errs = append(errs, fmt.Errorf("PSP_BREAKER_OPEN_FOR %v: must be positive", c.PSPBreakerOpenFor))
	}
	return errors.Join(errs...)
}

// pspTLS trusts PSP_CA_FILE when given (paysim's dev CA), else the system roots.
func (c config) pspTLS() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.PSPCAFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(c.PSPCAFile)
	if err != nil {
		return nil, fmt.Errorf("PSP_CA_FILE: %w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("PSP_CA_FILE %s: no certificate found", c.PSPCAFile)
	}
	return cfg, nil
}

// run wires the service from its environment and serves until ctx ends or
// a signal arrives. Tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if lifecycle.IsProbe(args) {
		return lifecycle.Probe(ctx, getenv("ADMIN_ADDR"))
	}
	cfg, err := bootstrap.LoadConfig("payment", getenv)
	if err != nil {
		return err
	}
	own, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config of payment: %w", err)
	}
	pspTLS, err := own.pspTLS()
	if err != nil {
		return err
	}
	p, err := bootstrap.Start(ctx, cfg, bootstrap.API{Budgets: api.Budgets, Idempotent: api.Idempotent}, stdout, getenv)
	if err != nil {
		return err
	}
	app, err := wire(ctx, p, own, pspTLS)
	if err != nil {
		p.Abort(ctx)
		return err
	}
	return lifecycle.Run(ctx, app)
}

// wire opens the database, builds the domain over it and the provider's
// client, and returns the app. On error it closes what it opened; the
// caller aborts the process.
func wire(ctx context.Context, p *bootstrap.Process, own config, pspTLS *tls.Config) (_ lifecycle.App, err error) {
	pool, err := platformpg.Open(ctx, platformpg.Config{DSN: own.DatabaseURL}, postgres.Migrations(), p.Logger)
	if err != nil {
		return lifecycle.App{}, fmt.Errorf("payment database: %w", err)
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	store, err := postgres.New(pool)
	if err != nil {
		return lifecycle.App{}, err
	}
	hc, err := pspClient(own, pspTLS, p.Logger)
	if err != nil {
		return lifecycle.App{}, err
	}
	psp, err := pspclient.New(hc, own.PSPURL, own.PSPAPIKey)
	if err != nil {
		return lifecycle.App{}, err
	}
	svc, err := payment.NewService(store, psp)
	if err != nil {
		return lifecycle.App{}, err
	}
	// A lost database connection is UNAVAILABLE to callers, not INTERNAL.
	srv := p.NewGRPCServer(grpcapi.AllowedCallers, grpcx.WithErrorClassifier(platformpg.Classify),
		grpcx.WithLimiter(p.Limiter(nil)))
	paymentv1.RegisterPaymentServiceServer(srv.Server, grpcapi.New(svc))
	reg, err := p.Registrar()
	if err != nil {
		return lifecycle.App{}, err
	}
	// Ready means the database answers. The provider is not asked: when it
	// is down every replica is equally stuck, and the breaker already makes
	// calls fail fast; taking replicas out of rotation would not help.
	ready := platformpg.Ready(pool)
	return p.App(srv, reg, ready,
		lifecycle.Closer{Name: "provider connections", Close: func(context.Context) error { hc.CloseIdleConnections(); return nil }},
		lifecycle.Closer{Name: "database pool", Close: func(context.Context) error { pool.Close(); return nil }},
	), nil
}

// pspClient is the provider's dedicated HTTP client (DESIGN.md seed rule
// 3): total timeout ≤ 3s with retries inside it, pooled keep-alive
// transport, and a circuit breaker whose transitions are logged.
func pspClient(own config, pspTLS *tls.Config, logger *slog.Logger) (*http.Client, error) {
	hc, err := httpclient.New(httpclient.Options{
		Name: "psp", Timeout: own.PSPTimeout, TLSConfig: pspTLS,
		// A provider may take most of PSP_TIMEOUT to answer a charge (it
		// talks to card networks): only the total bounds the wait.
		ResponseHeaderTimeout: own.PSPTimeout,
		Retry:                 &httpclient.RetryOptions{MaxAttempts: own.PSPRetryAttempts},
		Breaker: &httpclient.BreakerOptions{
			FailureRatio: own.PSPBreakerFailureRatio,
			OpenTimeout:  own.PSPBreakerOpenFor,
			OnStateChange: func(from, to string) {
				if to == "open" {
					logger.Warn("payment provider circuit breaker opened: calls fail fast", "from", from, "open_for", own.PSPBreakerOpenFor)
					return
				}
				logger.Info("payment provider circuit breaker", "from", from, "to", to)
			},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("provider http client: %w", err)
	}
	return hc, nil
}
