package main

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

func TestReadConfig(t *testing.T) {
	t.Parallel()

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		c, err := settings.Read(env(nil), readConfig)
		if err != nil {
			t.Fatalf("readConfig: %v", err)
		}
		if c.RecoveryAfter != 30*time.Second || c.RecoveryInterval != 10*time.Second || c.RecoveryMaxAttempts != 8 {
			t.Errorf("got %+v, want RECOVERY_AFTER 30s, RECOVERY_INTERVAL 10s and RECOVERY_MAX_ATTEMPTS 8", c)
		}
	})

	t.Run("a claim shorter than the saga's budget is refused, with the budget named", func(t *testing.T) {
		t.Parallel()
		_, err := settings.Read(env(map[string]string{"RECOVERY_AFTER": "8s"}), readConfig)
		if err == nil || !strings.Contains(err.Error(), "RECOVERY_AFTER 8s") || !strings.Contains(err.Error(), "order.PlaceOrder's budget of 9s") {
			t.Errorf("got %v, want RECOVERY_AFTER refused for not holding PlaceOrder's 9s budget", err)
		}
	})

	t.Run("invalid values", func(t *testing.T) {
		t.Parallel()
		for _, kv := range []map[string]string{
			{"RECOVERY_AFTER": "soon"},
			{"RECOVERY_AFTER": "0s"},
			{"RECOVERY_AFTER": "500ms"},
			{"RECOVERY_INTERVAL": "often"},
			{"RECOVERY_INTERVAL": "0s"},
			{"RECOVERY_INTERVAL": "-1s"},
			{"RECOVERY_MAX_ATTEMPTS": "many"},
			{"RECOVERY_MAX_ATTEMPTS": "0"},
			{"SHIPPING_RELAY_INTERVAL": "0s"},
			{"SHIPPING_RELAY_INTERVAL": "soon"},
		} {
			if _, err := settings.Read(env(kv), readConfig); err == nil {
				t.Errorf("%v: got no error", kv)
			}
		}
	})
}

// devEnv is the environment of a run without TLS or etcd; the peers'
// targets are never dialled unless an order is placed.
func devEnv(kv map[string]string) func(string) string {
	base := map[string]string{
		"DEV_PLAINTEXT": "true", "PEER_TARGETS": "inventory=dns:///127.0.0.1:1,payment=dns:///127.0.0.1:1,shipping=dns:///127.0.0.1:1",
		"LISTEN_ADDR": "127.0.0.1:0", "ADMIN_ADDR": "127.0.0.1:0", "PROPAGATION_DELAY": "0s",
	}
	for k, v := range kv {
		base[k] = v
	}
	return env(base)
}

func TestRun_MissingDatabaseURL(t *testing.T) {
	t.Parallel()
	err := bootstrap.Run(t.Context(), service, []string{"order"}, devEnv(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL is required") {
		t.Errorf("got %v, want an error saying DATABASE_URL is required", err)
	}
}

func TestRun_UnreachableDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err := bootstrap.Run(ctx, service, []string{"order"}, devEnv(map[string]string{
		"DATABASE_URL": "postgres://order:x@127.0.0.1:1/order?sslmode=disable",
	}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "order database") {
		t.Errorf("got %v, want an error about the order database", err)
	}
}

// TestRun starts the service on a fresh database, waits until /readyz says
// ready, checks that the migrations ran, and stops it: the recovery loop
// and the pool must be closed by then (goleak in TestMain).
func TestRun(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t)
	ctx := t.Context()
	proc := runtest.Start(t, func(ctx context.Context, stdout io.Writer) error {
		return bootstrap.Run(ctx, service, []string{"order"}, devEnv(map[string]string{
			"DATABASE_URL": dsn, "RECOVERY_INTERVAL": "50ms",
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
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM orders`).Scan(&n); err != nil {
		t.Errorf("orders table: %v (migrations not applied?)", err)
	}

	proc.Stop(t)
}
