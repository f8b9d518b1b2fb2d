// Command payment charges and refunds orders through the payment provider.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shopmesh/shopmesh/pkg/api"
	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/grpcx"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	platformpg "github.com/shopmesh/shopmesh/pkg/platform/postgres"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"

	"github.com/shopmesh/shopmesh/payment/internal/grpcapi"
	"github.com/shopmesh/shopmesh/payment/internal/payment"
	"github.com/shopmesh/shopmesh/payment/internal/postgres"
	"github.com/shopmesh/shopmesh/payment/internal/pspclient"
)

func main() { bootstrap.Main(service) }

// service is payment as the platform runs it.
var service = platformpg.Service(bootstrap.Service[config]{
	Name: "payment", API: bootstrap.API{Budgets: api.Budgets, Idempotent: api.Idempotent},
	Config: readConfig,
}, postgres.Migrations(), wire)

// config is payment's own configuration, beside bootstrap.Config.
type config struct {
	PSPURL     string        // PSP_URL: base URL of the payment provider, required
	PSPAPIKey  string        // PSP_API_KEY: bearer key sent to the provider
	PSPTimeout time.Duration // PSP_TIMEOUT: whole-request timeout towards the provider, retries included, default 3s
	// PSPTLS trusts PSP_CA_FILE, a CA bundle (paysim's dev CA), when it is
	// set, else the system roots.
	PSPTLS *tls.Config
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

func readConfig(s *settings.Reader) config {
	c := config{
		PSPURL:                 s.Required("PSP_URL", "https://psp.example"),
		PSPAPIKey:              s.String("PSP_API_KEY", ""),
		PSPTimeout:             s.Duration("PSP_TIMEOUT", 3*time.Second),
		PSPRetryAttempts:       s.Int("PSP_RETRY_ATTEMPTS", httpclient.DefaultRetryAttempts),
		PSPBreakerFailureRatio: s.Float("PSP_BREAKER_FAILURE_RATIO", httpclient.DefaultBreakerFailureRatio),
		PSPBreakerOpenFor:      s.Duration("PSP_BREAKER_OPEN_FOR", httpclient.DefaultBreakerOpenTimeout),
	}
	// A streak of failures opened the breaker for a merely flaky provider.
	s.Retired("PSP_BREAKER_FAILURES", "the breaker opens on a failure ratio (PSP_BREAKER_FAILURE_RATIO)")
	// Seed rule 4, budgets nest: the provider's timeout, the lookup after a
	// lost answer and payment's two records fit in payment.Charge's budget,
	// which fits in order.PlaceOrder's.
	s.Check(c.PSPTimeout > 0 && c.PSPTimeout <= api.ProviderTimeoutMax,
		"PSP_TIMEOUT %v: must be in (0, %v], so that with the lookup (%v) and two records (%v each) it fits in payment.Charge's budget of %v (pkg/api/budgets.go)",
		c.PSPTimeout, api.ProviderTimeoutMax, api.ProviderLookupBudget, api.RecordBudget, api.ChargeBudget)
	s.Check(c.PSPRetryAttempts >= 1 && c.PSPRetryAttempts <= 10, "PSP_RETRY_ATTEMPTS %d: must be in [1, 10]", c.PSPRetryAttempts)
	s.Check(c.PSPBreakerFailureRatio > 0 && c.PSPBreakerFailureRatio <= 1, "PSP_BREAKER_FAILURE_RATIO %v: must be in (0, 1]", c.PSPBreakerFailureRatio)
	s.Check(c.PSPBreakerOpenFor > 0, "PSP_BREAKER_OPEN_FOR %v: must be positive", c.PSPBreakerOpenFor)
	var err error
	c.PSPTLS, err = pspTLS(s.String("PSP_CA_FILE", ""))
	s.Check(err == nil, "%v", err)
	return c
}

// pspTLS trusts the CA bundle in caFile when given, else the system roots.
func pspTLS(caFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("PSP_CA_FILE: %w", err)
	}
	cfg.RootCAs = x509.NewCertPool()
	if !cfg.RootCAs.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("PSP_CA_FILE %s: no certificate found", caFile)
	}
	return cfg, nil
}

// wire builds the domain over the database and the provider's client, and
// returns the parts.
func wire(_ context.Context, p *bootstrap.Process, own config, db *pgxpool.Pool) (bootstrap.Parts, error) {
	store, err := postgres.New(db)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	hc, err := pspClient(own, p.Logger)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	psp, err := pspclient.New(hc, own.PSPURL, own.PSPAPIKey)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	svc, err := payment.NewService(store, psp)
	if err != nil {
		return bootstrap.Parts{}, err
	}
	srv := p.NewGRPCServer(grpcapi.AllowedCallers, grpcx.WithLimiter(p.Limiter(nil)))
	paymentv1.RegisterPaymentServiceServer(srv, grpcapi.New(svc))
	// Ready means the database answers (platformpg.Service checks it). The provider
	// is not asked: when it is down every replica is equally stuck, and the
	// breaker already makes calls fail fast; taking replicas out of
	// rotation would not help.
	return bootstrap.Parts{
		Server: srv, Register: true,
		Closers: []lifecycle.Closer{{Name: "provider connections", Close: func(context.Context) error { hc.CloseIdleConnections(); return nil }}},
	}, nil
}

// pspClient is the provider's dedicated HTTP client (DESIGN.md seed rule
// 3): total timeout ≤ 3s with retries inside it, pooled keep-alive
// transport, and a circuit breaker whose transitions are logged.
func pspClient(own config, logger *slog.Logger) (*http.Client, error) {
	hc, err := httpclient.New(httpclient.Options{
		Name: "psp", Timeout: own.PSPTimeout, TLSConfig: own.PSPTLS,
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
