// Command payment charges and refunds orders through the payment provider.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	paymentv1 "github.com/shopmesh/shopmesh/pkg/api/payment/v1"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/httpclient"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"

	"github.com/shopmesh/shopmesh/payment/internal/grpcapi"
	"github.com/shopmesh/shopmesh/payment/internal/memstore"
	"github.com/shopmesh/shopmesh/payment/internal/payment"
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
	PSPURL     string        // PSP_URL: base URL of the payment provider, required
	PSPAPIKey  string        // PSP_API_KEY: bearer key sent to the provider
	PSPCAFile  string        // PSP_CA_FILE: CA bundle to trust for the provider (default: the system roots)
	PSPTimeout time.Duration // PSP_TIMEOUT: whole-request timeout towards the provider, default 3s
}

func loadConfig(getenv func(string) string) (config, error) {
	c := config{PSPURL: getenv("PSP_URL"), PSPAPIKey: getenv("PSP_API_KEY"), PSPCAFile: getenv("PSP_CA_FILE")}
	var err error
	if c.PSPTimeout, err = bootstrap.ParseDuration(getenv("PSP_TIMEOUT"), 3*time.Second); err != nil {
		return config{}, fmt.Errorf("PSP_TIMEOUT: %w", err)
	}
	if c.PSPURL == "" {
		return config{}, errors.New("PSP_URL is required")
	}
	if c.PSPTimeout <= 0 || c.PSPTimeout > 3*time.Second {
		// DESIGN.md: the provider's client times out within 3s in total, so
		// a hung provider cannot hold an order's whole budget.
		return config{}, fmt.Errorf("PSP_TIMEOUT %v: must be in (0, 3s]", c.PSPTimeout)
	}
	return c, nil
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
// a signal arrives.
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
	p, err := bootstrap.Start(ctx, cfg, stdout, getenv)
	if err != nil {
		return err
	}
	svc, err := newService(own, pspTLS)
	if err != nil {
		p.Abort(ctx)
		return err
	}
	srv := p.NewGRPCServer(grpcapi.AllowedCallers)
	paymentv1.RegisterPaymentServiceServer(srv.Server, grpcapi.New(svc))
	reg, err := p.Registrar()
	if err != nil {
		p.Abort(ctx)
		return err
	}
	return lifecycle.Run(ctx, p.App(srv, reg, nil))
}

// newService builds the domain with the provider's dedicated HTTP client.
func newService(cfg config, pspTLS *tls.Config) (*payment.Service, error) {
	hc, err := httpclient.New(httpclient.Options{Name: "psp", Timeout: cfg.PSPTimeout, TLSConfig: pspTLS})
	if err != nil {
		return nil, fmt.Errorf("provider http client: %w", err)
	}
	psp, err := pspclient.New(hc, cfg.PSPURL, cfg.PSPAPIKey)
	if err != nil {
		return nil, err
	}
	return payment.NewService(memstore.New(), psp)
}
