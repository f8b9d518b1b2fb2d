package main

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shopmesh/shopmesh/paysim"
	"github.com/shopmesh/shopmesh/pkg/platform/bootstrap"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle"
	"github.com/shopmesh/shopmesh/pkg/platform/lifecycle/runtest"
	"github.com/shopmesh/shopmesh/pkg/platform/postgres/pgtest"
	"github.com/shopmesh/shopmesh/pkg/platform/settings"
)

// pgtest.Main also removes the Postgres container and checks for leaked
// goroutines.
func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func env(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

// required is the least configuration readConfig accepts.
func required() map[string]string {
	return map[string]string{"PSP_URL": "https://psp.example"}
}

func TestReadConfig(t *testing.T) {
	t.Parallel()

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c, err := settings.Read(env(required()), readConfig)
		if err != nil {
			t.Fatalf("readConfig: %v", err)
		}
		if c.PSPTimeout != 3*time.Second || c.PSPRetryAttempts != 3 || c.PSPBreakerFailureRatio != 0.8 || c.PSPBreakerOpenFor != 10*time.Second {
			t.Errorf("got %+v, want timeout 3s, 3 attempts, breaker at 80%% failures / 10s", c)
		}
	})

	t.Run("PSP_URL is required and named", func(t *testing.T) {
		t.Parallel()
		_, err := settings.Read(env(nil), readConfig)
		if err == nil || !strings.Contains(err.Error(), "PSP_URL is required") {
			t.Errorf("got %v, want an error saying PSP_URL is required", err)
		}
	})

	t.Run("a provider timeout that does not nest in payment.Charge's budget is refused, with the budgets named", func(t *testing.T) {
		t.Parallel()
		kv := required()
		kv["PSP_TIMEOUT"] = "3500ms"
		_, err := settings.Read(env(kv), readConfig)
		if err == nil {
			t.Fatal("PSP_TIMEOUT 3.5s: got no error")
		}
		for _, want := range []string{"PSP_TIMEOUT 3.5s", "payment.Charge's budget of 5s", "lookup (1s)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("got %q, want it to say %q", err, want)
			}
		}
	})

	t.Run("invalid values", func(t *testing.T) {
		t.Parallel()
		for _, kv := range []map[string]string{
			{"PSP_TIMEOUT": "soon"},
			{"PSP_TIMEOUT": "5s"},
			{"PSP_TIMEOUT": "0s"},
			{"PSP_RETRY_ATTEMPTS": "0"},
			{"PSP_RETRY_ATTEMPTS": "many"},
			{"PSP_BREAKER_FAILURES": "5"}, // replaced by the ratio: refused, not ignored
			{"PSP_BREAKER_FAILURE_RATIO": "0"},
			{"PSP_BREAKER_FAILURE_RATIO": "1.5"},
			{"PSP_BREAKER_FAILURE_RATIO": "most"},
			{"PSP_BREAKER_OPEN_FOR": "-1s"},
		} {
			for k, v := range required() {
				kv[k] = v
			}
			if _, err := settings.Read(env(kv), readConfig); err == nil {
				t.Errorf("%v: got no error", kv)
			}
		}
	})
}

func TestRun_MissingDatabaseURL(t *testing.T) {
	t.Parallel()
	err := bootstrap.Run(t.Context(), service, []string{"payment"}, env(map[string]string{
		"PSP_URL": "http://127.0.0.1:1", "DEV_PLAINTEXT": "true", "PEER_TARGETS": "none=dns:///none:1",
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
	}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is required") {
		t.Errorf("got %v, want an error saying DATABASE_URL is required", err)
	}
}

// TestRun starts the service on a fresh database, waits until /readyz says
// ready, checks that the migrations ran, and stops it.
func TestRun(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	sim, err := paysim.New("key", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	psp := httptest.NewServer(sim.Handler())
	defer psp.Close()

	ctx := t.Context()
	proc := runtest.Start(t, func(ctx context.Context, stdout io.Writer) error {
		return bootstrap.Run(ctx, service, []string{"payment"}, env(map[string]string{
			"DATABASE_URL": dsn, "PSP_URL": psp.URL, "PSP_API_KEY": "key",
			"DEV_PLAINTEXT": "true", "PEER_TARGETS": "none=dns:///none:1",
			"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0",
			"PROPAGATION_DELAY": "0s",
		}), stdout)
	})
	if err := lifecycle.Probe(ctx, proc.AdminAddr); err != nil {
		t.Errorf("readiness: %v", err)
	}

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM payments`).Scan(&n); err != nil {
		t.Errorf("payments table: %v (migrations not applied?)", err)
	}

	proc.Stop(t)
}
